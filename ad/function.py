"""Function: the sixteen-line engine's idea, grown up.

An operation is a subclass of :class:`Function` with two methods, as in the
original engine: ``forward`` computes the result and ``backward`` says how a
gradient flows back to each input. Calling a Function on tensors computes the
result and, when some input requires a gradient, records a node of the graph
on the output tensor.
"""

from __future__ import annotations

import itertools
import threading
from contextlib import ContextDecorator
from types import MethodType
from typing import Any, ContextManager

import numpy as np

from .tensor import Tensor

_sequence = itertools.count()


class _GradMode(threading.local):
    recording = True
    saved: list[bool]

    def __init__(self) -> None:
        self.saved = []


_mode = _GradMode()     # per thread: a no_grad() block in one thread leaves the others recording
_open_blocks = 0        # no_grad/enable_grad blocks open in any thread; 0 means "recording"
_blocks_lock = threading.Lock()


class _SetRecording(ContextDecorator):
    """A reusable context manager (and decorator) that switches recording on or off."""

    def __init__(self, value: bool) -> None:
        self.value = value

    def __enter__(self) -> None:
        global _open_blocks
        _mode.saved.append(_mode.recording)
        _mode.recording = self.value
        with _blocks_lock:
            _open_blocks += 1

    def __exit__(self, *exc: object) -> None:
        global _open_blocks
        _mode.recording = _mode.saved.pop()
        with _blocks_lock:
            _open_blocks -= 1


def no_grad() -> ContextManager[None]:
    """Run a block without recording the graph (results do not require grad)."""
    return _SetRecording(False)


def enable_grad() -> ContextManager[None]:
    """Record the graph inside this block, even within :func:`no_grad`."""
    return _SetRecording(True)


def is_grad_enabled() -> bool:
    """Whether operations on tensors are being recorded right now (in this thread)."""
    return _mode.recording


class Function:
    """One differentiable operation.

    Subclasses write two methods:

    * ``forward(self, *arrays)``: numpy arrays (or plain numbers) in, one array out.
    * ``backward(self, *inputs, grad)``: the inputs again, then ``grad`` (the
      gradient of the loss with respect to the output) as the last positional
      argument, as in the original engine; return the gradient with respect to
      each input, one per input (``None`` where there is none).

    Two changes from the sixteen-line engine, each for a reason:

    * ``backward`` *returns* gradients instead of adding them to ``x.grad``.
      The engine then adds them up, sums away broadcasting and skips inputs that
      need no gradient, in one place instead of in every operation.
    * ``backward`` is written with operations that work on arrays and tensors
      alike (``*``, ``@``, ``.sum()``, ``np.exp``...). The engine passes arrays
      for an ordinary backward pass (fast, nothing recorded) and tensors for
      ``backward(create_graph=True)``, which records the backward pass itself
      so that it can be differentiated again. One rule serves both.

    A Function instance describes the operation (with parameters such as
    ``axis``). Each call that needs recording makes a node: a copy of the
    instance that also holds ``inputs``, their values ``arrays``, the
    ``output`` value, ``needs_input_grad`` (one flag per input; a rule may skip
    work for inputs that need no gradient) and ``sequence`` (the order of
    creation, which the backward pass walks newest first). So one instance can
    be called many times, and stored on a class as an operator
    (``Tensor.__matmul__ = MatMul()``), which the original engine intended and
    ``__get__`` makes work.
    """

    __slots__ = ("inputs", "arrays", "output", "needs_input_grad", "sequence")
    inputs: tuple[Any, ...]
    arrays: tuple[Any, ...]
    output: Any
    needs_input_grad: tuple[bool, ...]
    sequence: int
    name = "function"
    mismatch = "cannot be broadcast together"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            cls.name = cls.__name__.lower()

    def __get__(self, tensor: Any, owner: type | None = None) -> Any:
        return self if tensor is None else MethodType(self, tensor)

    def forward(self, *arrays: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def backward(self, *inputs_and_grad: Any) -> tuple[Any, ...]:
        raise NotImplementedError(f"{type(self).__name__} does not define backward()")

    def __call__(self, *inputs: Any) -> Tensor:
        arrays, needs = [], []
        constants_only, lists = True, False
        for x in inputs:
            if isinstance(x, Tensor):
                arrays.append(x.data)
                needs.append(x.requires_grad)
                constants_only = False
            else:
                arrays.append(x)
                needs.append(False)
                if type(x) is list or type(x) is tuple:
                    lists = True
        if lists:
            inputs = tuple(_as_input(x) for x in inputs)     # lists become float arrays
            arrays = [x.data if isinstance(x, Tensor) else x for x in inputs]
        try:
            data = self.forward(*arrays)
        except (ValueError, TypeError, IndexError) as error:
            raise _explain(self, arrays, error) from error
        if constants_only:
            data = Tensor(data).data        # a float array, however the constants came
        out = Tensor.__new__(Tensor)
        out.data = data
        out.grad = None
        out.name = None
        out._retains_grad = False
        if True in needs and (not _open_blocks or _mode.recording):
            node = object.__new__(type(self))
            if self.__dict__:
                node.__dict__.update(self.__dict__)
            node.inputs = inputs
            node.arrays = tuple(arrays)
            node.output = data
            node.sequence = next(_sequence)
            node.needs_input_grad = tuple(needs)
            out.requires_grad = True
            out._node = node
        else:
            out.requires_grad = False
            out._node = None
        return out

    def result(self, *inputs: Any) -> Any:
        """This call's forward result, for use in ``backward``.

        In an ordinary backward pass (arrays in) it is the saved result. When
        the backward pass is being recorded (tensors in) it is computed again as
        a recorded tensor, so that a second derivative sees how it depends on
        the inputs. The rule of ``tanh`` uses it: ``grad * (1 - z * z)``.
        """
        for x in inputs:
            if isinstance(x, Tensor):
                return self(*inputs)
        return self.output

    def apply(self, *inputs: Any) -> Any:
        """This operation on arrays (array out, nothing recorded) or on tensors (recorded)."""
        for x in inputs:
            if isinstance(x, Tensor):
                return self(*inputs)
        return self.forward(*inputs)

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in getattr(self, "__dict__", {}).items())
        return f"{type(self).__name__}({params})"


def _as_input(x: Any) -> Any:
    """A list or tuple given as an input becomes an array of floats; anything else stays."""
    if isinstance(x, (list, tuple)):
        return Tensor(x).data
    return x


def _describe(value: Any) -> str:
    shape = getattr(value, "shape", None)
    if shape is not None:
        return str(tuple(shape))
    if isinstance(value, (int, float, complex, np.number)):
        return "()"
    return type(value).__name__


def _explain(fn: Function, arrays: list[Any], error: Exception) -> Exception:
    """A clear error for a failed forward: the op, the input shapes, numpy's reason."""
    shapes = " and ".join(_describe(a) for a in arrays) or "no inputs"
    if isinstance(error, np.exceptions.AxisError):
        message = f"{fn.name}: bad axis for inputs of shape {shapes}"
    elif isinstance(error, ValueError) and len(arrays) >= 2:
        message = f"{fn.name}: shapes {shapes} {fn.mismatch}"
    else:
        message = f"{fn.name}: cannot apply to {shapes}"
    kind = next(k for k in (ValueError, TypeError, IndexError) if isinstance(error, k))
    return kind(f"{message} ({error})")

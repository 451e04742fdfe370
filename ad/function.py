"""Function: the sixteen-line engine's idea, grown up.

An operation is a subclass of :class:`Function` with two methods, as in the
original engine: ``forward`` computes the result and ``backward`` says how a
gradient flows back to each input. Calling a Function on tensors computes the
result and, when some input requires a gradient, records a node of the graph
on the output tensor.
"""

from __future__ import annotations

import itertools
from types import MethodType
from typing import Any

import numpy as np

from . import mode
from .mode import enable_grad, is_grad_enabled, no_grad
from .tensor import Tensor

__all__ = ["Function", "no_grad", "enable_grad", "is_grad_enabled"]

_sequence = itertools.count()
# "ad.ops", or the same module under another package name (a vendored copy)
_OPS_MODULE = __name__.rpartition(".")[0] + ".ops"


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

    The original contract still works where it can: ``forward`` may return a
    Tensor (unwrapped) or a number or list (made an array), and ``backward``
    may return its one gradient bare when there is one input, as a number, a
    list, an array or a tensor. Anything else (``None``, the wrong count or
    shape, complex numbers) is refused with an error that names the class.

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
    # The primitives of ad.ops are trusted to return float arrays and one gradient per
    # input; what any other subclass returns is checked, and explained when it is wrong.
    _trusted = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            cls.name = cls.__name__.lower()
        cls._trusted = cls.__module__ == _OPS_MODULE

    def __get__(self, tensor: Any, owner: type | None = None) -> Any:
        return self if tensor is None else MethodType(self, tensor)

    def forward(self, *arrays: Any) -> Any:
        """The result, computed from the inputs' values (arrays or numbers)."""
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def backward(self, *inputs_and_grad: Any) -> tuple[Any, ...]:
        """The inputs again, then the output's gradient: one gradient per input
        (``None`` where there is none), each of its input's shape."""
        raise NotImplementedError(f"{type(self).__name__} does not define backward()")

    def __call__(self, *inputs: Any) -> Tensor:
        arrays, needs = [], []
        constants_only, unusual = True, False
        for x in inputs:
            if isinstance(x, Tensor):
                arrays.append(x.data)
                needs.append(x.requires_grad)
                constants_only = False
            else:
                arrays.append(x)
                needs.append(False)
                if type(x) is not float and type(x) is not int:
                    unusual = True
        if unusual:     # lists become float arrays; complex data is refused
            inputs = tuple(_as_input(self, x) for x in inputs)
            arrays = [x.data if isinstance(x, Tensor) else x for x in inputs]
        try:
            data = self.forward(*arrays)
        except (ValueError, TypeError, IndexError) as error:
            raise _explain(self, arrays, error) from error
        if constants_only or not self._trusted:
            data = _as_output(self, data)
        out = Tensor.__new__(Tensor)
        out.data = data
        out.grad = None
        out.name = None
        out._retains_grad = False
        recording = not mode.open_blocks or mode.local.recording
        if True in needs and recording:
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


def _refuse_kind(fn: Function, what: str, dtype: np.dtype) -> TypeError:
    return TypeError(
        f"{fn.name}: {what} holds {dtype} data; ad differentiates real floating-point numbers "
        "(complex, object and text data are not supported)")


def _float_array(fn: Function, array: np.ndarray, what: str) -> np.ndarray:
    """``array`` as floats (integers and booleans become float64); other data is refused."""
    kind = array.dtype.kind
    if kind == "f":
        return array
    if kind in "biu":
        return array.astype(np.float64)
    raise _refuse_kind(fn, what, array.dtype)


def _as_input(fn: Function, x: Any) -> Any:
    """An input that is not a tensor or a plain number: lists become float arrays, and
    complex, object or text data is refused before numpy can drop an imaginary part."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (list, tuple)):
        try:
            array = np.asarray(x)
        except ValueError as error:
            raise ValueError(f"{fn.name}: cannot use this list as an input ({error})") from error
        return _float_array(fn, array, f"an input ({type(x).__name__})")
    dtype = getattr(x, "dtype", None)
    if not isinstance(dtype, np.dtype):
        dtype = np.asarray(x).dtype
    if dtype.kind not in "biuf":
        raise _refuse_kind(fn, f"an input ({type(x).__name__})", dtype)
    return x


def _as_output(fn: Function, data: Any) -> Any:
    """What ``forward`` returned, as a float array: a Tensor is unwrapped (the original
    engine's forward returned a new Variable), numbers and lists become arrays."""
    if isinstance(data, Tensor):
        data = data.data
    if isinstance(data, (np.ndarray, np.floating)) and data.dtype.kind == "f":
        return data
    try:
        array = np.asarray(data)
    except ValueError as error:
        raise TypeError(
            f"{type(fn).__name__}.forward returned a {type(data).__name__} that is not an array "
            f"of numbers ({error})") from error
    return _float_array(fn, array, f"the result of {type(fn).__name__}.forward ({type(data).__name__})")


def _describe(value: Any) -> str:
    shape = getattr(value, "shape", None)
    if shape is not None:
        return str(tuple(shape))
    if isinstance(value, (int, float, complex, np.number)):
        return "()"
    return type(value).__name__


def _is_shape_mismatch(fn: Function, arrays: list[Any]) -> bool:
    """Whether a ValueError from ``fn.forward`` is about its inputs' shapes.

    Only ad's own operations are known well enough to say so: for elementwise
    ones, the shapes must fail to broadcast; matmul, concatenate and stack raise
    ValueError only for shapes that do not fit.
    """
    if not fn._trusted:
        return False
    if fn.mismatch != Function.mismatch:
        return True
    try:
        np.broadcast_shapes(*(np.shape(a) for a in arrays))
    except ValueError:
        return True
    return False


def _explain(fn: Function, arrays: list[Any], error: Exception) -> Exception:
    """A clear error for a failed forward: the op, the input shapes, and the original reason."""
    shapes = " and ".join(_describe(a) for a in arrays) or "no inputs"
    if isinstance(error, np.exceptions.AxisError):
        message = f"{fn.name}: bad axis for inputs of shape {shapes} ({error})"
    elif isinstance(error, ValueError) and len(arrays) >= 2 and _is_shape_mismatch(fn, arrays):
        message = f"{fn.name}: shapes {shapes} {fn.mismatch} ({error})"
    elif fn._trusted:
        message = f"{fn.name}: cannot apply to {shapes} ({error})"
    else:                                   # a user's own Function keeps its own message
        message = f"{fn.name}: {error} (inputs of shape {shapes})"
    kind = next(k for k in (ValueError, TypeError, IndexError) if isinstance(error, k))
    return kind(message)

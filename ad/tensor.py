"""Tensor: an array that remembers how it was made, and the backward pass.

A tensor holds ``data`` (a numpy array), ``grad`` (filled in by
:meth:`Tensor.backward`) and, when it was computed from tensors that require
gradients, ``_node``: the :class:`~ad.function.Function` call that made it.
Operators and methods (``+``, ``@``, ``.sum()``...) are attached by
:mod:`ad.ops`, the way the original engine attached ``__matmul__``.
"""

from __future__ import annotations

from heapq import heappop, heappush
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from .mode import enable_grad

if TYPE_CHECKING:
    from .function import Function

# numpy functions that tensors answer themselves (filled in by ad.ops), so that a
# backward rule written with np.exp or np.where records when handed tensors.
NUMPY_OVERRIDES: dict[Callable[..., Any], Callable[..., Any]] = {}


class Tensor:
    """An n-dimensional array of floats that can carry a gradient.

    Create one with :func:`ad.tensor`. ``x.grad`` is ``None`` until a backward
    pass reaches ``x``; later passes *add* to it (set ``x.grad = None`` to start
    again). Only leaves (tensors you made) keep their gradient, unless you call
    :meth:`retain_grad` on an intermediate result.

    Comparisons (``==``, ``<``...) give boolean numpy arrays, element by
    element, and carry no gradient; tensors hash by identity.

    Recorded operations keep references to their inputs' arrays, not copies.
    Replacing ``x.data`` by another array before ``backward`` is refused (the
    backward pass would mix old and new values); changing the array in place
    (``x.data[...] = v``, ``x.data -= step``) changes the values the recorded
    operations see, so their gradients are then those at the new values. Do
    such updates after ``backward``, as an optimiser does.
    """

    __slots__ = ("data", "grad", "requires_grad", "name", "_node", "_retains_grad", "__weakref__")
    __array_priority__ = 1000

    data: Any
    grad: Tensor | None
    requires_grad: bool
    name: str | None
    _node: Function | None
    _retains_grad: bool

    if TYPE_CHECKING:  # attached by ad.ops at import; declared here for type checkers
        def __add__(self, other: Any) -> Tensor: ...
        def __radd__(self, other: Any) -> Tensor: ...
        def __sub__(self, other: Any) -> Tensor: ...
        def __rsub__(self, other: Any) -> Tensor: ...
        def __mul__(self, other: Any) -> Tensor: ...
        def __rmul__(self, other: Any) -> Tensor: ...
        def __truediv__(self, other: Any) -> Tensor: ...
        def __rtruediv__(self, other: Any) -> Tensor: ...
        def __pow__(self, other: Any) -> Tensor: ...
        def __rpow__(self, other: Any) -> Tensor: ...
        def __matmul__(self, other: Any) -> Tensor: ...
        def __rmatmul__(self, other: Any) -> Tensor: ...
        def __neg__(self) -> Tensor: ...
        def __abs__(self) -> Tensor: ...
        def __getitem__(self, index: Any) -> Tensor: ...
        def exp(self) -> Tensor: ...
        def log(self) -> Tensor: ...
        def sqrt(self) -> Tensor: ...
        def tanh(self) -> Tensor: ...
        def sigmoid(self) -> Tensor: ...
        def relu(self) -> Tensor: ...
        def abs(self) -> Tensor: ...
        def sin(self) -> Tensor: ...
        def cos(self) -> Tensor: ...
        def sum(self, axis: Any = None, keepdims: bool = False) -> Tensor: ...
        def mean(self, axis: Any = None, keepdims: bool = False) -> Tensor: ...
        def max(self, axis: Any = None, keepdims: bool = False) -> Tensor: ...
        def reshape(self, *shape: Any) -> Tensor: ...
        def transpose(self, *axes: Any) -> Tensor: ...
        def swapaxes(self, axis1: int, axis2: int) -> Tensor: ...
        def astype(self, dtype: Any) -> Tensor: ...
        @property
        def T(self) -> Tensor: ...

    def __init__(self, data: Any, requires_grad: bool = False, name: str | None = None) -> None:
        self.data = _as_float_array(data, requires_grad)
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self.name = name
        self._node = None
        self._retains_grad = False

    # ----- what it looks like
    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of the data, a tuple as in numpy."""
        return self.data.shape

    @property
    def ndim(self) -> int:
        """The number of axes."""
        return self.data.ndim

    @property
    def size(self) -> int:
        """The number of elements."""
        return self.data.size

    @property
    def dtype(self) -> np.dtype:
        """The data's numpy dtype (float64, float32...)."""
        return self.data.dtype

    def __len__(self) -> int:
        return len(self.data)

    def __iter__(self) -> Any:
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(len(self)))

    def __bool__(self) -> bool:
        return bool(self.data)          # numpy's rule: only a one-element tensor has a truth value

    def __float__(self) -> float:
        return self.item()

    def __pos__(self) -> Tensor:
        return self

    # ----- comparisons: elementwise, as numpy arrays, with no gradient
    __hash__ = object.__hash__          # by identity, as the engine's bookkeeping needs

    def __eq__(self, other: Any) -> Any:        # type: ignore[override]
        return np.equal(self.data, _plain(other))

    def __ne__(self, other: Any) -> Any:        # type: ignore[override]
        return np.not_equal(self.data, _plain(other))

    def __lt__(self, other: Any) -> Any:
        return np.less(self.data, _plain(other))

    def __le__(self, other: Any) -> Any:
        return np.less_equal(self.data, _plain(other))

    def __gt__(self, other: Any) -> Any:
        return np.greater(self.data, _plain(other))

    def __ge__(self, other: Any) -> Any:
        return np.greater_equal(self.data, _plain(other))

    def __repr__(self) -> str:
        body = np.array2string(np.asarray(self.data), separator=", ", prefix="tensor(")
        extras = ""
        if self.dtype != np.float64:
            extras += f", dtype={self.dtype}"
        if self.requires_grad:
            extras += ", requires_grad=True"
        if self.name is not None:
            extras += f", name={self.name!r}"
        return f"tensor({body}{extras})"

    def item(self) -> float:
        """The value of a one-element tensor as a Python float."""
        if self.size != 1:
            raise ValueError(f"item: only a one-element tensor has an item, this one has shape {self.shape}")
        return float(np.asarray(self.data).reshape(()))

    def numpy(self) -> np.ndarray:
        """The data as a numpy array: the tensor's own memory, except for a 0-d result of an
        operation (a numpy scalar), which comes back as a new 0-d array."""
        return np.asarray(self.data)

    def detach(self) -> Tensor:
        """The same data, cut from the graph (shares memory, requires no grad)."""
        return Tensor(self.data)

    def retain_grad(self) -> Tensor:
        """Keep ``.grad`` on this intermediate result too (the original's ``terminal``)."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad: this tensor does not require grad, so it will never get one")
        self._retains_grad = True
        return self

    @property
    def is_leaf(self) -> bool:
        """True for a tensor you made; False for the result of a recorded operation."""
        return self._node is None

    @property
    def grad_fn(self) -> Any:
        """The recorded operation that made this tensor (``None`` for a leaf).

        It is a :class:`~ad.function.Function` node: ``grad_fn.inputs`` are the
        operation's inputs, ``grad_fn.name`` its name. Following ``inputs``
        from the output walks the whole graph.
        """
        return self._node

    # ----- numpy interoperability: np.exp(t) and friends record on tensors
    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        if copy:
            return np.array(self.data, dtype=dtype, copy=True)
        return np.asarray(self.data, dtype=dtype)

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if ufunc in _COMPARISONS and method == "__call__":      # no gradient: answer on the data
            return ufunc(*(_plain(x) for x in inputs), **kwargs)
        op = NUMPY_OVERRIDES.get(ufunc)
        if method != "__call__" or op is None or kwargs:
            names = sorted(f.__name__ for f in NUMPY_OVERRIDES if isinstance(f, np.ufunc))
            raise TypeError(
                f"np.{ufunc.__name__}{'' if method == '__call__' else '.' + method}: not an operation "
                f"that tensors record; on tensors numpy can call {', '.join(names)}")
        return op(*inputs)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        op = NUMPY_OVERRIDES.get(func)
        if op is None:
            return NotImplemented
        return op(*args, **kwargs)

    # ----- the backward pass
    def backward(self, grad: Any = None, create_graph: bool = False) -> None:
        """Add d(self)/d(leaf), weighted by ``grad``, to ``leaf.grad`` for every leaf.

        Visits every node once, newest first (a reverse topological order: each
        result was made after its inputs), using a priority queue keyed on the
        order of creation; no recursion, so graphs of any depth work.
        ``grad`` defaults to 1 for a one-element tensor. With
        ``create_graph=True`` the backward pass is itself recorded, so the
        gradients it produces can be differentiated again (``x.grad`` then
        refers to a graph that contains ``x``: set ``x.grad = None`` when you
        are done, so that reference counting can free both).
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward: this tensor does not require grad (no input had "
                "requires_grad=True, or it was computed under no_grad())")
        seed = _seed_gradient(self, grad)
        if create_graph:
            with enable_grad():
                self._backward(Tensor(seed) if not isinstance(seed, Tensor) else seed, True)
        else:
            self._backward(seed.data if isinstance(seed, Tensor) else seed, False)

    def _backward(self, seed: Any, create_graph: bool) -> None:
        _walk((self,), (seed,), create_graph)


def _walk(outputs: Sequence[Tensor], seeds: Sequence[Any],
          create_graph: bool,
          wanted: set[int] | None = None) -> dict[int, Any]:
    """The backward pass from ``outputs``, each seeded with its gradient.

    Visits every node once, newest first (a reverse topological order: each
    result was made after its inputs), using a priority queue keyed on the
    order of creation; no recursion, so graphs of any depth work. With
    ``wanted=None`` it adds the gradients to the leaves' ``.grad`` (and to
    retained ones), as ``backward`` does; otherwise it touches no ``.grad``
    and returns the gradients of the tensors whose ids are in ``wanted``.
    (Its lines are kept short: the book prints it.)
    """
    grads: dict[int, Any] = {}
    # arrays already handed out as a .grad: never share one
    stored: set[int] = set()
    queue: list[tuple[int, Tensor]] = []
    leaves = []
    found: dict[int, Any] = {}
    for output, seed in zip(outputs, seeds):
        key = id(output)
        if key in grads:
            grads[key] = grads[key] + seed
            continue
        grads[key] = seed
        stored.add(id(seed))
        if output._node is None:
            leaves.append(output)
        else:
            heappush(queue, (-output._node.sequence, output))
    while queue:
        tensor = heappop(queue)[1]
        g = grads.pop(id(tensor))
        if wanted is None:
            if tensor._retains_grad:
                _accumulate(tensor, g, stored)
        elif id(tensor) in wanted:
            found[id(tensor)] = g
        node: Any = tensor._node
        if create_graph:
            _check_unchanged(node)
            args = node.inputs
        else:
            args = node.arrays
        if node._trusted:
            input_grads = node.backward(*args, g)
        else:
            input_grads = _checked_grads(
                node, _user_backward(node, args, g), create_graph)
        edges = zip(node.inputs, node.arrays, node.needs_input_grad,
                    input_grads)
        for x, saved, needed, gx in edges:
            # (a constant is its own saved value)
            if x is not saved and x.data is not saved:
                raise _replaced(node, x)
            if not needed or gx is None:
                continue
            if gx.shape != x.data.shape:
                gx = _fit(node, gx, x.data.shape)
            key = id(x)
            previous = grads.get(key)
            if previous is not None:
                grads[key] = previous + gx
                continue
            grads[key] = gx
            if x._node is None:
                leaves.append(x)
            else:
                heappush(queue, (-x._node.sequence, x))
    for leaf in leaves:
        g = grads.pop(id(leaf))
        if wanted is None:
            _accumulate(leaf, g, stored)
        elif id(leaf) in wanted:
            found[id(leaf)] = g
    return found


def gradients(outputs: Tensor | Sequence[Tensor],
              inputs: Tensor | Sequence[Tensor], grad: Any = None,
              create_graph: bool = False) -> tuple[Tensor, ...]:
    """The gradients of ``outputs`` with respect to ``inputs``, without
    touching any ``.grad``.

    Like ``torch.autograd.grad``: ``outputs`` and ``inputs`` are tensors (or
    sequences of tensors); the inputs may be any tensors of the graph, not
    only leaves. ``grad`` weights each output (one array per output; by default 1
    for a one-element output), so the result is the vector-Jacobian product
    Σ_k grad_k · d(outputs_k)/d(input). It returns one tensor per input, of
    that input's shape and dtype; an input that no output depends on gets
    zeros. With ``create_graph=True`` the backward pass is recorded, so the
    gradients can be differentiated again.
    """
    outs = _tensors("gradients", "outputs", outputs)
    ins = _tensors("gradients", "inputs", inputs)
    if grad is None:
        weights: Sequence[Any] = [None] * len(outs)
    elif isinstance(outputs, Tensor):
        weights = [grad]
    else:
        weights = list(grad) if isinstance(grad, (list, tuple)) else [grad]
        if len(weights) != len(outs):
            raise ValueError(f"gradients: {len(weights)} grads for {len(outs)} "
                             "outputs; pass one per output")
    recorded, seeds = [], []
    for k, (out, weight) in enumerate(zip(outs, weights)):
        seed = _seed_gradient(out, weight, f"gradients (output {k})")
        if out.requires_grad or any(out is x for x in ins):
            recorded.append(out)
            seeds.append(seed)
    wanted = {id(x) for x in ins}
    if create_graph:
        with enable_grad():
            tensors = [s if isinstance(s, Tensor) else Tensor(s) for s in seeds]
            found = _walk(recorded, tensors, True, wanted)
    else:
        arrays = [s.data if isinstance(s, Tensor) else s for s in seeds]
        found = _walk(recorded, arrays, False, wanted)
    return tuple(_gradient_of(x, found.get(id(x))) for x in ins)


def _tensors(who: str, what: str, value: Any) -> list[Tensor]:
    items = [value] if isinstance(value, Tensor) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(t, Tensor) for t in items):
        raise TypeError(f"{who}: {what} must be a tensor or a list or tuple of tensors, "
                        f"not {type(value).__name__}")
    return list(items)


def _gradient_of(x: Tensor, g: Any) -> Tensor:
    """One result of :func:`gradients`: a tensor of x's dtype, in memory of its own."""
    if g is None:
        return Tensor(np.zeros_like(x.data))
    if isinstance(g, Tensor):
        return g if g.dtype == x.dtype else g.astype(x.dtype)
    return Tensor(np.array(g, dtype=x.dtype))


def _seed_gradient(output: Tensor, grad: Any, who: str = "backward") -> Any:
    if grad is None:
        if output.size != 1:
            raise ValueError(
                f"{who}: the output has shape {output.shape}; pass grad= with that shape "
                "(only a one-element output has an implicit gradient of 1)")
        return np.ones_like(output.data)
    value = grad.data if isinstance(grad, Tensor) else np.asarray(grad, dtype=output.dtype)
    if np.shape(value) != output.shape:
        raise ValueError(
            f"{who}: grad has shape {np.shape(value)} but the output has shape {output.shape}")
    return grad if isinstance(grad, Tensor) else value


def _accumulate(tensor: Tensor, g: Any, stored: set[int]) -> None:
    """Add ``g`` to ``tensor.grad``, in the tensor's own dtype (float32 stays float32).

    A gradient array gets memory of its own when it is a view (of the seed, of
    an input, of another gradient), the seed itself, or already some other
    tensor's ``.grad`` (``a + b`` hands both the same array), so that changing
    one ``.grad`` in place never changes another array.
    """
    dtype = tensor.data.dtype
    if not isinstance(g, Tensor):
        if (type(g) is not np.ndarray or g.base is not None or not g.flags.writeable
                or g.dtype != dtype or id(g) in stored):
            g = np.array(g, dtype=dtype)
        if tensor.grad is not None:
            g = tensor.grad.data + g
        stored.add(id(g))
        g = Tensor(g)
    else:
        if g.dtype != dtype:
            g = g.astype(dtype)
        if tensor.grad is not None:
            g = tensor.grad + g
    tensor.grad = g


def _replaced(node: Any, x: Tensor) -> RuntimeError:
    position = next(i for i, y in enumerate(node.inputs) if y is x)
    return RuntimeError(
        f"{node.name}: input {position} (shape {x.shape}) had its .data replaced after the operation "
        "was recorded, so backward would mix old and new values; compute the result again after "
        "changing .data (or change the array in place, under no_grad, after backward)")


def _check_unchanged(node: Any) -> None:
    for x, saved in zip(node.inputs, node.arrays):
        if isinstance(x, Tensor) and x.data is not saved:
            raise _replaced(node, x)


def _user_backward(node: Any, args: tuple[Any, ...], g: Any) -> Any:
    """A user's ``backward``, with the sixteen-line engine's habit (``x.grad += ...``) explained."""
    try:
        return node.backward(*args, g)
    except AttributeError as error:
        if error.name in ("grad", "data") and isinstance(error.obj, np.ndarray):
            raise TypeError(
                f"{type(node).__name__}.backward: {error}. In ad, backward receives the inputs' values "
                "(arrays) and the output's gradient, and returns one gradient per input: write "
                "`return grad * ...` instead of `x.grad += ...`") from error
        raise


def _checked_grads(node: Any, grads: Any, create_graph: bool) -> tuple[Any, ...]:
    """What a user's ``backward`` returned, as one gradient (or None) per input, or a clear error."""
    who, count = type(node).__name__, len(node.inputs)
    expected = (f"expected a tuple of {count} gradient{'s' * (count != 1)} "
                "(one per input, None where there is none)")
    if grads is None:
        raise TypeError(
            f"{who}.backward returned None; {expected}. In ad, backward returns the gradients "
            "instead of adding them to x.grad")
    if isinstance(grads, list):
        grads = tuple(grads)
    if not isinstance(grads, tuple):
        if count != 1:
            kind = type(grads).__name__
            article = "an" if kind[0] in "aeiou" or kind == "ndarray" else "a"
            raise TypeError(f"{who}.backward returned {article} {kind}; {expected}")
        grads = (grads,)
    if len(grads) != count:
        raise TypeError(f"{who}.backward returned {len(grads)} gradient{'s' * (len(grads) != 1)} "
                        f"for {count} inputs; {expected}")
    return tuple(
        None if gx is None or not needed else _checked_grad(node, i, gx, create_graph)
        for i, (gx, needed) in enumerate(zip(grads, node.needs_input_grad)))


def _checked_grad(node: Any, i: int, gx: Any, create_graph: bool) -> Any:
    who, x = type(node).__name__, node.inputs[i]
    if isinstance(gx, Tensor):
        if create_graph:
            return gx
        gx = gx.data
    try:
        array = np.asarray(gx)
    except ValueError as error:
        raise TypeError(
            f"{who}.backward: the gradient for input {i} is not an array of numbers ({error})") from error
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"{who}.backward: the gradient for input {i} holds {array.dtype} data; "
            "expected real floating-point numbers")
    if array.dtype.kind != "f" or array is gx and any(array is a for a in (*node.arrays, node.output)):
        array = array.astype(x.dtype)       # a number of its own, never an input's memory
    if array.shape != x.shape:
        try:
            fitted = unbroadcast(array, x.shape)
        except ValueError:
            fitted = None
        if fitted is None or fitted.shape != x.shape:
            raise ValueError(
                f"{who}.backward: the gradient for input {i} has shape {array.shape}, "
                f"but the input has shape {x.shape}")
        array = fitted
    return array


def _fit(node: Any, grad: Any, shape: tuple[int, ...]) -> Any:
    """Sum a gradient back over broadcast axes, and refuse one that cannot belong to ``shape``."""
    try:
        fitted = unbroadcast(grad, shape) if grad.ndim >= len(shape) else grad
    except ValueError:
        fitted = grad
    if fitted.shape != shape:
        raise ValueError(
            f"{node.name}: backward returned a gradient of shape {grad.shape} "
            f"for an input of shape {shape}")
    return fitted


def _reverse_topological_order(root: Tensor) -> list[Tensor]:
    """The tensors that ``root`` depends on, in the order ``backward`` visits them.

    Every operation's result was made after its inputs, so sorting by the
    order of creation, newest first, puts every tensor before the tensors it
    was made from: a reverse topological order. ``backward`` walks it with a
    priority queue; this function lists it (for pictures and for the book).
    Leaves come last, in the order they are first reached.
    """
    found = {id(root): root}
    stack = [root]
    while stack:
        node = stack.pop()._node
        if node is not None:
            for x, needed in zip(node.inputs, node.needs_input_grad):
                if needed and id(x) not in found:
                    found[id(x)] = x
                    stack.append(x)
    made = sorted((t for t in found.values() if t._node is not None),
                  key=lambda t: t._node.sequence, reverse=True)  # type: ignore[union-attr]
    return made + [t for t in found.values() if t._node is None]


def unbroadcast(grad: Any, shape: tuple[int, ...]) -> Any:
    """Sum ``grad`` down to ``shape``, undoing numpy broadcasting.

    Broadcasting copies an input along new leading axes and along axes of
    length 1; the gradient of a copy is the sum of the copies' gradients.
    """
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        extra + i for i, n in enumerate(shape) if n == 1 and grad.shape[extra + i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape) if extra else grad


_COMPARISONS = {np.equal, np.not_equal, np.less, np.less_equal, np.greater, np.greater_equal}


def _plain(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


def _as_float_array(data: Any, requires_grad: bool) -> Any:
    if isinstance(data, Tensor):
        data = data.data
    try:
        array = np.asarray(data)
    except ValueError as error:
        raise ValueError(f"tensor: cannot make an array of this data ({error})") from error
    kind = array.dtype.kind
    if kind == "f":
        return array
    if kind in "biu":
        return array.astype(np.float64)
    raise TypeError(
        f"tensor: expected numbers, got {type(data).__name__} with numpy dtype {array.dtype}"
        + (f" ({data!r})" if isinstance(data, str) else ""))

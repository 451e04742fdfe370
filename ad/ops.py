"""The primitive operations: one Function per op, each with its local derivative.

Every ``backward`` is written with operations that arrays and tensors share, so
the same rule runs fast on arrays and records itself on tensors (for
``create_graph=True``). The docstring of each class is its maths.
"""

from __future__ import annotations

import builtins
import math
from typing import Any, Sequence

import numpy as np

from .function import Function
from .tensor import NUMPY_OVERRIDES, Tensor


def _data(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


def _log(x: Any) -> Any:
    """np.log, NaN (without a warning) below 0, and a plain Python number stays a plain
    number (so float32 stays float32)."""
    if isinstance(x, (int, float)):
        return math.log(x) if x > 0 else math.nan
    with np.errstate(invalid="ignore"):
        return np.log(x)


def _lowered(y: Any) -> Any:
    """y - 1, except 1 where y is 0: y x^(y-1) is then 0, not 0 times 1/0 at x = 0."""
    if isinstance(y, (int, float)):
        return y - 1 if y != 0 else 1
    return np.where(_data(y) != 0, y - 1, 1)


def _ones_where_zero(x: Any) -> Any:
    """x with its zeros replaced by ones: x^y log x is 0 at x = 0 (for y > 0), not 0 times -inf."""
    if isinstance(x, (int, float)):
        return x if x != 0 else 1
    return np.where(_data(x) != 0, x, 1)


# ----- arithmetic (numpy broadcasting; the engine sums gradients back to shape)

class Add(Function):
    """z = x + y;  dz/dx = 1,  dz/dy = 1"""
    def forward(self, x, y):
        return x + y

    def backward(self, x, y, grad):
        return grad, grad


class Sub(Function):
    """z = x - y;  dz/dx = 1,  dz/dy = -1"""
    def forward(self, x, y):
        return x - y

    def backward(self, x, y, grad):
        return grad, (-grad if self.needs_input_grad[1] else None)


class Mul(Function):
    """z = x * y;  dz/dx = y,  dz/dy = x"""
    def forward(self, x, y):
        return x * y

    def backward(self, x, y, grad):
        needs_x, needs_y = self.needs_input_grad
        gx = grad * y if needs_x else None
        gy = grad * x if needs_y else None
        return gx, gy


class Div(Function):
    """z = x / y;  dz/dx = 1/y,  dz/dy = -x/y²"""
    def forward(self, x, y):
        return x / y

    def backward(self, x, y, grad):
        needs_x, needs_y = self.needs_input_grad
        return (grad / y if needs_x else None), (-grad * x / (y * y) if needs_y else None)


class Pow(Function):
    """z = x ** y;  dz/dx = y x^(y-1),  dz/dy = x^y log x"""
    def forward(self, x, y):
        return x ** y

    def backward(self, x, y, grad):
        needs_x, needs_y = self.needs_input_grad
        gx = grad * y * x ** _lowered(y) if needs_x else None
        gy = grad * self.result(x, y) * _log(_ones_where_zero(x)) if needs_y else None
        return gx, gy


class Neg(Function):
    """z = -x;  dz/dx = -1"""
    def forward(self, x):
        return -x

    def backward(self, x, grad):
        return (-grad,)


class MatMul(Function):
    """z = x @ y;  dL/dx = g @ yᵀ,  dL/dy = xᵀ @ g  (numpy rules for 1-D and batches)"""
    mismatch = "do not align"

    def forward(self, x, y):
        return x @ y

    def backward(self, x, y, grad):
        needs_x, needs_y = self.needs_input_grad
        x_is_vector, y_is_vector = x.ndim == 1, y.ndim == 1
        if y_is_vector:                      # treat y as a column; grad gains that axis
            grad = grad.reshape(grad.shape + (1,))
            y = y.reshape(y.shape + (1,))
        if x_is_vector:                      # treat x as a row
            grad = grad.reshape(grad.shape[:-1] + (1,) + grad.shape[-1:])
            x = x.reshape((1,) + x.shape)
        gx = grad @ y.swapaxes(-1, -2) if needs_x else None
        gy = x.swapaxes(-1, -2) @ grad if needs_y else None
        if needs_x and x_is_vector:
            gx = gx.reshape(gx.shape[:-2] + gx.shape[-1:])
        if needs_y and y_is_vector:
            gy = gy.reshape(gy.shape[:-1])
        return gx, gy


# ----- elementwise functions

class Exp(Function):
    """z = eˣ;  dz/dx = eˣ"""
    def forward(self, x):
        return np.exp(x)

    def backward(self, x, grad):
        return (grad * self.result(x),)


class Log(Function):
    """z = log x;  dz/dx = 1/x"""
    def forward(self, x):
        return np.log(x)

    def backward(self, x, grad):
        return (grad / x,)


class Sqrt(Function):
    """z = √x;  dz/dx = 1/(2√x)"""
    def forward(self, x):
        return np.sqrt(x)

    def backward(self, x, grad):
        return (grad / (2 * self.result(x)),)


class Tanh(Function):
    """z = tanh x;  dz/dx = 1 - tanh² x"""
    def forward(self, x):
        return np.tanh(x)

    def backward(self, x, grad):
        z = self.result(x)
        return (grad * (1 - z * z),)


class Sigmoid(Function):
    """z = 1/(1 + e⁻ˣ);  dz/dx = z(1 - z) = σ(x)σ(-x)"""
    def forward(self, x):
        e = np.exp(-np.abs(x))          # never overflows; 1 - z is never formed, so no tail is lost
        return np.where(np.greater_equal(x, 0), 1 / (1 + e), e / (1 + e))

    def backward(self, x, grad):
        return (grad * self.result(x) * sigmoid.apply(-x),)


class Relu(Function):
    """z = max(x, 0);  dz/dx = 1 where x > 0, else 0"""
    def forward(self, x):
        return np.maximum(x, 0)

    def backward(self, x, grad):
        return (grad * (_data(x) > 0),)


class Abs(Function):
    """z = abs(x);  dz/dx = sign x  (0 at x = 0)"""
    def forward(self, x):
        return np.abs(x)

    def backward(self, x, grad):
        return (grad * np.sign(_data(x)),)


class Sin(Function):
    """z = sin x;  dz/dx = cos x"""
    def forward(self, x):
        return np.sin(x)

    def backward(self, x, grad):
        return (grad * np.cos(x),)


class Cos(Function):
    """z = cos x;  dz/dx = -sin x"""
    def forward(self, x):
        return np.cos(x)

    def backward(self, x, grad):
        return (-grad * np.sin(x),)


class Maximum(Function):
    """z = max(x, y);  the gradient goes to the larger input (split evenly on ties)"""
    def forward(self, x, y):
        return np.maximum(x, y)

    def backward(self, x, y, grad):
        xd, yd = _data(x), _data(y)
        share = ((xd > yd) + 0.5 * (xd == yd)).astype(grad.dtype)
        return grad * share, grad * (1 - share)


class Where(Function):
    """z = x where condition else y;  the gradient follows the branch taken"""
    def forward(self, condition, x, y):
        return np.where(condition, x, y)

    def backward(self, condition, x, y, grad):
        taken = np.asarray(_data(condition), dtype=bool)
        return None, np.where(taken, grad, 0), np.where(taken, 0, grad)


# ----- reductions

def _kept_shape(shape: tuple[int, ...], axis: Any) -> tuple[int, ...]:
    """The shape of a reduction over ``axis`` with keepdims=True."""
    if axis is None or not shape:      # numpy lets a 0-d array be reduced over axis 0 or -1
        return (1,) * len(shape)
    axes = {a % len(shape) for a in (axis if isinstance(axis, tuple) else (axis,))}
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


class Sum(Function):
    """z = Σ x over axis;  dz/dx = 1 for every summed element"""
    def __init__(self, axis: Any = None, keepdims: bool = False) -> None:
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        return np.add.reduce(x, axis=self.axis, keepdims=self.keepdims)

    def backward(self, x, grad):
        grad = grad.reshape(_kept_shape(x.shape, self.axis))
        return (np.broadcast_to(grad, x.shape),)


class Mean(Function):
    """z = (Σ x)/n over axis;  dz/dx = 1/n"""
    def __init__(self, axis: Any = None, keepdims: bool = False) -> None:
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        total = np.add.reduce(x, axis=self.axis, keepdims=self.keepdims)
        return total / (np.size(x) // builtins.max(np.size(total), 1))

    def backward(self, x, grad):
        kept = _kept_shape(x.shape, self.axis)
        count = x.size // builtins.max(grad.size, 1)
        return (np.broadcast_to(grad.reshape(kept) / count, x.shape),)


class Max(Function):
    """z = max x over axis;  the gradient goes to the maximal elements (split on ties)"""
    def __init__(self, axis: Any = None, keepdims: bool = False) -> None:
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        return np.max(x, axis=self.axis, keepdims=self.keepdims)

    def backward(self, x, grad):
        xd = _data(x)
        winners = xd == np.max(xd, axis=self.axis, keepdims=True)
        share = (winners / np.sum(winners, axis=self.axis, keepdims=True)).astype(grad.dtype)
        return (grad.reshape(_kept_shape(x.shape, self.axis)) * share,)


class LogSumExp(Function):
    """z = log Σ eˣ over axis (computed as m + log Σ e^(x-m));  dz/dx = softmax x"""
    def __init__(self, axis: Any = -1, keepdims: bool = False) -> None:
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        m = np.max(x, axis=self.axis, keepdims=True)
        m = np.where(np.isfinite(m), m, 0)
        z = m + np.log(np.sum(np.exp(x - m), axis=self.axis, keepdims=True))
        return z if self.keepdims else np.squeeze(z, axis=self.axis)

    def backward(self, x, grad):
        kept = _kept_shape(x.shape, self.axis)
        z = self.result(x).reshape(kept)
        return (grad.reshape(kept) * np.exp(x - z),)


class Softmax(Function):
    """s = eˣ / Σ eˣ over axis;  dL/dx = s (g - Σ g s)"""
    def __init__(self, axis: int = -1) -> None:
        self.axis = axis

    def forward(self, x):
        e = np.exp(x - np.max(x, axis=self.axis, keepdims=True))
        return e / np.sum(e, axis=self.axis, keepdims=True)

    def backward(self, x, grad):
        s = self.result(x)
        return (s * (grad - (grad * s).sum(axis=self.axis, keepdims=True)),)


class LogSoftmax(Function):
    """z = x - log Σ eˣ over axis;  dL/dx = g - softmax(x) Σ g"""
    name = "log_softmax"
    def __init__(self, axis: int = -1) -> None:
        self.axis = axis

    def forward(self, x):
        shifted = x - np.max(x, axis=self.axis, keepdims=True)
        return shifted - np.log(np.sum(np.exp(shifted), axis=self.axis, keepdims=True))

    def backward(self, x, grad):
        s = np.exp(self.result(x))
        return (grad - s * grad.sum(axis=self.axis, keepdims=True),)


# ----- shapes and indexing

class Reshape(Function):
    """z = x viewed with another shape;  the gradient is reshaped back"""
    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape

    def forward(self, x):
        return np.reshape(x, self.shape)

    def backward(self, x, grad):
        return (grad.reshape(x.shape),)


class Transpose(Function):
    """z = x with axes permuted;  the gradient is permuted back"""
    def __init__(self, axes: tuple[int, ...] | None = None) -> None:
        self.axes = axes

    def forward(self, x):
        return np.transpose(x, self.axes)

    def backward(self, x, grad):
        if self.axes is None:
            return (grad.transpose(),)
        axes = [a % x.ndim for a in self.axes]
        return (grad.transpose(tuple(int(i) for i in np.argsort(axes))),)


class Cast(Function):
    """z = x converted to another floating dtype;  the gradient is converted back"""
    def __init__(self, dtype: Any) -> None:
        self.dtype = np.dtype(dtype)

    def forward(self, x):
        return x.astype(self.dtype)

    def backward(self, x, grad):
        return (grad.astype(x.dtype),)


class BroadcastTo(Function):
    """z = x copied out to shape;  the gradient of the copies is summed"""
    name = "broadcast_to"
    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = tuple(shape)

    def forward(self, x):
        return np.broadcast_to(x, self.shape)

    def backward(self, x, grad):
        return (grad,)  # the engine sums it back to x's shape


def _plain_index(index: Any) -> Any:
    """An index without tensors in it: a tensor holds floats, so it cannot say whether it
    means positions or a mask (a boolean tensor would silently pick positions 0 and 1)."""
    if isinstance(index, Tensor):
        raise IndexError(
            f"index: a tensor (shape {index.shape}) cannot be an index, since tensors hold floats; "
            "index with a numpy integer array for positions, or a numpy boolean array for a mask "
            "(for example x[t.numpy() > 0] or x[t.numpy().astype(int)])")
    if isinstance(index, tuple):
        return tuple(_plain_index(i) for i in index)
    return index


def _is_basic(index: Any) -> bool:
    """Basic indexing (ints, slices) never picks an element twice."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (int, np.integer, slice)) or i is None or i is Ellipsis for i in parts)


class GetItem(Function):
    """z = x[index];  the gradient is added back into the picked places"""
    name = "index"
    def __init__(self, index: Any) -> None:
        self.index = _plain_index(index)

    def forward(self, x):
        return x[self.index]

    def backward(self, x, grad):
        return (ScatterAdd(self.index, x.shape).apply(grad),)


class ScatterAdd(Function):
    """z = zeros(shape) with values added at index;  dz/dvalues = the picked places"""
    name = "scatter_add"
    def __init__(self, index: Any, shape: tuple[int, ...]) -> None:
        self.index, self.shape = index, shape

    def forward(self, values):
        out = np.zeros(self.shape, dtype=np.result_type(values, np.float32))
        if _is_basic(self.index):
            out[self.index] = values
        else:
            np.add.at(out, self.index, values)
        return out

    def backward(self, values, grad):
        return (GetItem(self.index).apply(grad),)


class Concatenate(Function):
    """z = [x₀, x₁, ...] joined along axis;  each input gets its slice of the gradient"""
    mismatch = "cannot be joined"

    def __init__(self, axis: int = 0) -> None:
        self.axis = axis

    def forward(self, *xs):
        return np.concatenate(xs, axis=self.axis)

    def backward(self, *xs_and_grad):
        *xs, grad = xs_and_grad
        if self.axis is None:           # numpy flattened the inputs first
            ends = np.cumsum([x.size for x in xs])
            return tuple(grad[end - x.size:end].reshape(x.shape) for x, end in zip(xs, ends))
        axis = self.axis % grad.ndim
        ends = np.cumsum([x.shape[axis] for x in xs])
        lead = (slice(None),) * axis
        return tuple(grad[lead + (slice(end - x.shape[axis], end),)] for x, end in zip(xs, ends))


class Stack(Function):
    """z = [x₀, x₁, ...] stacked along a new axis;  each input gets its layer of the gradient"""
    mismatch = "cannot be stacked"

    def __init__(self, axis: int = 0) -> None:
        self.axis = axis

    def forward(self, *xs):
        return np.stack(xs, axis=self.axis)

    def backward(self, *xs_and_grad):
        *xs, grad = xs_and_grad
        axis = self.axis % grad.ndim
        lead = (slice(None),) * axis
        return tuple(grad[lead + (i,)] for i in range(len(xs)))


# ----- the functions people call

def _axis_op(cls: Any) -> Any:
    def op(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
        return cls(axis, keepdims)(x)
    op.__name__ = cls.name
    op.__doc__ = cls.__doc__
    return op


add, sub, mul, div, pow, neg, matmul = Add(), Sub(), Mul(), Div(), Pow(), Neg(), MatMul()
exp, log, sqrt, tanh, sigmoid = Exp(), Log(), Sqrt(), Tanh(), Sigmoid()
relu, abs, sin, cos, maximum = Relu(), Abs(), Sin(), Cos(), Maximum()
sum, mean, max = _axis_op(Sum), _axis_op(Mean), _axis_op(Max)


def logsumexp(x: Any, axis: Any = -1, keepdims: bool = False) -> Tensor:
    """log Σ exp(x) along ``axis``, without overflow."""
    return LogSumExp(axis, keepdims)(x)


def softmax(x: Any, axis: int = -1) -> Tensor:
    """exp(x) / Σ exp(x) along ``axis``, without overflow."""
    return Softmax(axis)(x)


def log_softmax(x: Any, axis: int = -1) -> Tensor:
    """x - logsumexp(x) along ``axis``: the log-probabilities of a classifier."""
    return LogSoftmax(axis)(x)


def reshape(x: Any, *shape: Any) -> Tensor:
    """``x`` with a new shape (one entry may be -1)."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return Reshape(shape)(x)


def transpose(x: Any, *axes: Any) -> Tensor:
    """``x`` with its axes reversed, or permuted as ``axes`` says."""
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = tuple(axes[0])
    return Transpose(axes or None)(x)


def swapaxes(x: Any, axis1: int, axis2: int) -> Tensor:
    """``x`` with two axes exchanged."""
    ndim = np.ndim(_data(x))
    if not (-ndim <= axis1 < ndim and -ndim <= axis2 < ndim):
        raise IndexError(f"swapaxes: axes {axis1} and {axis2} do not exist in shape {np.shape(_data(x))}")
    axes = list(range(ndim))
    axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
    return Transpose(tuple(axes))(x)


def broadcast_to(x: Any, shape: int | Sequence[int]) -> Tensor:
    """``x`` copied out to ``shape`` (an int for 1-D) by numpy's broadcasting rules."""
    return BroadcastTo((shape,) if isinstance(shape, (int, np.integer)) else tuple(shape))(x)


def concatenate(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis."""
    return Concatenate(axis)(*tensors)


def stack(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors along a new axis."""
    return Stack(axis)(*tensors)


def where(condition: Any, x: Any, y: Any) -> Tensor:
    """Elements of ``x`` where ``condition`` holds, else of ``y``."""
    return Where()(_data(condition), x, y)


def astype(x: Any, dtype: Any) -> Tensor:
    """``x`` converted to a floating dtype such as ``np.float32``."""
    if np.dtype(dtype).kind != "f":
        raise TypeError(f"astype: a tensor holds floating-point numbers, not {np.dtype(dtype)}")
    return Cast(dtype)(x)


def _reflected(fn: Function):
    def method(self: Tensor, other: Any) -> Tensor:
        return fn(other, self)
    return method


def _getitem(self: Tensor, index: Any) -> Tensor:
    return GetItem(index)(self)


# The original engine's way: store Function instances on the class.
Tensor.__add__, Tensor.__radd__ = add, _reflected(add)
Tensor.__sub__, Tensor.__rsub__ = sub, _reflected(sub)
Tensor.__mul__, Tensor.__rmul__ = mul, _reflected(mul)
Tensor.__truediv__, Tensor.__rtruediv__ = div, _reflected(div)
Tensor.__pow__, Tensor.__rpow__ = pow, _reflected(pow)
Tensor.__matmul__, Tensor.__rmatmul__ = matmul, _reflected(matmul)
Tensor.__neg__ = neg
Tensor.__abs__ = abs
Tensor.__getitem__ = _getitem
Tensor.exp, Tensor.log, Tensor.sqrt, Tensor.tanh, Tensor.sigmoid = exp, log, sqrt, tanh, sigmoid
Tensor.relu, Tensor.abs, Tensor.sin, Tensor.cos = relu, abs, sin, cos
Tensor.sum, Tensor.mean, Tensor.max = sum, mean, max
Tensor.reshape, Tensor.transpose, Tensor.swapaxes = reshape, transpose, swapaxes
Tensor.astype = astype
Tensor.T = property(transpose)

NUMPY_OVERRIDES.update({
    np.add: add, np.subtract: sub, np.multiply: mul, np.true_divide: div, np.power: pow,
    np.negative: neg, np.matmul: matmul, np.exp: exp, np.log: log, np.sqrt: sqrt,
    np.tanh: tanh, np.sin: sin, np.cos: cos, np.abs: abs, np.absolute: abs,
    np.maximum: maximum, np.sum: sum, np.mean: mean, np.max: max, np.where: where,
    np.reshape: lambda x, shape: reshape(x, shape),
    np.transpose: lambda x, axes=None: transpose(x) if axes is None else transpose(x, axes),
    np.swapaxes: swapaxes, np.broadcast_to: broadcast_to, np.concatenate: concatenate,
    np.stack: stack,
    np.shape: lambda x: np.shape(_data(x)), np.ndim: lambda x: np.ndim(_data(x)),
    np.size: lambda x, axis=None: np.size(_data(x), axis),
})

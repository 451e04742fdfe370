"""ad: reverse-mode automatic differentiation, grown from sixteen lines.

>>> import ad
>>> x = ad.tensor([[1., 2., 3.]], requires_grad=True)
>>> y = ad.tensor([[0.], [1.], [1.]], requires_grad=True)
>>> (x @ y).backward()
>>> x.grad
tensor([[0., 1., 1.]])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import check, nn, optim
from .checkpoint import checkpoint
from .function import Function
from .functional import grad, hessian, hvp, jacobian, jvp, value_and_grad, vjp
from .mode import enable_grad, is_grad_enabled, no_grad
from .ops import (
    abs,
    add,
    astype,
    broadcast_to,
    concatenate,
    cos,
    div,
    exp,
    log,
    log_softmax,
    logsumexp,
    matmul,
    max,
    maximum,
    mean,
    mul,
    neg,
    pow,
    relu,
    reshape,
    sigmoid,
    sin,
    softmax,
    sqrt,
    stack,
    sub,
    sum,
    swapaxes,
    tanh,
    transpose,
    where,
)
from .tensor import Tensor, gradients, unbroadcast

__version__ = "0.1.0"


def tensor(data: Any, *, dtype: Any = None, requires_grad: bool = False, name: str | None = None) -> Tensor:
    """A new leaf tensor holding ``data`` (a number, nested list or array).

    The data is copied. With ``dtype=None``, floating-point data keeps its dtype
    (float32 stays float32) and integers and booleans become float64, since a
    gradient needs a floating type; ``dtype=np.float32`` (any floating dtype)
    converts. Plain Python numbers, such as ``ad.tensor(0.0)``, are float64:
    give ``dtype`` to match a float32 model. Operations promote by numpy's
    rules: float32 with float32 stays float32, float32 with a float64 tensor
    or array becomes float64, and a plain Python number never promotes.
    """
    if dtype is not None and np.dtype(dtype).kind != "f":
        raise TypeError(
            f"tensor: dtype must be a floating-point type such as np.float32, not {np.dtype(dtype)}")
    out = Tensor(data, requires_grad=requires_grad, name=name)
    if dtype is not None and out.data.dtype != dtype:
        out.data = out.data.astype(dtype)
    else:
        source = data.data if isinstance(data, Tensor) else data
        if isinstance(source, np.ndarray) and np.may_share_memory(out.data, source):
            out.data = out.data.copy()
    return out


__all__ = [
    "check", "nn", "optim",
    "Function", "Tensor", "tensor", "no_grad", "enable_grad", "is_grad_enabled", "unbroadcast",
    "gradients", "checkpoint", "grad", "value_and_grad", "vjp", "jvp", "jacobian", "hessian", "hvp",
    "add", "sub", "mul", "div", "pow", "neg", "matmul",
    "exp", "log", "sqrt", "tanh", "sigmoid", "relu", "abs", "sin", "cos",
    "maximum", "where", "sum", "mean", "max", "logsumexp", "softmax", "log_softmax",
    "astype", "reshape", "transpose", "swapaxes", "broadcast_to", "concatenate", "stack",
]

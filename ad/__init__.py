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

from .function import Function, enable_grad, is_grad_enabled, no_grad
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
from .tensor import Tensor, unbroadcast

__version__ = "0.1.0"


def tensor(data: Any, requires_grad: bool = False, name: str | None = None) -> Tensor:
    """A new leaf tensor holding ``data`` (a number, nested list or array).

    The data is copied. Floating-point data keeps its dtype (float32 stays
    float32); integers and booleans become float64, since a gradient needs a
    floating type.
    """
    out = Tensor(data, requires_grad=requires_grad, name=name)
    source = data.data if isinstance(data, Tensor) else data
    if isinstance(source, np.ndarray) and np.may_share_memory(out.data, source):
        out.data = out.data.copy()
    return out


__all__ = [
    "Function", "Tensor", "tensor", "no_grad", "enable_grad", "is_grad_enabled", "unbroadcast",
    "add", "sub", "mul", "div", "pow", "neg", "matmul",
    "exp", "log", "sqrt", "tanh", "sigmoid", "relu", "abs", "sin", "cos",
    "maximum", "where", "sum", "mean", "max", "logsumexp", "softmax", "log_softmax",
    "astype", "reshape", "transpose", "swapaxes", "broadcast_to", "concatenate", "stack",
]

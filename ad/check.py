"""Gradient checking: compare the engine's gradients with other estimates.

* :func:`gradcheck` compares every element of every input's gradient with
  a central difference computed in float64, and reports the worst element.
* :func:`dot_product_test` checks one random direction at a time: for a
  function f, ⟨v, J u⟩ (forward, by finite differences) must equal
  ⟨Jᵀ v, u⟩ (backward, one vector-Jacobian product).

Both measure errors relative to the larger of the two numbers compared,
with a floor of 1, so that numbers near zero are compared absolutely.
(The lines of this module are kept short: the book prints its source.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .mode import no_grad
from .tensor import Tensor


@dataclass
class GradcheckResult:
    """The outcome of :func:`gradcheck`: the worst element over all inputs."""

    ok: bool
    max_relative_error: float
    input_index: int
    element: tuple[int, ...]
    analytic: float
    numeric: float

    def __str__(self) -> str:
        verdict = "ok" if self.ok else "FAILED"
        return (f"gradcheck {verdict}: worst relative error "
                f"{self.max_relative_error:.2e} at input {self.input_index}, "
                f"element {self.element} (backward {self.analytic:.10g}, "
                f"finite differences {self.numeric:.10g})")


def _scalar(f: Callable[..., Tensor], inputs: Sequence[Tensor]) -> float:
    out = f(*inputs)
    if out.size != 1:
        raise ValueError("gradcheck: f must return one number, "
                         f"it returned shape {out.shape}")
    return float(np.asarray(out.data).reshape(()))


def _as_float64_leaves(inputs: Sequence[object]) -> list[Tensor]:
    leaves = []
    for x in inputs:
        data = np.asarray(x.data if isinstance(x, Tensor) else x)
        leaves.append(Tensor(np.array(data, dtype=np.float64),
                             requires_grad=True))
    return leaves


def numerical_gradient(f: Callable[..., Tensor], inputs: Sequence[object],
                       eps: float = 1e-6) -> list[np.ndarray]:
    """Central differences (f(x + h) - f(x - h)) / 2h, h = ``eps``, for
    every element of every input, in float64."""
    leaves = _as_float64_leaves(inputs)
    grads = []
    with no_grad():
        for x in leaves:
            g = np.zeros_like(x.data)
            for i in np.ndindex(x.shape):
                saved = x.data[i]
                x.data[i] = saved + eps
                up = _scalar(f, leaves)
                x.data[i] = saved - eps
                down = _scalar(f, leaves)
                x.data[i] = saved
                g[i] = (up - down) / (2 * eps)
            grads.append(g)
    return grads


def gradcheck(f: Callable[..., Tensor], inputs: Sequence[object],
              eps: float = 1e-6, tolerance: float = 1e-6) -> GradcheckResult:
    """Check the backward pass of a scalar function ``f(*inputs)`` against
    finite differences.

    The inputs are copied to float64 leaves. The relative error of an
    element is ``|a - n| / max(|a|, |n|, 1)``, so tiny gradients are
    compared absolutely.
    """
    leaves = _as_float64_leaves(inputs)
    out = f(*leaves)
    if out.size != 1:
        raise ValueError("gradcheck: f must return one number, "
                         f"it returned shape {out.shape}")
    out.backward()
    numeric = numerical_gradient(f, leaves, eps)
    worst = GradcheckResult(True, 0.0, 0, (), 0.0, 0.0)
    for k, (x, n) in enumerate(zip(leaves, numeric)):
        a = np.zeros_like(n) if x.grad is None else np.asarray(x.grad.data)
        if a.shape != n.shape:
            nan = float("nan")
            return GradcheckResult(False, float("inf"), k, (), nan, nan)
        scale = np.maximum(np.maximum(np.abs(a), np.abs(n)), 1.0)
        error = np.abs(a - n) / scale
        error = np.where(np.isnan(error), np.inf, error)  # NaN: never close
        if error.size and error.max() >= worst.max_relative_error:
            i = np.unravel_index(int(np.argmax(error)), error.shape)
            worst = GradcheckResult(True, float(error[i]), k,
                                    tuple(int(j) for j in i),
                                    float(a[i]), float(n[i]))
    worst.ok = worst.max_relative_error <= tolerance
    return worst


def dot_product_test(f: Callable[..., Tensor], inputs: Sequence[object],
                     seed: int = 0, eps: float = 1e-6) -> float:
    """The gap between ⟨v, J u⟩ and ⟨Jᵀ v, u⟩ for random u and v.

    ``f`` may return a tensor of any shape. J u is estimated by a central
    difference along u; Jᵀ v is one backward pass with ``grad=v``. The gap
    is ``|forward - backward| / max(|forward|, |backward|, 1)``: a correct
    backward gives about 1e-9 in float64 or less, a wrong one a gap near 1.
    """
    rng = np.random.default_rng(seed)
    leaves = _as_float64_leaves(inputs)
    out = f(*leaves)
    v = rng.standard_normal(out.shape)
    out.backward(v)
    us = [rng.standard_normal(x.shape) for x in leaves]
    with no_grad():
        up = f(*[Tensor(x.data + eps * u) for x, u in zip(leaves, us)])
        down = f(*[Tensor(x.data - eps * u) for x, u in zip(leaves, us)])
    forward = float(np.sum(v * (up.data - down.data) / (2 * eps)))
    backward = float(sum(np.sum(x.grad.data * u)
                         for x, u in zip(leaves, us) if x.grad is not None))
    scale = max(abs(forward), abs(backward), 1.0)
    return abs(forward - backward) / scale

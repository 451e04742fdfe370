"""Optimisers that follow PyTorch's update rules: SGD and Adam.

SGD has momentum, Nesterov momentum and weight decay; Adam has weight decay.

Each follows PyTorch's update rule exactly (written out in its docstring). A
step changes the parameters' arrays in place, records nothing and keeps
their dtype; a parameter whose ``.grad`` is ``None`` is skipped, as in
PyTorch. Call ``zero_grad()`` (or set ``p.grad = None``) before the next
backward pass, since backward adds to ``.grad``.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from .tensor import Tensor

__all__ = ["Optimizer", "SGD", "Adam"]


class Optimizer:
    """What SGD and Adam share: parameters, their state, ``zero_grad``."""

    def __init__(self, params: Iterable[Any], lr: float) -> None:
        who = type(self).__name__
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{who}: params is empty; pass the model's "
                             "parameters()")
        for i, p in enumerate(self.params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{who}: parameter {i} is a "
                                f"{type(p).__name__}, not a tensor")
            if not p.requires_grad or not p.is_leaf:
                raise ValueError(f"{who}: parameter {i} (shape {p.shape}) "
                                 "must be a leaf tensor with "
                                 "requires_grad=True")
        if not lr >= 0:
            raise ValueError(f"{who}: lr must be a number >= 0, not {lr!r}")
        self.lr = lr
        self.state: list[dict[str, Any]] = [{} for _ in self.params]

    def zero_grad(self) -> None:
        """Forget every parameter's gradient."""
        for p in self.params:
            p.grad = None

    def _gradients(self) -> Iterable[tuple[Tensor, np.ndarray,
                                           dict[str, Any]]]:
        for p, state in zip(self.params, self.state):
            if p.grad is not None:
                yield p, np.asarray(p.grad.data, dtype=p.dtype), state


class SGD(Optimizer):
    """Stochastic gradient descent, as ``torch.optim.SGD`` (dampening 0).

    For each parameter p with gradient g, at step t::

        g ← g + weight_decay · p
        b ← g at t = 1, μ b + g after         (if momentum μ > 0)
        g ← g + μ b   (nesterov)   or   b   (otherwise)
        p ← p − lr · g
    """

    def __init__(self, params: Iterable[Any], lr: float,
                 momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        if momentum < 0 or weight_decay < 0:
            raise ValueError("SGD: momentum and weight_decay must be >= 0")
        if nesterov and momentum <= 0:
            raise ValueError("SGD: nesterov=True needs momentum > 0")
        self.momentum, self.nesterov = momentum, nesterov
        self.weight_decay = weight_decay

    def step(self) -> None:
        """Move every parameter that has a gradient one step."""
        mu = self.momentum
        for p, g, state in self._gradients():
            if self.weight_decay:
                g = g + self.weight_decay * p.data
            if mu:
                b = state.get("momentum")
                b = g.copy() if b is None else mu * b + g
                state["momentum"] = b
                g = g + mu * b if self.nesterov else b
            p.data -= self.lr * g


class Adam(Optimizer):
    """Adam (Kingma and Ba), as ``torch.optim.Adam`` (L2 weight decay, no
    amsgrad).

    For each parameter p with gradient g, at step t = 1, 2, ...::

        g ← g + weight_decay · p
        m ← β₁ m + (1 − β₁) g,   v ← β₂ v + (1 − β₂) g²   (both start at 0)
        p ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + eps)
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        beta1, beta2 = betas
        if not (0 <= beta1 < 1 and 0 <= beta2 < 1):
            raise ValueError(f"Adam: betas must lie in [0, 1), not {betas}")
        if eps < 0 or weight_decay < 0:
            raise ValueError("Adam: eps and weight_decay must be >= 0")
        self.betas, self.eps = (beta1, beta2), eps
        self.weight_decay = weight_decay

    def step(self) -> None:
        """Move every parameter that has a gradient one step."""
        beta1, beta2 = self.betas
        for p, g, state in self._gradients():
            if self.weight_decay:
                g = g + self.weight_decay * p.data
            if not state:
                state.update(t=0, m=np.zeros_like(p.data),
                             v=np.zeros_like(p.data))
            state["t"] += 1
            t, m, v = state["t"], state["m"], state["v"]
            m *= beta1
            m += (1 - beta1) * g
            v *= beta2
            v += (1 - beta2) * g * g
            denominator = np.sqrt(v) / np.sqrt(1 - beta2 ** t) + self.eps
            p.data -= (self.lr / (1 - beta1 ** t)) * m / denominator

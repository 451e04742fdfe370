"""Neural networks on top of ``ad``: modules, layers, activations and losses.

A :class:`Module` is any object with a ``forward``; its parameters are found
by looking at its attributes (tensors that require grad, nested modules, and
lists, tuples and dicts of them), so no registration is needed. Layers draw
their initial weights from a numpy ``Generator``: pass ``rng=``, or call
:func:`seed` once to make a whole notebook deterministic.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from .function import Function
from .ops import log_softmax, relu, sigmoid, tanh
from .tensor import Tensor

__all__ = ["seed", "Module", "Linear", "Sequential", "ReLU", "Tanh", "Sigmoid",
           "MLP", "mse_loss", "cross_entropy", "binary_cross_entropy_with_logits"]

_rng: np.random.Generator | None = None     # made at first use: see _default_rng


def seed(value: int) -> None:
    """Reset the generator that layers use when they are given no ``rng``."""
    global _rng
    _rng = np.random.default_rng(value)


def _default_rng() -> np.random.Generator:
    """The layers' generator, seeded with 0 until ``seed`` says otherwise
    (made on first use, so that ``import ad`` does not load numpy.random)."""
    global _rng
    if _rng is None:
        _rng = np.random.default_rng(0)
    return _rng


class Module:
    """A part of a model: call it to run its ``forward``.

    ``parameters()`` finds every tensor that requires grad among the
    module's attributes, in nested modules and in lists, tuples and dicts of
    them: each once, in the order the attributes were set.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            f"{type(self).__name__} does not define forward()")

    def named_parameters(self) -> Iterator[tuple[str, Tensor]]:
        """``(dotted name, tensor)`` for every parameter, in the order of
        ``parameters()``."""
        seen: set[int] = set()
        for name, value in vars(self).items():
            yield from _named(value, name, seen, {id(self)})

    def parameters(self) -> list[Tensor]:
        """Every tensor that requires grad in the attributes, each once."""
        return [p for _, p in self.named_parameters()]

    def zero_grad(self) -> None:
        """Forget the parameters' gradients (backward adds to them)."""
        for p in self.parameters():
            p.grad = None

    def state_dict(self) -> dict[str, np.ndarray]:
        """A copy of every parameter's array, by dotted name: save it with
        ``np.savez(file, **model.state_dict())``."""
        return {name: np.array(p.data)
                for name, p in self.named_parameters()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Copy arrays into the parameters, by name; the names and shapes
        must match exactly, and nothing changes unless all of them do."""
        own = dict(self.named_parameters())
        missing = [n for n in own if n not in state]
        unexpected = [n for n in state if n not in own]
        if missing or unexpected:
            raise KeyError(f"load_state_dict: missing {missing}, "
                           f"unexpected {unexpected}")
        values = {name: np.asarray(state[name]) for name in own}
        for name, p in own.items():
            if values[name].shape != p.shape:
                raise ValueError(f"load_state_dict: {name} has shape "
                                 f"{p.shape}, the state has shape "
                                 f"{values[name].shape}")
        for name, p in own.items():
            p.data[...] = values[name]


def _named(value: Any, name: str, seen: set[int],
           modules: set[int]) -> Iterator[tuple[str, Tensor]]:
    """The parameters in ``value``, named from ``name``; ``seen`` and
    ``modules`` hold the ids already met, so each is found once."""
    if isinstance(value, Tensor):
        if value.requires_grad and id(value) not in seen:
            seen.add(id(value))
            yield name, value
    elif isinstance(value, Module):
        if id(value) in modules:        # met again: shared, or a cycle
            return
        modules.add(id(value))
        for key, item in vars(value).items():
            yield from _named(item, f"{name}.{key}", seen, modules)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _named(item, f"{name}.{i}", seen, modules)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _named(item, f"{name}.{key}", seen, modules)


class Linear(Module):
    """y = x @ weight + bias, ``weight`` of shape ``(in_features,
    out_features)``.

    The weight is stored the way the book writes ``X @ W``: inputs along
    the first axis. (PyTorch's ``nn.Linear`` stores the transpose,
    ``(out, in)``.) Weight and bias start uniform in ±1/√in_features, as in
    PyTorch.
    """

    def __init__(self, in_features: int, out_features: int,
                 bias: bool = True, rng: np.random.Generator | None = None,
                 dtype: Any = np.float64) -> None:
        generator = _default_rng() if rng is None else rng
        bound = 1 / np.sqrt(in_features)

        def uniform(*shape: int) -> Tensor:
            values = generator.uniform(-bound, bound, shape).astype(dtype)
            return Tensor(values, requires_grad=True)

        self.weight = uniform(in_features, out_features)
        self.bias = uniform(out_features) if bias else None

    def forward(self, x: Any) -> Tensor:
        y = x @ self.weight
        return y if self.bias is None else y + self.bias

    def __repr__(self) -> str:
        n_in, n_out = self.weight.shape
        return f"Linear({n_in}, {n_out}, bias={self.bias is not None})"


class Sequential(Module):
    """Modules applied one after the other; their parameters are named
    ``0.weight``, ``0.bias``, ``2.weight``, ... by position."""

    def __init__(self, *modules: Module) -> None:
        for i, module in enumerate(modules):
            setattr(self, str(i), module)

    def __getitem__(self, i: int) -> Module:
        return list(vars(self).values())[i]

    def __len__(self) -> int:
        return len(vars(self))

    def __iter__(self) -> Iterator[Module]:
        return iter(vars(self).values())

    def forward(self, x: Any) -> Any:
        for module in self:
            x = module(x)
        return x

    def __repr__(self) -> str:
        return "Sequential(" + ", ".join(repr(m) for m in self) + ")"


class ReLU(Module):
    """max(x, 0), elementwise."""
    def forward(self, x: Any) -> Tensor:
        return relu(x)

    def __repr__(self) -> str:
        return "ReLU()"


class Tanh(Module):
    """tanh x, elementwise."""
    def forward(self, x: Any) -> Tensor:
        return tanh(x)

    def __repr__(self) -> str:
        return "Tanh()"


class Sigmoid(Module):
    """1 / (1 + e⁻ˣ), elementwise."""
    def forward(self, x: Any) -> Tensor:
        return sigmoid(x)

    def __repr__(self) -> str:
        return "Sigmoid()"


def MLP(sizes: Sequence[int], activation: type[Module] = ReLU,
        rng: np.random.Generator | None = None,
        dtype: Any = np.float64) -> Sequential:
    """Linear layers of the given sizes, with ``activation`` between them
    (none after the last)."""
    if len(sizes) < 2:
        raise ValueError("MLP: sizes must name at least an input and an "
                         f"output size, not {list(sizes)}")
    layers: list[Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        layers.append(Linear(n_in, n_out, rng=rng, dtype=dtype))
        if i < len(sizes) - 2:
            layers.append(activation())
    return Sequential(*layers)


# ----- losses (each the mean over the batch, as PyTorch's default reduction)

def _like(target: Any, pred: Tensor) -> Any:
    """Targets as plain arrays of the prediction's dtype (a float32 model
    stays float32)."""
    if isinstance(target, Tensor):
        if target.requires_grad:
            return target
        return target.data.astype(pred.dtype, copy=False)
    return np.asarray(target, dtype=pred.dtype)


def mse_loss(pred: Tensor, target: Any) -> Tensor:
    """mean((pred - target)²)."""
    target = _like(target, pred)
    if np.shape(target) != pred.shape:
        raise ValueError(f"mse_loss: pred has shape {pred.shape}, "
                         f"target {np.shape(target)}")
    return ((pred - target) ** 2).mean()


def cross_entropy(logits: Tensor, labels: Any) -> Tensor:
    """The mean over the batch of -log softmax(logits)[label]; ``labels``
    are class indices."""
    if isinstance(labels, Tensor):
        labels = labels.data
    labels = np.asarray(labels)
    n, classes = logits.shape if logits.ndim == 2 else (-1, -1)
    if logits.ndim != 2 or labels.shape != (n,):
        raise ValueError("cross_entropy: logits must have shape (batch, "
                         "classes) and labels (batch,); got "
                         f"{logits.shape} and {labels.shape}")
    if labels.dtype.kind not in "iu":
        whole = labels.dtype.kind == "f" and np.all(labels == np.round(labels))
        if not whole:
            raise TypeError("cross_entropy: labels must be integer class "
                            f"indices, not {labels.dtype}")
        labels = labels.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(f"cross_entropy: labels must lie in [0, {classes}), "
                         f"got {labels.min()} to {labels.max()}")
    picked = log_softmax(logits, axis=1)[np.arange(logits.shape[0]), labels]
    return -picked.mean()


class _Softplus(Function):
    """z = log(1 + eˣ), computed as logaddexp(0, x);  dz/dx = σ(x)"""
    name = "softplus"

    def forward(self, x):
        return np.logaddexp(0, x)

    def backward(self, x, grad):
        return (grad * sigmoid(x),)


def binary_cross_entropy_with_logits(logits: Tensor, targets: Any) -> Tensor:
    """mean(log(1 + eˣ) - x t): the cross-entropy of σ(x) against targets
    t in [0, 1].

    Written with a stable softplus, so logits of ±1000 give finite values and
    the gradient σ(x) - t.
    """
    targets = _like(targets, logits)
    if np.shape(targets) != logits.shape:
        raise ValueError("binary_cross_entropy_with_logits: logits have "
                         f"shape {logits.shape}, targets "
                         f"{np.shape(targets)}")
    return (_Softplus()(logits) - logits * targets).mean()

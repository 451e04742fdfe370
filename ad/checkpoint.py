"""Gradient checkpointing: recompute a block in backward instead of storing it.

``checkpoint(f, *args)`` runs ``f`` and keeps, for the backward pass, only
what ``f`` read (its tensor arguments and any tensors it uses from outside,
such as a layer's parameters) and what it returned. The arrays made inside
``f`` are freed at once; the backward pass runs ``f`` again to rebuild them.
Memory falls from one block's intermediates to none, for the price of a
second forward pass through the block (``torch.utils.checkpoint`` and
``jax.checkpoint`` make the same trade).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator

from . import function
from .function import Function
from .mode import enable_grad, is_grad_enabled
from .tensor import Tensor, gradients

__all__ = ["checkpoint"]


def checkpoint(f: Callable[..., Tensor], *args: Any) -> Tensor:
    """``f(*args)``, recomputed in the backward pass instead of stored.

    The result and its gradients are those of ``f(*args)``, first order and
    with ``create_graph=True``. The gradients reach the tensor arguments and
    every tensor ``f`` reads from elsewhere (a closure, a module's
    parameters). ``f`` must return one tensor and compute the same thing
    when it runs again (it reads the same values: do not change them in
    place between forward and backward). Under ``no_grad()`` it is a plain
    call.
    """
    if not is_grad_enabled():
        return _tensor_result(f(*args))
    start = next(function._sequence)
    with enable_grad():
        out = _tensor_result(f(*args))
    if out._node is None or out._node.sequence < start:
        return out           # nothing recorded inside f: nothing to save
    inputs = _read_from_outside(out, start)
    value = out.data
    del out                  # the block's graph and its arrays go here
    return _Checkpoint(f, args, value)(*inputs)


class _Checkpoint(Function):
    """z = f(inputs), with f run again in backward; dz/dx from that rerun"""
    name = "checkpoint"

    def __init__(self, f: Callable[..., Tensor], args: tuple[Any, ...],
                 value: Any) -> None:
        self.f, self.args, self.value = f, args, value

    def forward(self, *arrays: Any) -> Any:
        return self.value

    def backward(self, *inputs_and_grad: Any) -> tuple[Any, ...]:
        grad = inputs_and_grad[-1]
        recording = isinstance(grad, Tensor)
        with _cut_from_history(self.inputs), enable_grad():
            out = _tensor_result(self.f(*self.args))
            grads = gradients(out, self.inputs, grad,
                              create_graph=recording)
        return grads if recording else tuple(g.data for g in grads)

    def __repr__(self) -> str:
        return f"checkpoint({getattr(self.f, '__name__', 'f')})"


def _tensor_result(out: Any) -> Tensor:
    if not isinstance(out, Tensor):
        raise TypeError(f"checkpoint: f must return one tensor, not "
                        f"{type(out).__name__}")
    return out


def _read_from_outside(out: Tensor, start: int) -> list[Tensor]:
    """The tensors that need a gradient and that the graph of ``out`` reads
    from before ``start``: f's arguments and what it captured."""
    found: dict[int, Tensor] = {}
    seen = {id(out._node)}
    stack: list[Any] = [out._node]
    while stack:
        for x in stack.pop().inputs:
            if not isinstance(x, Tensor) or not x.requires_grad:
                continue
            node = x._node
            if node is None or node.sequence < start:
                found.setdefault(id(x), x)
            elif id(node) not in seen:
                seen.add(id(node))
                stack.append(node)
    return list(found.values())


@contextmanager
def _cut_from_history(tensors: tuple[Tensor, ...]) -> Iterator[None]:
    """Make ``tensors`` leaves for a while, so that the rerun's backward
    pass stops at them instead of walking on into the graph before them."""
    nodes = [t._node for t in tensors]
    try:
        for t in tensors:
            t._node = None
        yield
    finally:
        for t, node in zip(tensors, nodes):
            t._node = node

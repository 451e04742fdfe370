"""ad.checkpoint: the same gradients as the plain call, for much less memory.

References: the plain (unchecked) call through the same engine, bit for bit at
first order; finite differences and derivatives worked out by hand at higher
orders; ``torch.utils.checkpoint`` where torch is installed. Memory held between
forward and backward is measured with tracemalloc.
"""

from __future__ import annotations

import gc
import tracemalloc

import numpy as np
import pytest

import ad

rng = np.random.default_rng(11)


def stack_of(depth, width, dtype=np.float64):
    ad.nn.seed(3)
    return [ad.nn.Linear(width, width, dtype=dtype) for _ in range(depth)]


def block(h, layers):
    for layer in layers:
        h = ad.tanh(layer(h))
    return h


def forward(x, layers, segment=None):
    """The stack, plain (segment=None) or checkpointed every ``segment`` layers."""
    if segment is None:
        return block(x, layers)
    h = x
    for k in range(0, len(layers), segment):
        h = ad.checkpoint(block, h, layers[k:k + segment])
    return h


def parameters(layers):
    return [p for layer in layers for p in layer.parameters()]


@pytest.mark.parametrize("segment", [1, 2, 3, 6])
def test_first_order_gradients_are_identical(segment):
    layers = stack_of(6, 5)
    x = ad.tensor(rng.standard_normal((4, 5)), requires_grad=True)
    wanted = [x, *parameters(layers)]
    plain = ad.gradients((forward(x, layers) ** 2).sum(), wanted)
    checked = ad.gradients((forward(x, layers, segment) ** 2).sum(), wanted)
    for a, b in zip(plain, checked):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_backward_fills_grad_once_and_leaves_the_result_a_node():
    layers = stack_of(4, 3)
    x = ad.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    (forward(x, layers) ** 2).sum().backward()
    expected = [x.grad.numpy().copy()] + [p.grad.numpy().copy() for p in parameters(layers)]
    x.grad = None
    for p in parameters(layers):
        p.grad = None
    out = forward(x, layers, 2)
    assert out.grad_fn.name == "checkpoint"
    assert not out.is_leaf and out.requires_grad
    (out ** 2).sum().backward()
    got = [x.grad.numpy()] + [p.grad.numpy() for p in parameters(layers)]
    for a, b in zip(expected, got):
        np.testing.assert_array_equal(a, b)


def test_gradients_reach_captured_tensors_and_intermediate_inputs():
    w = ad.tensor(rng.standard_normal(3), requires_grad=True)
    x = ad.tensor(rng.standard_normal(3), requires_grad=True)
    h = ad.exp(x)                                  # an input with a history
    out = ad.checkpoint(lambda t: ad.sin(t * w), h)
    gx, gw = ad.gradients(out.sum(), [x, w])
    e = np.exp(x.numpy())
    np.testing.assert_allclose(gx.numpy(), np.cos(e * w.numpy()) * w.numpy() * e, rtol=1e-14)
    np.testing.assert_allclose(gw.numpy(), np.cos(e * w.numpy()) * e, rtol=1e-14)


def test_rerun_stops_at_the_inputs():
    """The backward pass of the rerun must not walk into the graph before the block."""
    calls = {"forward": 0, "backward": 0}

    class Counted(ad.Function):
        def forward(self, x):
            calls["forward"] += 1
            return 2 * x

        def backward(self, x, grad):
            calls["backward"] += 1
            return 2 * grad

    x = ad.tensor(rng.standard_normal(4), requires_grad=True)
    h = Counted()(x)
    out = x
    for _ in range(5):
        out = ad.checkpoint(lambda t: ad.tanh(t + h), out)
    out.sum().backward()
    assert calls == {"forward": 1, "backward": 1}


def test_f_runs_once_forward_and_once_in_backward():
    runs = []

    def f(t):
        runs.append(1)
        return ad.tanh(t) * 3

    x = ad.tensor([0.5, -1.0], requires_grad=True)
    out = ad.checkpoint(f, x)
    assert len(runs) == 1
    out.sum().backward()
    assert len(runs) == 2
    np.testing.assert_allclose(x.grad.numpy(), 3 * (1 - np.tanh(x.numpy()) ** 2), rtol=1e-15)


def test_create_graph_second_derivative_matches_plain_and_by_hand():
    x = ad.tensor(rng.standard_normal(5), requires_grad=True)

    def f(t):
        return ad.sin(t) * t

    for wrap in (lambda t: f(t), lambda t: ad.checkpoint(f, t)):
        (g,) = ad.gradients(wrap(x).sum(), [x], create_graph=True)
        (h,) = ad.gradients(g.sum(), [x])
        v = x.numpy()
        np.testing.assert_allclose(g.numpy(), np.cos(v) * v + np.sin(v), rtol=1e-14)
        np.testing.assert_allclose(h.numpy(), 2 * np.cos(v) - v * np.sin(v), rtol=1e-13)


def test_create_graph_through_a_checkpointed_network_matches_plain():
    layers = stack_of(4, 4)
    x = ad.tensor(rng.standard_normal((3, 4)), requires_grad=True)

    def gradient_norm(segment):
        (gx,) = ad.gradients((forward(x, layers, segment) ** 2).sum(), [x], create_graph=True)
        return ad.gradients((gx * gx).sum(), [x, *parameters(layers)])

    for a, b in zip(gradient_norm(None), gradient_norm(2)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-15)


def test_third_derivative_through_nested_grad():
    def f(x):
        return ad.checkpoint(lambda t: ad.exp(t) * ad.sin(t), x)

    third = ad.grad(ad.grad(ad.grad(f)))(0.7)
    x = 0.7     # (e^x sin x)''' = 2 e^x (cos x - sin x)
    np.testing.assert_allclose(third.item(), 2 * np.exp(x) * (np.cos(x) - np.sin(x)), rtol=1e-13)


def test_second_derivative_against_finite_differences():
    def f(t):
        return ad.checkpoint(lambda u: (ad.tanh(u) ** 3).sum(), t)

    x0 = rng.standard_normal(3)
    v = rng.standard_normal(3)
    hv = ad.hvp(f, x0, v)
    h = 1e-5
    gp = ad.grad(f)(x0 + h * v).numpy()
    gm = ad.grad(f)(x0 - h * v).numpy()
    np.testing.assert_allclose(hv.numpy(), (gp - gm) / (2 * h), rtol=1e-7, atol=1e-9)


def test_nested_checkpoints():
    layers = stack_of(4, 3)
    x = ad.tensor(rng.standard_normal((2, 3)), requires_grad=True)

    def outer(t):
        return ad.checkpoint(block, ad.checkpoint(block, t, layers[:2]), layers[2:])

    wanted = [x, *parameters(layers)]
    plain = ad.gradients(forward(x, layers).sum(), wanted)
    nested = ad.gradients(ad.checkpoint(outer, x).sum(), wanted)
    for a, b in zip(plain, nested):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_float32_stays_float32():
    layers = stack_of(3, 4, np.float32)
    x = ad.tensor(rng.standard_normal((2, 4)), dtype=np.float32, requires_grad=True)
    out = forward(x, layers, 1)
    assert out.dtype == np.float32
    (out ** 2).sum().backward()
    assert x.grad.dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in parameters(layers))


def test_zero_d_and_size_zero_inputs():
    x = ad.tensor(0.3, requires_grad=True)
    ad.checkpoint(lambda t: t * t * t, x).backward()
    np.testing.assert_allclose(x.grad.item(), 3 * 0.3 ** 2, rtol=1e-15)
    empty = ad.tensor(np.zeros((0, 3)), requires_grad=True)
    ad.checkpoint(lambda t: ad.tanh(t), empty).sum().backward()
    assert empty.grad.shape == (0, 3)


def test_non_tensor_arguments_are_constants():
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    out = ad.checkpoint(lambda t, scale, offset: t * scale + offset, x, 3.0, np.array([1.0, 1.0]))
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


def test_nothing_to_record_returns_the_plain_result():
    x = ad.tensor([1.0, 2.0])                   # no gradient needed
    out = ad.checkpoint(ad.tanh, x)
    assert out.is_leaf and not out.requires_grad
    y = ad.tensor([1.0, 2.0], requires_grad=True)
    assert ad.checkpoint(lambda t: t, y) is y   # f returned its input
    with ad.no_grad():
        z = ad.checkpoint(ad.tanh, y)
    assert z.is_leaf and not z.requires_grad


@pytest.mark.parametrize("result", [[1.0, 2.0], np.ones(2), 3.0, None, (1, 2)])
def test_f_must_return_a_tensor(result):
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    message = f"checkpoint: f must return one tensor, not {type(result).__name__}"
    with pytest.raises(TypeError, match=message):
        ad.checkpoint(lambda t: result, x)
    with ad.no_grad(), pytest.raises(TypeError, match="checkpoint: f must return one tensor"):
        ad.checkpoint(lambda t: result, x)


def test_a_rerun_that_fails_leaves_the_graph_intact():
    state = {"fail": False}

    def f(t):
        if state["fail"]:
            raise RuntimeError("rerun failed")
        return t * 2

    x = ad.tensor([1.0], requires_grad=True)
    h = ad.exp(x)
    out = ad.checkpoint(f, h).sum()
    node = h._node
    state["fail"] = True
    with pytest.raises(RuntimeError, match="rerun failed"):
        out.backward()
    assert h._node is node                      # its history was given back
    state["fail"] = False
    ad.checkpoint(f, h).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.exp(1.0), rtol=1e-15)


def held_between_forward_and_backward(segment, depth=32, width=256, batch=128):
    """Bytes allocated by the forward pass and still alive before backward."""
    layers = stack_of(depth, width)
    x = ad.tensor(rng.standard_normal((batch, width)), requires_grad=True)
    gc.collect()
    gc.disable()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        loss = (forward(x, layers, segment) ** 2).sum()
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        gc.enable()
    loss.backward()                              # still works after the measurement
    assert x.grad.shape == x.shape
    return after - before


def test_memory_held_for_backward_is_a_small_fraction():
    plain = held_between_forward_and_backward(None)
    one_array = 128 * 256 * 8
    # plain keeps about three arrays per layer (the product, the sum, the tanh)
    assert plain > 2.5 * 32 * one_array
    checked = held_between_forward_and_backward(4)
    # checkpointed: one output per segment of four layers (8 of them), and little else
    assert checked < 0.15 * plain, (checked, plain)
    assert checked < 12 * one_array, (checked, one_array)


def test_matches_torch_utils_checkpoint():
    torch = pytest.importorskip("torch")
    from torch.utils.checkpoint import checkpoint as torch_checkpoint

    w = rng.standard_normal((4, 4))
    x0 = rng.standard_normal((3, 4))
    aw = ad.tensor(w, requires_grad=True)
    ax = ad.tensor(x0, requires_grad=True)
    out = ad.checkpoint(lambda t: ad.tanh(t @ aw), ax)
    ad.checkpoint(lambda t: ad.sin(t @ aw), out).sum().backward()

    tw = torch.tensor(w, requires_grad=True)
    tx = torch.tensor(x0, requires_grad=True)
    tout = torch_checkpoint(lambda t: torch.tanh(t @ tw), tx, use_reentrant=False)
    torch_checkpoint(lambda t: torch.sin(t @ tw), tout, use_reentrant=False).sum().backward()
    np.testing.assert_allclose(ax.grad.numpy(), tx.grad.numpy(), rtol=1e-13)
    np.testing.assert_allclose(aw.grad.numpy(), tw.grad.numpy(), rtol=1e-13)

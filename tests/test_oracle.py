"""Agreement with an independent engine: HIPS autograd as an oracle.

Each composite function is written once, against a namespace ``ns`` of numpy-like
functions; it runs on ``ad`` tensors with ``ns = AD`` and on autograd's traced
arrays with ``ns = AG``. Values and every input's gradient must agree to a
relative error of 1e-10 (float64, random data from a seeded generator).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Callable

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad as autograd_grad

import ad

TOLERANCE = 1e-10

AD = SimpleNamespace(
    exp=ad.exp, log=ad.log, sqrt=ad.sqrt, tanh=ad.tanh, sin=ad.sin, cos=ad.cos, abs=ad.abs,
    sigmoid=ad.sigmoid, relu=ad.relu, maximum=ad.maximum, where=ad.where,
    sum=ad.sum, mean=ad.mean, max=ad.max, reshape=ad.reshape, transpose=ad.transpose,
    concatenate=ad.concatenate, stack=ad.stack,
    logsumexp=ad.logsumexp, softmax=ad.softmax, log_softmax=ad.log_softmax,
)


def _autograd_logsumexp(x, axis=-1, keepdims=False):
    return anp.log(anp.sum(anp.exp(x), axis=axis, keepdims=keepdims))


AG = SimpleNamespace(
    exp=anp.exp, log=anp.log, sqrt=anp.sqrt, tanh=anp.tanh, sin=anp.sin, cos=anp.cos, abs=anp.abs,
    sigmoid=lambda x: 1 / (1 + anp.exp(-x)),
    relu=lambda x: anp.maximum(x, 0.0),
    maximum=anp.maximum, where=anp.where,
    sum=anp.sum, mean=anp.mean, max=anp.max, reshape=anp.reshape, transpose=anp.transpose,
    concatenate=anp.concatenate, stack=anp.stack,
    logsumexp=_autograd_logsumexp,
    softmax=lambda x, axis=-1: anp.exp(x - _autograd_logsumexp(x, axis, keepdims=True)),
    log_softmax=lambda x, axis=-1: x - _autograd_logsumexp(x, axis, keepdims=True),
)


# ----- constants the functions close over (labels, masks, targets)

_constants = np.random.default_rng(2024)
LABELS = _constants.integers(0, 5, size=8)
ROWS = np.arange(8)
TARGETS = _constants.standard_normal((8, 3))
BINARY_TARGETS = (_constants.random(8) > 0.5).astype(float)
MASK = _constants.standard_normal((4, 3)) > 0
PROBABILITIES = np.abs(_constants.standard_normal((4, 6)))
PROBABILITIES /= PROBABILITIES.sum(axis=1, keepdims=True)


# ----- the composite functions: f(ns, *arrays) -> scalar

def mlp_tanh_squared_output(ns, x, w1, b1, w2, b2):
    hidden = ns.tanh(x @ w1 + b1)
    return ns.mean((hidden @ w2 + b2) ** 2)


def mlp_relu_three_layers(ns, x, w1, b1, w2, b2, w3):
    h1 = ns.relu(x @ w1 + b1)
    h2 = ns.relu(h1 @ w2 + b2)
    return ns.sum(h2 @ w3)


def mlp_sigmoid_mse(ns, x, w1, b1, w2):
    prediction = ns.sigmoid(x @ w1 + b1) @ w2
    return ns.mean((prediction - TARGETS) ** 2)


def softmax_cross_entropy(ns, logits):
    return -ns.mean(ns.log_softmax(logits, axis=-1)[ROWS, LABELS])


def mlp_softmax_cross_entropy(ns, x, w1, b1, w2, b2):
    logits = ns.tanh(x @ w1 + b1) @ w2 + b2
    return -ns.sum(ns.log_softmax(logits, axis=1)[ROWS, LABELS]) / len(LABELS)


def softmax_squared_error(ns, logits):
    return ns.sum((ns.softmax(logits, axis=-1) - PROBABILITIES) ** 2)


def cross_entropy_with_soft_targets(ns, logits):
    return -ns.sum(PROBABILITIES * ns.log_softmax(logits, axis=0))


def logistic_regression_loss(ns, x, w, b):
    p = ns.sigmoid(x @ w + b)
    return -ns.mean(BINARY_TARGETS * ns.log(p) + (1 - BINARY_TARGETS) * ns.log(1 - p))


def logsumexp_over_axes(ns, x):
    return ns.sum(ns.logsumexp(x, axis=0)) + ns.sum(ns.logsumexp(x, axis=1, keepdims=True) * x)


def reductions_with_axes(ns, x, w):
    return (ns.sum(ns.mean(x, axis=0) ** 2) + ns.sum(ns.max(x, axis=1) * w)
            + ns.mean(x) * ns.sum(x, axis=(0, 1)) + ns.sum(ns.max(x, axis=0, keepdims=True) * x))


def rbf_kernel_broadcasting(ns, x, y):
    differences = x[:, None, :] - y[None, :, :]
    return ns.sum(ns.exp(-ns.sum(differences ** 2, axis=-1)))


def layer_norm(ns, x, gamma, beta):
    mean = ns.mean(x, axis=-1, keepdims=True)
    variance = ns.mean((x - mean) ** 2, axis=-1, keepdims=True)
    y = (x - mean) / ns.sqrt(variance + 1e-5) * gamma + beta
    return ns.sum(ns.tanh(y) * ns.cos(y))


def slicing_and_integer_indexing(ns, x, w):
    return (ns.sum(x[1:3] ** 2) + ns.sum(x[:, 0] * x[:, 1])
            + ns.sum(x[[0, 0, 2, 3, 3, 3]] * w) + ns.sum(x[-1, ::-1] ** 3))


def boolean_mask_indexing(ns, x):
    return ns.sum(x[MASK] ** 3) + ns.sum(ns.exp(x[~MASK]))


def concatenate_then_matmul(ns, x, y, w):
    joined = ns.concatenate([x, y * 2, x * y], axis=1)
    return ns.sum(ns.tanh(joined @ w))


def stack_and_reduce(ns, x, y):
    stacked = ns.stack([x, ns.sin(y), x * y], axis=1)
    return ns.sum(ns.max(stacked, axis=1) ** 2) + ns.sum(stacked[:, 2])


def where_and_maximum(ns, x, y):
    return ns.sum(ns.where(MASK, x ** 2, ns.sin(x)) + ns.maximum(x, y) * y + ns.maximum(x, 0.1))


def powers(ns, x, y):
    return ns.sum(x ** y) + ns.sum(2 ** y) + ns.sum(x ** 3) + ns.sum(x ** -0.5) + ns.sum(y ** 2 / x)


def matmul_chain(ns, v, a, b, c):
    return v @ a @ b @ c @ v


def batched_matmul_broadcasting(ns, x, y, z):
    return ns.sum(ns.tanh(x @ y) @ z)


def attention(ns, q, k, v, w):
    scores = ns.softmax(q @ k.T / np.sqrt(q.shape[-1]), axis=-1)
    return ns.sum((scores @ v) * w)


def quadratic_form_with_reflected_ops(ns, x, a):
    return 1 / (1 + x @ a @ x) + 2 - x @ x + 3 * ns.sum(x) - ns.sum(2 / (1 + x * x))


def elementwise_zoo(ns, x, y):
    return ns.sum(ns.sin(x) * ns.cos(y) + ns.abs(x) * ns.sqrt(y) + ns.log(y) - ns.exp(-x) + -x)


def reshape_and_transpose(ns, x, w, t):
    matrix = ns.reshape(x, (8, 3)).T @ w
    return ns.sum(matrix ** 2) + ns.sum(ns.transpose(t, (2, 0, 1)) * ns.reshape(x, (4, 2, 3)))


def recurrent_network(ns, xs, h0, w, u):
    h = h0
    for step in range(4):
        h = ns.tanh(h @ w + xs[step] @ u)
    return ns.sum(h ** 2)


def normalised_projection(ns, x, w):
    return (x / ns.sqrt(ns.sum(x ** 2))) @ w


def diamond_and_reuse(ns, x):
    a = ns.exp(x)
    b = a * a + ns.sin(a)
    return ns.sum(b * a + ns.tanh(b))


@dataclass
class Case:
    fn: Callable[..., object]
    shapes: list[tuple[int, ...]]
    positive: tuple[int, ...] = ()  # indices of inputs drawn from [0.5, 2)


CASES = [
    Case(mlp_tanh_squared_output, [(8, 5), (5, 6), (6,), (6, 3), (3,)]),
    Case(mlp_relu_three_layers, [(8, 5), (5, 6), (6,), (6, 4), (4,), (4,)]),
    Case(mlp_sigmoid_mse, [(8, 5), (5, 6), (6,), (6, 3)]),
    Case(softmax_cross_entropy, [(8, 5)]),
    Case(mlp_softmax_cross_entropy, [(8, 4), (4, 6), (6,), (6, 5), (5,)]),
    Case(softmax_squared_error, [(4, 6)]),
    Case(cross_entropy_with_soft_targets, [(4, 6)]),
    Case(logistic_regression_loss, [(8, 3), (3,), ()]),
    Case(logsumexp_over_axes, [(4, 5)]),
    Case(reductions_with_axes, [(4, 5), (4,)]),
    Case(rbf_kernel_broadcasting, [(4, 3), (5, 3)]),
    Case(layer_norm, [(4, 6), (6,), (6,)]),
    Case(slicing_and_integer_indexing, [(4, 3), (6, 3)]),
    Case(boolean_mask_indexing, [(4, 3)]),
    Case(concatenate_then_matmul, [(4, 3), (4, 3), (9, 5)]),
    Case(stack_and_reduce, [(4, 3), (4, 3)]),
    Case(where_and_maximum, [(4, 3), (3,)]),
    Case(powers, [(4, 3), (3,)], positive=(0,)),
    Case(matmul_chain, [(4,), (4, 3), (3, 5), (5, 4)]),
    Case(batched_matmul_broadcasting, [(2, 1, 3, 4), (5, 4, 2), (2, 1)]),
    Case(attention, [(5, 4), (6, 4), (6, 3), (5, 3)]),
    Case(quadratic_form_with_reflected_ops, [(4,), (4, 4)]),
    Case(elementwise_zoo, [(4, 3), (4, 3)], positive=(1,)),
    Case(reshape_and_transpose, [(12, 2), (8, 2), (2, 3, 4)]),
    Case(recurrent_network, [(4, 2, 3), (2, 5), (5, 5), (3, 5)]),
    Case(normalised_projection, [(6,), (6,)]),
    Case(diamond_and_reuse, [(3, 2)]),
]


def make_inputs(case: Case, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.uniform(0.5, 2.0, shape) if i in case.positive else rng.standard_normal(shape)
            for i, shape in enumerate(case.shapes)]


def relative_error(actual, expected) -> float:
    actual, expected = np.asarray(actual), np.asarray(expected)
    scale = np.max(np.abs(expected)) if expected.size else 0.0
    return float(np.max(np.abs(actual - expected)) / scale) if scale else float(np.max(np.abs(actual)))


def run_ad(fn, arrays):
    leaves = [ad.tensor(a, requires_grad=True) for a in arrays]
    out = fn(AD, *leaves)
    out.backward()
    return out.item(), [x.grad for x in leaves]


def run_autograd(fn, arrays):
    value = fn(AG, *arrays)
    grads = autograd_grad(lambda args: fn(AG, *args))(list(arrays))
    return float(value), grads


def test_there_are_at_least_twenty_functions():
    assert len(CASES) >= 20


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("case", CASES, ids=[c.fn.__name__ for c in CASES])
def test_agrees_with_autograd(case, seed):
    arrays = make_inputs(case, seed)
    value, grads = run_ad(case.fn, arrays)
    expected_value, expected_grads = run_autograd(case.fn, arrays)
    assert relative_error(value, expected_value) <= TOLERANCE
    for i, (g, expected) in enumerate(zip(grads, expected_grads)):
        assert g is not None, f"input {i} got no gradient"
        assert g.shape == np.shape(arrays[i]) and g.dtype == np.float64
        error = relative_error(g.data, expected)
        assert error <= TOLERANCE, f"input {i}: relative error {error:.2e}"


def test_the_oracle_would_notice_a_difference():
    """A deliberately different function must not pass the comparison."""
    arrays = make_inputs(CASES[0], 0)
    _, grads = run_ad(mlp_tanh_squared_output, arrays)
    _, wrong = run_autograd(lambda ns, x, w1, b1, w2, b2: ns.mean((ns.tanh(x @ w1 + b1) @ w2) ** 2),
                            arrays)
    assert relative_error(grads[1].data, wrong[1]) > 1e-3

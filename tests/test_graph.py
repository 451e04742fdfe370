"""The backward pass over whole graphs.

Shapes of graphs (diamonds, reuse, deep chains), the cost of a backward pass
(exactly one ``backward`` call per node), ``no_grad``, ``requires_grad``,
accumulation, ``retain_grad``, ``detach``, derivatives of derivatives, freeing by
reference counting, and the dtype of gradients.
"""

from __future__ import annotations

import gc
import math
import sys
import weakref
from collections import Counter

import numpy as np
import pytest

import ad
import ad.ops


def normal(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.fixture
def backward_calls(monkeypatch):
    """Count calls of ``backward`` per op class, for the classes passed to ``count``."""
    calls: Counter[str] = Counter()

    def count(*classes):
        for cls in classes:
            original = cls.backward

            def counting(self, *args, _original=original, _name=cls.__name__):
                calls[_name] += 1
                return _original(self, *args)

            monkeypatch.setattr(cls, "backward", counting)
        return calls

    return count


# ----- shapes of graphs

def test_diamond():
    values = normal((5,))
    x = ad.tensor(values, requires_grad=True)
    a, b = ad.exp(x), ad.sin(x)
    (a * b).sum().backward()
    expected = np.exp(values) * np.sin(values) + np.exp(values) * np.cos(values)
    np.testing.assert_allclose(x.grad.data, expected, rtol=1e-14)


def test_diamond_visits_each_node_once(backward_calls):
    calls = backward_calls(ad.ops.Exp, ad.ops.Sin, ad.ops.Mul, ad.ops.Sum)
    x = ad.tensor(normal((5,)), requires_grad=True)
    (ad.exp(x) * ad.sin(x)).sum().backward()
    assert calls == {"Exp": 1, "Sin": 1, "Mul": 1, "Sum": 1}


def test_the_same_input_twice():
    values = normal((5,))
    x = ad.tensor(values, requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.data, 2 * values, rtol=1e-15)


SAME_INPUT_TWICE = {
    "x + x": (lambda x: x + x, lambda v: 2 + 0 * v),
    "x - x": (lambda x: x - x, lambda v: 0 * v),
    "x / x": (lambda x: x / x, lambda v: 0 * v),
    "x ** x": (lambda x: x ** x, lambda v: v ** v * (np.log(v) + 1)),
    "x @ x": (lambda x: x @ x, lambda v: 2 * v),
    "maximum(x, x)": (lambda x: ad.maximum(x, x), lambda v: 1 + 0 * v),
}


@pytest.mark.parametrize("name", SAME_INPUT_TWICE)
def test_the_same_input_on_both_sides_of_a_binary_op(name):
    op, derivative = SAME_INPUT_TWICE[name]
    values = np.abs(normal((5,))) + 0.5
    x = ad.tensor(values, requires_grad=True)
    op(x).sum().backward()
    np.testing.assert_allclose(x.grad.data, derivative(values), rtol=1e-13, atol=1e-15)


def test_a_node_reused_by_many_consumers(backward_calls):
    calls = backward_calls(ad.ops.Tanh)
    values = normal((3,))
    x = ad.tensor(values, requires_grad=True)
    h = ad.tanh(x)
    total = h * 1.0
    for k in range(2, 51):
        total = total + h * float(k)
    total.sum().backward()
    assert calls["Tanh"] == 1
    np.testing.assert_allclose(x.grad.data, (1 - np.tanh(values) ** 2) * sum(range(1, 51)), rtol=1e-13)


def test_deep_chain_at_the_default_recursion_limit(backward_calls):
    calls = backward_calls(ad.ops.Mul)
    limit = sys.getrecursionlimit()
    x = ad.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.00001
    y.backward()
    assert sys.getrecursionlimit() == limit
    assert calls["Mul"] == 100_000
    np.testing.assert_allclose(x.grad.item(), 1.00001 ** 100_000, rtol=1e-10)
    np.testing.assert_allclose(y.item(), 1.00001 ** 100_000, rtol=1e-10)
    del y  # freeing the chain must not recurse either
    assert sys.getrecursionlimit() == limit


def _y_squared_plus_y(x0: float, steps: int) -> tuple[float, float]:
    """y = y*y + y, `steps` times, and dy/dx by the chain rule, in plain Python floats."""
    y, dy = x0, 1.0
    for _ in range(steps):
        y, dy = y * y + y, dy * (2 * y + 1)
    return y, dy


def test_twenty_steps_of_y_squared_plus_y_cost_one_call_per_node(backward_calls):
    calls = backward_calls(ad.ops.Mul, ad.ops.Add)
    x = ad.tensor(0.01, requires_grad=True)
    y = x
    for _ in range(20):
        y = y * y + y
    y.backward()
    assert calls == {"Mul": 20, "Add": 20}
    expected_value, expected_grad = _y_squared_plus_y(0.01, 20)
    assert math.isclose(y.item(), expected_value, rel_tol=1e-13)
    assert math.isclose(x.grad.item(), expected_grad, rel_tol=1e-13)


@pytest.mark.parametrize("steps", [1, 5, 20, 60])
def test_backward_calls_grow_linearly_with_the_number_of_steps(backward_calls, steps):
    calls = backward_calls(ad.ops.Mul, ad.ops.Add)
    x = ad.tensor(-0.3, requires_grad=True)
    y = x
    for _ in range(steps):
        y = y * y + y
    y.backward()
    assert sum(calls.values()) == 2 * steps
    assert math.isclose(x.grad.item(), _y_squared_plus_y(-0.3, steps)[1], rel_tol=1e-12)


# ----- what gets a gradient

def test_no_grad_records_nothing():
    x = ad.tensor(normal((3,)), requires_grad=True)
    assert ad.is_grad_enabled()
    with ad.no_grad():
        assert not ad.is_grad_enabled()
        y = (x * 2).exp().sum()
    assert ad.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf
    assert (x * 2).requires_grad


def test_no_grad_nests_and_survives_an_exception():
    with pytest.raises(ZeroDivisionError):
        with ad.no_grad():
            with ad.no_grad():
                pass
            assert not ad.is_grad_enabled()
            raise ZeroDivisionError
    assert ad.is_grad_enabled()


def test_inputs_that_do_not_require_grad_get_none():
    x = ad.tensor(normal((3,)), requires_grad=True)
    constant = ad.tensor(normal((3,), seed=1))
    (x * constant + constant.exp()).sum().backward()
    assert constant.grad is None
    np.testing.assert_array_equal(x.grad.data, constant.data)


def test_a_branch_without_grad_is_not_walked(backward_calls):
    calls = backward_calls(ad.ops.Exp, ad.ops.Mul)
    x = ad.tensor(normal((3,)), requires_grad=True)
    constant = ad.tensor(normal((3,), seed=1))
    (x * constant.exp()).sum().backward()
    assert calls == {"Mul": 1}


def test_intermediate_results_keep_no_grad():
    x = ad.tensor(normal((3,)), requires_grad=True)
    h = x * 2
    (h * h).sum().backward()
    assert h.grad is None


def test_gradients_accumulate_across_backward_calls_until_reset():
    values = normal((4,))
    x = ad.tensor(values, requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.data, 2 * values)
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.data, 4 * values)
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.data, 4 * values + 3)
    x.grad = None
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.data, 2 * values)


def test_retain_grad_on_an_intermediate():
    values = normal((4,))
    x = ad.tensor(values, requires_grad=True)
    h = (x * 2).retain_grad()
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad.data, 2 * (2 * values))
    np.testing.assert_allclose(x.grad.data, 8 * values)


def test_detach_cuts_the_graph_and_shares_the_data():
    values = normal((4,))
    x = ad.tensor(values, requires_grad=True)
    h = x * 2
    d = h.detach()
    assert not d.requires_grad and d.is_leaf
    assert np.shares_memory(d.data, h.data)
    (d * x).sum().backward()
    np.testing.assert_allclose(x.grad.data, 2 * values)  # not 4x: nothing flows through d
    assert d.grad is None


def test_a_leaf_that_is_the_output():
    x = ad.tensor(3.0, requires_grad=True)
    x.backward()
    assert x.grad.item() == 1.0


def test_backward_with_an_explicit_grad():
    values, weights = normal((3, 4)), normal((3, 4), seed=1)
    x = ad.tensor(values, requires_grad=True)
    ad.tanh(x).backward(weights)
    np.testing.assert_allclose(x.grad.data, weights * (1 - np.tanh(values) ** 2), rtol=1e-14)


def test_the_default_backward_does_not_record():
    x = ad.tensor(normal((3,)), requires_grad=True)
    ad.tanh(x).sum().backward()
    assert not x.grad.requires_grad and x.grad.is_leaf


# ----- derivatives of derivatives

SECOND_DERIVATIVES = {
    "tanh": (ad.tanh, lambda v: 1 - np.tanh(v) ** 2,
             lambda v: -2 * np.tanh(v) * (1 - np.tanh(v) ** 2)),
    "exp": (ad.exp, np.exp, np.exp),
    "sin": (ad.sin, np.cos, lambda v: -np.sin(v)),
    "cos": (ad.cos, lambda v: -np.sin(v), lambda v: -np.cos(v)),
    "x**3": (lambda x: x ** 3, lambda v: 3 * v ** 2, lambda v: 6 * v),
    "log": (ad.log, lambda v: 1 / v, lambda v: -1 / v ** 2),
    "sqrt": (ad.sqrt, lambda v: 0.5 / np.sqrt(v), lambda v: -0.25 * v ** -1.5),
    "sigmoid": (ad.sigmoid, lambda v: np.exp(-v) / (1 + np.exp(-v)) ** 2,
                lambda v: np.exp(-v) * (np.exp(-v) - 1) / (1 + np.exp(-v)) ** 3),
    "1/x": (lambda x: 1 / x, lambda v: -1 / v ** 2, lambda v: 2 / v ** 3),
}


@pytest.mark.parametrize("name", SECOND_DERIVATIVES)
def test_second_derivative(name):
    f, first, second = SECOND_DERIVATIVES[name]
    values = np.random.default_rng(0).uniform(0.3, 2.0, 6)
    x = ad.tensor(values, requires_grad=True)
    f(x).sum().backward(create_graph=True)
    g = x.grad
    assert g.requires_grad
    np.testing.assert_allclose(g.data, first(values), rtol=1e-13)
    x.grad = None
    g.sum().backward()
    np.testing.assert_allclose(x.grad.data, second(values), rtol=1e-12)


def _hessian(f, values):
    """Rows of the Hessian of scalar f, by differentiating each component of the gradient."""
    x = ad.tensor(values, requires_grad=True)
    f(x).backward(create_graph=True)
    g = x.grad
    rows = []
    for i in range(len(values)):
        x.grad = None
        g[i].backward()
        rows.append(x.grad.data)
    return g.data, np.array(rows)


def test_hessian_of_a_quadratic_form():
    a = normal((4, 4), seed=1)
    values = normal((4,))
    gradient, hessian = _hessian(lambda x: x @ a @ x, values)
    np.testing.assert_allclose(gradient, (a + a.T) @ values, rtol=1e-13)
    np.testing.assert_allclose(hessian, a + a.T, rtol=1e-13)


def test_hessian_of_logsumexp():
    values = normal((5,))
    gradient, hessian = _hessian(ad.logsumexp, values)
    s = np.exp(values) / np.exp(values).sum()
    np.testing.assert_allclose(gradient, s, rtol=1e-13)
    np.testing.assert_allclose(hessian, np.diag(s) - np.outer(s, s), rtol=1e-12, atol=1e-15)


def test_hessian_through_matmul_and_tanh():
    """f(x) = sum(tanh(W x)): H = Wᵀ diag(-2 tanh(Wx)(1 - tanh²(Wx))) W."""
    w, values = normal((3, 4), seed=1), normal((4,))
    _, hessian = _hessian(lambda x: ad.tanh(w @ x).sum(), values)
    t = np.tanh(w @ values)
    np.testing.assert_allclose(hessian, w.T @ np.diag(-2 * t * (1 - t ** 2)) @ w, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("f, third", [
    (lambda x: x ** 4, lambda v: 24 * v),
    (ad.sin, lambda v: -np.cos(v)),
    (ad.exp, np.exp),
    (lambda x: ad.tanh(x), lambda v: -2 * (1 - np.tanh(v) ** 2) * (1 - 3 * np.tanh(v) ** 2)),
], ids=["x**4", "sin", "exp", "tanh"])
def test_third_derivative(f, third):
    values = np.array([0.3, -0.7, 1.2])
    x = ad.tensor(values, requires_grad=True)
    f(x).sum().backward(create_graph=True)
    first, x.grad = x.grad, None
    first.sum().backward(create_graph=True)
    second, x.grad = x.grad, None
    second.sum().backward()
    np.testing.assert_allclose(x.grad.data, third(values), rtol=1e-12)


def _gradient(f, values, create_graph=False):
    x = ad.tensor(values, requires_grad=True)
    f(x).backward(create_graph=create_graph)
    return x, x.grad


_W = normal((3, 4), seed=11)
_M = normal((4, 2), seed=12)
_MASK = normal((3, 4), seed=13) > 0
HESSIAN_VECTOR_CASES = {  # scalar functions of a (3, 4) input
    "exp log sqrt": lambda x: (ad.exp(x) * _W + ad.log(x * x + 1) + ad.sqrt(x * x + 1)).sum(),
    "tanh sigmoid": lambda x: (ad.tanh(x) * ad.sigmoid(x) * _W).sum(),
    "sin cos": lambda x: (ad.sin(x) * ad.cos(2 * x) * _W).sum(),
    "relu abs": lambda x: (ad.relu(x) * x + ad.abs(x) * x * _W).sum(),
    "div and pow": lambda x: (1 / (x * x + 1) + (x * x + 1) ** x + 2 ** x).sum(),
    "matmul": lambda x: ((x @ _M) ** 2).sum() + (x[0] @ _M @ _M.T @ x[1]) ** 2,
    "batched matmul": lambda x: ((x.reshape(3, 2, 2) @ x.reshape(3, 2, 2)) ** 2).sum(),
    "reductions": lambda x: ((x.sum(axis=0) ** 2).sum() + (x.mean(axis=1, keepdims=True) ** 2 * _W).sum()
                             + (x.max(axis=1) ** 3).sum()),
    "maximum and where": lambda x: ((ad.maximum(x, 0.5 * x.T.T + 0.1) ** 2
                                     + ad.where(_MASK, x ** 2, x ** 3)) * _W).sum(),
    "softmax family": lambda x: ((ad.softmax(x) ** 2 + ad.log_softmax(x, axis=0) ** 2) * _W).sum()
                                + (ad.logsumexp(x, axis=1) ** 2).sum(),
    "shapes": lambda x: ((x.reshape(4, 3).T * x) ** 2).sum() + (ad.swapaxes(x, 0, 1) ** 3 * _W.T).sum(),
    "indexing": lambda x: (x[[0, 0, 2]] ** 3).sum() + (x[_MASK] ** 3).sum() + (x[1:, ::2] ** 3).sum(),
    "joining": lambda x: (ad.concatenate([x, x ** 2], axis=1) ** 2).sum()
                         + (ad.stack([x, x ** 2], axis=-1) ** 2).sum(),
    "broadcasting": lambda x: ((x[:, :1] * x[:1, :]) ** 2).sum() + (ad.broadcast_to(x[0], (3, 4)) ** 3).sum(),
}


@pytest.mark.parametrize("name", HESSIAN_VECTOR_CASES)
def test_hessian_vector_product_matches_differences_of_the_gradient(name):
    """H v by differentiating <grad f, v>, against (grad f(x + h v) - grad f(x - h v)) / 2h."""
    f = HESSIAN_VECTOR_CASES[name]
    values, v, h = normal((3, 4)), normal((3, 4), seed=1), 1e-5
    x, g = _gradient(f, values, create_graph=True)
    x.grad = None
    (g * v).sum().backward()
    numeric = (_gradient(f, values + h * v)[1].data - _gradient(f, values - h * v)[1].data) / (2 * h)
    error = np.max(np.abs(x.grad.data - numeric)) / max(np.max(np.abs(numeric)), 1.0)
    assert error < 1e-6


# ----- freeing: no reference cycles

def test_a_dropped_graph_is_freed_without_the_garbage_collector():
    gc.collect()
    gc.disable()
    try:
        x = ad.tensor(normal((3, 4)), requires_grad=True)
        hidden = ad.tanh(x @ normal((4, 5), seed=1) + 1.0)
        out = ad.log_softmax(hidden)[[0, 1, 2], [4, 0, 4]].sum()
        refs = [weakref.ref(hidden), weakref.ref(out)]
        del hidden, out
        assert [r() for r in refs] == [None, None]
    finally:
        gc.enable()


def test_a_graph_is_freed_after_backward_without_the_garbage_collector():
    gc.collect()
    gc.disable()
    try:
        x = ad.tensor(normal((3, 4)), requires_grad=True)
        hidden = (x * 2).relu().retain_grad()
        out = (hidden.sum(axis=0) ** 2).mean()
        out.backward()
        refs = [weakref.ref(hidden), weakref.ref(out), weakref.ref(x), weakref.ref(x.grad)]
        del hidden, out, x
        assert [r() for r in refs] == [None, None, None, None]
    finally:
        gc.enable()


# ----- dtypes

def _float32(shape, seed=0):
    return normal(shape, seed).astype(np.float32)


ROWS, LABELS = np.array([0, 1, 2]), np.array([3, 0, 3])
FLOAT32_CASES = {
    "python float constants": lambda x, w: ((x * 2.5 + 1.0 - 0.5) / 3.0 - 2.0 / (x * x + 1.0)).sum(),
    "matmul": lambda x, w: (x @ w).sum(),
    "sum over an axis": lambda x, w: (x.sum(axis=0) * 0.5).sum(),
    "mean": lambda x, w: x.mean() + x.mean(axis=1).sum(),
    "softmax": lambda x, w: (ad.softmax(x) * w[:, 0]).sum(),
    "log_softmax and integer indexing": lambda x, w: -ad.log_softmax(x)[ROWS, LABELS].mean(),
    "slicing and masks": lambda x, w: x[1:, 0].sum() + x[[0, 0, 2]].sum() + x[x.data > 0].sum(),
    "elementwise": lambda x, w: (x.tanh() + x.sigmoid() + x.exp() + x.sin() + x.cos()).sum(),
    "log sqrt abs": lambda x, w: ((x.abs() + 1.0).log() + (x * x + 1.0).sqrt()).sum(),
    "relu": lambda x, w: x.relu().sum(),
    "maximum": lambda x, w: ad.maximum(x, 0.1).sum() + ad.maximum(x, x[0]).sum(),
    "max": lambda x, w: x.max(axis=1).sum() + x.max(),
    "where": lambda x, w: ad.where(x.data > 0, x, 0.0).sum(),
    "logsumexp": lambda x, w: ad.logsumexp(x, axis=0).sum(),
    "x ** 2 and x ** 0.5": lambda x, w: (x ** 2 + (x * x + 1.0) ** 0.5).sum(),
    "2 ** x": lambda x, w: (2 ** x).sum(),
    "concatenate and stack": lambda x, w: (ad.concatenate([x, x], axis=1).sum()
                                           + ad.stack([x, x * 2.0]).sum()),
    "reshape and transpose": lambda x, w: (x.reshape(4, 3).T @ w[:, :4].T).sum(),
    "an mlp layer": lambda x, w: (ad.tanh(x @ w + 0.1) ** 2).mean(),
}


@pytest.mark.parametrize("name", FLOAT32_CASES)
def test_float32_stays_float32(name):
    x = ad.tensor(_float32((3, 4)), requires_grad=True)
    w = ad.tensor(_float32((4, 5), seed=1), requires_grad=True)
    assert x.dtype == np.float32
    out = FLOAT32_CASES[name](x, w)
    assert out.dtype == np.float32
    out.backward()
    for leaf in (x, w):
        if leaf.grad is not None:
            assert leaf.grad.dtype == np.float32, f"gradient dtype {leaf.grad.dtype}"


def test_float32_gradients_of_a_second_derivative():
    x = ad.tensor(_float32((4,)), requires_grad=True)
    ad.tanh(x).sum().backward(create_graph=True)
    g, x.grad = x.grad, None
    assert g.dtype == np.float32
    g.sum().backward()
    assert x.grad.dtype == np.float32


@pytest.mark.parametrize("data", [
    [1, 2, 3], np.array([1, 2, 3], dtype=np.int32), np.array([1, 2, 3], dtype=np.uint8),
    np.array([True, False, True]), 3,
], ids=["list of ints", "int32", "uint8", "bool", "python int"])
def test_integer_data_becomes_float64(data):
    x = ad.tensor(data, requires_grad=True)
    assert x.dtype == np.float64
    (x * x).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_array_equal(x.grad.data, 2 * np.asarray(data, dtype=np.float64))


def test_integer_constants_and_integer_grads_give_float_gradients():
    x = ad.tensor([1, 2, 3], requires_grad=True)
    (x * np.array([4, 5, 6]) + 7).backward(np.array([1, 1, 2]))
    assert x.grad.dtype == np.float64
    np.testing.assert_array_equal(x.grad.data, [4.0, 5.0, 12.0])

"""ad.check: the gradient checker and the dot-product test must find wrong rules.

A checker that always passes is worse than none, so most tests here feed it
Functions with deliberately wrong backward rules and check what it reports.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import ad
from ad.check import dot_product_test, gradcheck, numerical_gradient


def normal(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


class MatMul(ad.Function):
    """z = x @ y with the right rules, plus ``error`` added to dL/dy at ``element``."""

    def __init__(self, error=0.0, element=(0, 0)):
        self.error, self.element = error, element

    def forward(self, x, y):
        return x @ y

    def backward(self, x, y, grad):
        gy = x.T @ grad
        gy[self.element] += self.error
        return grad @ y.T, gy


class Cube(ad.Function):
    """z = x³ with dz/dx = 3x² * (1 + relative_error)."""

    def __init__(self, relative_error=0.0):
        self.relative_error = relative_error

    def forward(self, x):
        return x ** 3

    def backward(self, x, grad):
        return (grad * 3 * x * x * (1 + self.relative_error),)


class IgnoresItsInput(ad.Function):
    """z = sin x with a rule that gives no gradient at all."""

    def forward(self, x):
        return np.sin(x)

    def backward(self, x, grad):
        return (None,)


# ----- gradcheck

def test_gradcheck_passes_a_right_rule():
    result = gradcheck(lambda x, y: MatMul()(x, y).sum(), [normal((2, 3)), normal((3, 4), seed=1)])
    assert result.ok
    assert result.max_relative_error < 1e-8
    assert str(result).startswith("gradcheck ok")


def test_gradcheck_reports_the_worst_element():
    a, b = normal((2, 3)), normal((3, 4), seed=1)
    result = gradcheck(lambda x, y: MatMul(error=0.5, element=(1, 2))(x, y).sum(), [a, b])
    true_gradient = a.T @ np.ones((2, 4))
    assert not result.ok
    assert (result.input_index, result.element) == (1, (1, 2))
    assert result.numeric == pytest.approx(true_gradient[1, 2], rel=1e-8)
    assert result.analytic == pytest.approx(true_gradient[1, 2] + 0.5, rel=1e-12)
    expected_error = 0.5 / max(abs(result.analytic), abs(result.numeric), 1.0)
    assert result.max_relative_error == pytest.approx(expected_error, rel=1e-6)


def test_gradcheck_report_names_the_input_the_element_and_both_values():
    a, b = normal((2, 3)), normal((3, 4), seed=1)
    result = gradcheck(lambda x, y: MatMul(error=0.5, element=(1, 2))(x, y).sum(), [a, b])
    report = str(result)
    assert "FAILED" in report
    assert "input 1" in report and "element (1, 2)" in report
    numbers = [float(n) for n in re.findall(r"-?\d+\.\d+(?:e[-+]?\d+)?", report)]
    assert any(n == pytest.approx(result.analytic, rel=1e-8) for n in numbers)
    assert any(n == pytest.approx(result.numeric, rel=1e-8) for n in numbers)


@pytest.mark.parametrize("element", [(0, 0), (2, 3), (1, 1)])
def test_gradcheck_finds_the_wrong_element_wherever_it_is(element):
    result = gradcheck(lambda x, y: MatMul(error=2.0, element=element)(x, y).sum(),
                       [normal((2, 3)), normal((3, 4), seed=1)])
    assert not result.ok and result.input_index == 1 and result.element == element


def test_gradcheck_tolerance():
    f = lambda x: Cube(relative_error=1e-4)(x).sum()
    x = normal((5,))
    assert not gradcheck(f, [x]).ok
    assert gradcheck(f, [x], tolerance=1e-3).ok
    assert gradcheck(lambda x: Cube()(x).sum(), [x]).ok


def test_gradcheck_fails_a_rule_that_gives_no_gradient():
    result = gradcheck(lambda x: IgnoresItsInput()(x).sum(), [normal((4,))])
    assert not result.ok
    assert result.analytic == 0.0 and result.numeric != 0.0


def test_gradcheck_passes_an_input_that_f_does_not_use():
    result = gradcheck(lambda x, unused: (x * x).sum(), [normal((3,)), normal((2,))])
    assert result.ok


def test_gradcheck_needs_a_scalar_function():
    with pytest.raises(ValueError, match=r"gradcheck.*\(3,\)"):
        gradcheck(lambda x: x * 2, [normal((3,))])


def test_gradcheck_works_in_float64_and_leaves_the_inputs_alone():
    data = normal((3, 4)).astype(np.float32)
    original = data.copy()
    x = ad.tensor(data)
    result = gradcheck(lambda x: (ad.tanh(x) ** 2).sum(), [x])
    assert result.ok and result.max_relative_error < 1e-8  # float32 differences could not do this
    np.testing.assert_array_equal(data, original)
    assert x.grad is None and x.dtype == np.float32


def test_numerical_gradient_agrees_with_the_derivative():
    x = normal((2, 3))
    (numeric,) = numerical_gradient(lambda x: (x ** 3).sum(), [x])
    np.testing.assert_allclose(numeric, 3 * x ** 2, rtol=1e-8, atol=1e-9)


def test_numerical_gradient_of_several_inputs():
    x, y = normal((3,)), normal((3,), seed=1)
    gx, gy = numerical_gradient(lambda x, y: (x * y.exp()).sum(), [x, y])
    np.testing.assert_allclose(gx, np.exp(y), rtol=1e-8)
    np.testing.assert_allclose(gy, x * np.exp(y), rtol=1e-7, atol=1e-9)


# ----- dot_product_test

RIGHT = {
    "matmul": (MatMul(), [(2, 3), (3, 4)]),
    "cube": (Cube(), [(5,)]),
    "package tanh": (ad.tanh, [(3, 4)]),
    "package softmax": (ad.softmax, [(3, 4)]),
    "package broadcasting mul": (lambda x, y: x * y, [(3, 1), (4,)]),
}
WRONG = {
    "matmul, one element of dL/dy": (MatMul(error=1.0, element=(2, 1)), [(2, 3), (3, 4)]),
    "cube, 10% too large": (Cube(relative_error=0.1), [(5,)]),
    "no gradient": (IgnoresItsInput(), [(4,)]),
}


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("name", RIGHT)
def test_dot_product_test_gap_is_tiny_for_right_rules(name, seed):
    f, shapes = RIGHT[name]
    gap = dot_product_test(f, [normal(s, seed=i) for i, s in enumerate(shapes)], seed=seed)
    assert isinstance(gap, float)
    assert gap < 1e-8


@pytest.mark.parametrize("name", WRONG)
def test_dot_product_test_gap_is_large_for_wrong_rules(name):
    f, shapes = WRONG[name]
    gap = dot_product_test(f, [normal(s, seed=i) for i, s in enumerate(shapes)])
    assert gap > 1e-2


def test_dot_product_test_compares_small_numbers_absolutely():
    # Saturated tanh: both sides are tiny, and their relative gap is large
    # although the rule is right; the floor of 1 keeps that from failing.
    x = np.linspace(6.0, 10.0, 5)
    assert dot_product_test(ad.tanh, [x]) < 1e-8
    gaps = [dot_product_test(ad.tanh, [x], seed=s) for s in range(3)]
    assert max(gaps) < 1e-8


def test_dot_product_test_is_deterministic_for_a_seed():
    f, shapes = WRONG["cube, 10% too large"]
    x = normal(shapes[0])
    assert dot_product_test(f, [x], seed=3) == dot_product_test(f, [x], seed=3)
    assert dot_product_test(f, [x], seed=3) != dot_product_test(f, [x], seed=4)

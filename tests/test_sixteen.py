"""ad.sixteen: the original sixteen-line engine, its two fixed bugs and its semantics.

The original's behaviour is shown with local copies of its published code (the
``Function`` without ``__get__``, the ``TensorDotProduct`` with swapped rules),
so each fix in ``ad.sixteen`` is tested against what it fixes.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from ad import sixteen


def readme_example(tensor=sixteen.tensor):
    x = tensor([[1., 2., 3.]])
    y = tensor([[0.], [1.], [1.]])
    z = x @ y
    z.backward()
    return x, y, z


# ----- the README example on the fixed engine

def test_readme_example_gives_the_published_gradients():
    x, y, z = readme_example()
    np.testing.assert_array_equal(z.data, [[5.0]])
    np.testing.assert_array_equal(x.grad, [[0, 1, 1]])
    np.testing.assert_array_equal(y.grad, [[1], [2], [3]])


def test_dot_product_gradients_are_right_on_a_non_square_example():
    rng = np.random.default_rng(0)
    a, b, g = rng.standard_normal((2, 3)), rng.standard_normal((3, 4)), rng.standard_normal((2, 4))
    x, y = sixteen.Variable(a), sixteen.Variable(b)
    (x @ y).backward(g)
    np.testing.assert_allclose(x.grad, g @ b.T)
    np.testing.assert_allclose(y.grad, a.T @ g)


# ----- FIX 1: without __get__ the README usage does not run

class OriginalFunction:
    """The published Function, verbatim: no __get__."""

    def __call__(self, *variables):
        result = self.forward(*variables)                 # Forward pass, f(x0, ..., xn).

        def backward(grad = 1):                           # Backward pass.
            self.backward(*variables, grad + result.grad) # Accumulate gradients, dL/dxi += dL/df * df/dxi.

            for variable in variables:                    # Recurse.
                variable.backward(0)

            result.grad *= result.terminal                # Reset gradients.
        result.backward = backward

        return result


def _dot_product_class(base):
    class TensorDotProduct(base):
        forward = sixteen.TensorDotProduct.forward
        backward = sixteen.TensorDotProduct.backward
    return TensorDotProduct


def test_fixed_function_is_the_original_plus_get():
    extra = set(vars(sixteen.Function)) - set(vars(OriginalFunction))
    assert extra == {"__get__"}


def test_without_get_the_readme_usage_raises_type_error():
    class Tensor(sixteen.Variable):
        pass

    Tensor.__matmul__ = _dot_product_class(OriginalFunction)()
    with pytest.raises(TypeError, match=r"forward\(\) missing 1 required positional argument"):
        readme_example(Tensor)


def test_without_get_an_explicit_call_still_works():
    x, y = sixteen.Variable([[1., 2., 3.]]), sixteen.Variable([[0.], [1.], [1.]])
    z = _dot_product_class(OriginalFunction)()(x, y)
    z.backward()
    np.testing.assert_array_equal(x.grad, [[0, 1, 1]])


def test_with_get_the_same_usage_works():
    class Tensor(sixteen.Variable):
        pass

    Tensor.__matmul__ = _dot_product_class(sixteen.Function)()
    x, y, _ = readme_example(Tensor)
    np.testing.assert_array_equal(x.grad, [[0, 1, 1]])
    np.testing.assert_array_equal(y.grad, [[1], [2], [3]])


# ----- FIX 2: the published backward swapped its two formulas

class SwappedTensorDotProduct(sixteen.Function):
    """The published rule, with the formulas swapped."""

    def forward(self, x, y):
        return sixteen.Variable(x.data @ y.data)

    def backward(self, x, y, grad):
        x.grad += x.data.T @ grad
        y.grad += grad @ y.data.T


def test_swapped_formulas_fail_on_the_readme_example():
    x, y = sixteen.Variable([[1., 2., 3.]]), sixteen.Variable([[0.], [1.], [1.]])
    z = SwappedTensorDotProduct()(x, y)
    with pytest.raises(ValueError, match="broadcast"):
        z.backward()


def test_swapped_formulas_give_wrong_values_on_square_matrices():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    swapped = [sixteen.Variable(a), sixteen.Variable(b)]
    fixed = [sixteen.Variable(a), sixteen.Variable(b)]
    SwappedTensorDotProduct()(*swapped).backward()
    sixteen.TensorDotProduct()(*fixed).backward()
    ones = np.ones((3, 3))
    np.testing.assert_allclose(fixed[0].grad, ones @ b.T)
    np.testing.assert_allclose(fixed[1].grad, a.T @ ones)
    assert not np.allclose(swapped[0].grad, fixed[0].grad)
    assert not np.allclose(swapped[1].grad, fixed[1].grad)


# ----- semantics: per-path cost, recursion, accumulation, integer gradients

class Add(sixteen.Function):
    calls = 0

    def forward(self, x, y):
        return sixteen.Variable(x.data + y.data)

    def backward(self, x, y, grad):
        Add.calls += 1
        x.grad += grad
        y.grad += grad


class Mul(sixteen.Function):
    calls = 0

    def forward(self, x, y):
        return sixteen.Variable(x.data * y.data)

    def backward(self, x, y, grad):
        Mul.calls += 1
        x.grad += grad * y.data
        y.grad += grad * x.data


def _y_squared_plus_y_derivative(x0: float, steps: int) -> float:
    y, dy = x0, 1.0
    for _ in range(steps):
        y, dy = y * y + y, dy * (2 * y + 1)
    return dy


@pytest.mark.parametrize("k", range(1, 9))
def test_per_path_cost_of_y_squared_plus_y(k):
    """Each y_k = Add(Mul(y, y), y) calls y_{k-1}'s backward three times, so with
    C(k) op-backward calls below y_k: C(k) = 2 + 3 C(k-1), C(0) = 0, i.e. C(k) = 3^k - 1,
    and the leaf x is reached 3^k times."""
    Add.calls = Mul.calls = 0
    x = sixteen.Variable(0.1)
    leaf_visits = []
    x.backward = leaf_visits.append  # a leaf's backward is `int`; count instead
    y = x
    for _ in range(k):
        y = Add()(Mul()(y, y), y)
    y.backward()
    assert Add.calls + Mul.calls == 3 ** k - 1
    assert Add.calls == Mul.calls == (3 ** k - 1) // 2
    assert len(leaf_visits) == 3 ** k
    np.testing.assert_allclose(x.grad, _y_squared_plus_y_derivative(0.1, k), rtol=1e-13)


def test_a_chain_deeper_than_the_recursion_limit_raises_recursion_error():
    limit = sys.getrecursionlimit()
    x = sixteen.Variable(1.0)
    y = x
    for _ in range(max(5000, 2 * limit)):
        y = Mul()(y, sixteen.Variable(1.0))
    with pytest.raises(RecursionError):
        y.backward()
    assert sys.getrecursionlimit() == limit


def test_a_shallow_chain_works():
    x = sixteen.Variable(2.0)
    y = x
    for _ in range(100):
        y = Mul()(y, sixteen.Variable(1.01))
    y.backward()
    np.testing.assert_allclose(x.grad, 1.01 ** 100, rtol=1e-13)


def test_leaf_gradients_accumulate_across_backward_calls():
    x, y, z = readme_example()
    z.backward()
    np.testing.assert_array_equal(x.grad, 2 * np.array([[0, 1, 1]]))
    np.testing.assert_array_equal(y.grad, 2 * np.array([[1], [2], [3]]))


def test_terminal_only_matters_for_intermediate_results():
    x = sixteen.Variable(3.0)
    kept = Mul()(x, x)
    kept.terminal = True
    dropped = Mul()(x, x)
    Add()(kept, dropped).backward()
    assert kept.grad == 1.0          # terminal: the intermediate keeps its gradient
    assert dropped.grad == 0.0       # not terminal: reset after use
    assert x.grad == 2 * (2 * 3.0)   # a leaf keeps its gradient either way


def test_integer_data_gives_integer_gradients():
    x, y, _ = readme_example()
    xi, yi, _ = readme_example(lambda data: sixteen.Variable(np.array(data, dtype=int)))
    assert xi.grad.dtype.kind == "i" and yi.grad.dtype.kind == "i"
    np.testing.assert_array_equal(xi.grad, x.grad)
    np.testing.assert_array_equal(yi.grad, y.grad)


def test_no_broadcasting_support():
    """Adding a row to a matrix works forward, but the row's gradient cannot be stored."""
    x, b = sixteen.Variable(np.ones((2, 3))), sixteen.Variable(np.ones(3))
    with pytest.raises(ValueError, match="broadcast"):
        Add()(x, b).backward(np.ones((2, 3)))

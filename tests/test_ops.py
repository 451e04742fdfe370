"""Every primitive op, gradient-checked in float64 against central differences.

Each op is checked on a scalar, a vector, a matrix and a broadcasting case (where
the op has such a case), through ``ad.check.gradcheck`` (relative error <= 1e-6).
Ops with a non-scalar output are reduced to a scalar with fixed random weights,
so that every element of the output gets a different upstream gradient.
"""

from __future__ import annotations

import numpy as np
import pytest

import ad
from ad.check import dot_product_test, gradcheck

TOLERANCE = 1e-6


# ----- helpers

def normal(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def positive(shape, seed=0):
    """Values in [0.5, 2): a safe domain for log, sqrt and the base of **."""
    return np.random.default_rng(seed).uniform(0.5, 2.0, shape)


def away_from_zero(shape, seed=0):
    """Values with 0.2 <= |x| < 2: no kink of relu/abs, no division by ~0."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0.2, 2.0, shape) * rng.choice([-1.0, 1.0], shape)


def weighted_sum(op, seed=123):
    """A scalar function of op's inputs: sum(op(*xs) * w) with fixed random weights w."""
    def f(*xs):
        out = op(*xs)
        return (out * np.random.default_rng(seed).standard_normal(out.shape)).sum()
    return f


def assert_gradcheck(op, *inputs):
    result = gradcheck(weighted_sum(op), inputs, tolerance=TOLERANCE)
    assert result.ok, str(result)
    assert result.max_relative_error <= TOLERANCE


SHAPES = {"scalar": (), "vector": (5,), "matrix": (3, 4), "3-d": (2, 3, 4)}


# ----- elementwise functions

UNARY = {
    "exp": (ad.exp, normal),
    "log": (ad.log, positive),
    "sqrt": (ad.sqrt, positive),
    "tanh": (ad.tanh, normal),
    "sigmoid": (ad.sigmoid, normal),
    "relu": (ad.relu, away_from_zero),
    "abs": (ad.abs, away_from_zero),
    "sin": (ad.sin, normal),
    "cos": (ad.cos, normal),
    "neg": (ad.neg, normal),
    "unary minus": (lambda x: -x, normal),
    "x.exp()": (lambda x: x.exp(), normal),
    "x.log()": (lambda x: x.log(), positive),
    "x.sqrt()": (lambda x: x.sqrt(), positive),
    "x.tanh()": (lambda x: x.tanh(), normal),
    "x.sigmoid()": (lambda x: x.sigmoid(), normal),
    "x.relu()": (lambda x: x.relu(), away_from_zero),
    "x.abs()": (lambda x: x.abs(), away_from_zero),
    "x.sin()": (lambda x: x.sin(), normal),
    "x.cos()": (lambda x: x.cos(), normal),
    "np.exp(x)": (lambda x: np.exp(x), normal),
    "np.tanh(x)": (lambda x: np.tanh(x), normal),
    "x ** 3": (lambda x: x ** 3, normal),
    "x ** 0.5": (lambda x: x ** 0.5, positive),
    "x ** -1.5": (lambda x: x ** -1.5, positive),
    "ad.pow(x, 2)": (lambda x: ad.pow(x, 2), normal),
}


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("name", UNARY)
def test_unary_op_gradient(name, shape):
    op, data = UNARY[name]
    assert_gradcheck(op, data(shape))


@pytest.mark.parametrize("name", UNARY)
def test_unary_op_gradient_inside_broadcasting(name):
    op, data = UNARY[name]
    assert_gradcheck(lambda x, y: op(x) * y, data((3, 1)), normal((4,), seed=1))


@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "tanh", "sigmoid", "relu", "abs", "sin", "cos"])
def test_function_and_method_forms_agree(name):
    x = ad.tensor(positive((3, 4)))
    np.testing.assert_array_equal(getattr(ad, name)(x).data, getattr(x, name)().data)


def test_sigmoid_forward_matches_its_definition():
    x = normal((20,))
    np.testing.assert_allclose(ad.sigmoid(ad.tensor(x)).data, 1 / (1 + np.exp(-x)), rtol=1e-14)


@pytest.mark.parametrize("name", ["relu", "abs"])
def test_kink_gradient_is_zero_at_zero(name):
    x = ad.tensor([0.0], requires_grad=True)
    getattr(ad, name)(x).sum().backward()
    assert x.grad.data[0] == 0.0


# ----- binary arithmetic, maximum

BINARY = {  # name: (op, the same op in numpy, data for x, data for y)
    "x + y": (lambda x, y: x + y, np.add, normal, normal),
    "x - y": (lambda x, y: x - y, np.subtract, normal, normal),
    "x * y": (lambda x, y: x * y, np.multiply, normal, normal),
    "x / y": (lambda x, y: x / y, np.divide, normal, away_from_zero),
    "x ** y (tensor exponent)": (lambda x, y: x ** y, np.power, positive, normal),
    "ad.add": (ad.add, np.add, normal, normal),
    "ad.sub": (ad.sub, np.subtract, normal, normal),
    "ad.mul": (ad.mul, np.multiply, normal, normal),
    "ad.div": (ad.div, np.divide, normal, away_from_zero),
    "ad.pow": (ad.pow, np.power, positive, normal),
    "ad.maximum": (ad.maximum, np.maximum, normal, normal),
    "np.maximum": (lambda x, y: np.maximum(x, y), np.maximum, normal, normal),
}

SHAPE_PAIRS = {
    "scalar": ((), ()),
    "vector": ((5,), (5,)),
    "matrix": ((3, 4), (3, 4)),
    "column and row": ((3, 1), (4,)),
    "3-d and column": ((2, 3, 4), (3, 1)),
    "scalar and matrix": ((), (3, 4)),
    "matrix and 3-d": ((3, 4), (2, 1, 4)),
}


@pytest.mark.parametrize("shapes", SHAPE_PAIRS.values(), ids=SHAPE_PAIRS.keys())
@pytest.mark.parametrize("name", BINARY)
def test_binary_op_gradient(name, shapes):
    op, _, data_x, data_y = BINARY[name]
    x_shape, y_shape = shapes
    assert_gradcheck(op, data_x(x_shape, seed=1), data_y(y_shape, seed=2))


@pytest.mark.parametrize("name", BINARY)
def test_binary_op_forward_matches_numpy(name):
    op, numpy_op, data_x, data_y = BINARY[name]
    x, y = data_x((3, 1), seed=1), data_y((4,), seed=2)
    np.testing.assert_array_equal(op(ad.tensor(x), ad.tensor(y)).data, numpy_op(x, y))


def test_maximum_splits_the_gradient_evenly_on_ties():
    x = ad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = ad.tensor([2.0, 2.0, 2.0], requires_grad=True)
    ad.maximum(x, y).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(y.grad.data, [1.0, 0.5, 0.0])


# ----- reflected forms and constants

REFLECTED = {
    "2 - x": (lambda x: 2 - x, normal),
    "2 + x": (lambda x: 2 + x, normal),
    "2 * x": (lambda x: 2 * x, normal),
    "2 / x": (lambda x: 2 / x, away_from_zero),
    "2 ** x": (lambda x: 2 ** x, normal),
    "x - 2.5": (lambda x: x - 2.5, normal),
    "x / 2.5": (lambda x: x / 2.5, normal),
    "ndarray - x": (lambda x: np.linspace(-1, 1, x.size).reshape(x.shape) - x, normal),
    "ndarray * x": (lambda x: np.linspace(-1, 1, x.size).reshape(x.shape) * x, normal),
    "ndarray / x": (lambda x: np.linspace(-1, 1, x.size).reshape(x.shape) / x, away_from_zero),
    "ndarray ** x": (lambda x: np.linspace(0.5, 2, x.size).reshape(x.shape) ** x, normal),
}


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("name", REFLECTED)
def test_reflected_op_gradient(name, shape):
    op, data = REFLECTED[name]
    assert_gradcheck(op, data(shape))


@pytest.mark.parametrize("name", REFLECTED)
def test_reflected_op_returns_a_tensor(name):
    op, data = REFLECTED[name]
    x = ad.tensor(data((3,)), requires_grad=True)
    out = op(x)
    assert isinstance(out, ad.Tensor) and out.requires_grad


# ----- matrix products

MATMUL_SHAPES = {
    "2-d @ 2-d": ((3, 4), (4, 2)),
    "1-d @ 2-d": ((4,), (4, 2)),
    "2-d @ 1-d": ((3, 4), (4,)),
    "1-d @ 1-d": ((4,), (4,)),
    "3-d @ 3-d": ((2, 3, 4), (2, 4, 5)),
    "batch broadcast": ((2, 1, 3, 4), (5, 4, 2)),
    "2-d @ 3-d": ((3, 4), (2, 4, 5)),
    "3-d @ 1-d": ((2, 3, 4), (4,)),
    "1-d @ 3-d": ((4,), (2, 4, 5)),
}


@pytest.mark.parametrize("shapes", MATMUL_SHAPES.values(), ids=MATMUL_SHAPES.keys())
@pytest.mark.parametrize("form", ["operator", "ad.matmul", "np.matmul"])
def test_matmul_gradient(form, shapes):
    op = {"operator": lambda x, y: x @ y, "ad.matmul": ad.matmul,
          "np.matmul": lambda x, y: np.matmul(x, y)}[form]
    x_shape, y_shape = shapes
    assert_gradcheck(op, normal(x_shape, seed=1), normal(y_shape, seed=2))


@pytest.mark.parametrize("shapes", MATMUL_SHAPES.values(), ids=MATMUL_SHAPES.keys())
def test_matmul_forward_matches_numpy(shapes):
    x, y = normal(shapes[0], seed=1), normal(shapes[1], seed=2)
    out = ad.tensor(x) @ ad.tensor(y)
    assert out.shape == np.matmul(x, y).shape
    np.testing.assert_allclose(out.data, x @ y, rtol=1e-14)


@pytest.mark.parametrize("shapes", [((3, 4), (4, 2)), ((3, 4), (4,)), ((2, 3, 4), (4, 5))])
def test_ndarray_matmul_tensor(shapes):
    a = normal(shapes[0], seed=3)
    assert_gradcheck(lambda y: a @ y, normal(shapes[1], seed=4))
    assert_gradcheck(lambda x: x @ normal(shapes[1], seed=4), a)


# ----- reductions

AXES = {"None": None, "0": 0, "1": 1, "-1": -1, "(0, 2)": (0, 2), "(-1, 0)": (-1, 0)}
REDUCTIONS = {
    "sum": lambda x, **kw: x.sum(**kw),
    "mean": lambda x, **kw: x.mean(**kw),
    "max": lambda x, **kw: x.max(**kw),
    "ad.sum": ad.sum,
    "ad.mean": ad.mean,
    "ad.max": ad.max,
}
NUMPY_REDUCTIONS = {"sum": np.sum, "mean": np.mean, "max": np.max}


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", AXES.values(), ids=AXES.keys())
@pytest.mark.parametrize("name", REDUCTIONS)
def test_reduction_gradient(name, axis, keepdims):
    reduce = REDUCTIONS[name]
    assert_gradcheck(lambda x: reduce(x, axis=axis, keepdims=keepdims), normal((2, 3, 4)))


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", AXES.values(), ids=AXES.keys())
@pytest.mark.parametrize("name", REDUCTIONS)
def test_reduction_forward_matches_numpy(name, axis, keepdims):
    x = normal((2, 3, 4))
    out = REDUCTIONS[name](ad.tensor(x), axis=axis, keepdims=keepdims)
    expected = NUMPY_REDUCTIONS[name.removeprefix("ad.")](x, axis=axis, keepdims=keepdims)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.data, expected, rtol=1e-14)


@pytest.mark.parametrize("shape", [(), (5,), (3, 4)], ids=["scalar", "vector", "matrix"])
@pytest.mark.parametrize("name", ["sum", "mean", "max"])
def test_reduction_of_all_elements(name, shape):
    assert_gradcheck(REDUCTIONS[name], normal(shape))


def test_reduction_of_a_broadcast_result():
    assert_gradcheck(lambda x, y: (x * y).mean(axis=0), normal((3, 1)), normal((4,), seed=1))


def test_max_splits_the_gradient_evenly_on_ties():
    x = ad.tensor([[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]], requires_grad=True)
    x.max(axis=1).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]])


# ----- shapes

SHAPE_OPS = {
    "reshape(2, 6)": (lambda x: x.reshape(2, 6), (3, 4)),
    "reshape((-1,))": (lambda x: x.reshape((-1,)), (3, 4)),
    "reshape to 3-d": (lambda x: ad.reshape(x, (4, 3, 1)), (3, 4)),
    "reshape scalar to (1, 1)": (lambda x: x.reshape(1, 1), ()),
    "reshape vector to column": (lambda x: x.reshape(-1, 1), (5,)),
    "np.reshape": (lambda x: np.reshape(x, (6, 2)), (3, 4)),
    "transpose()": (lambda x: x.transpose(), (2, 3, 4)),
    "transpose(1, 2, 0)": (lambda x: x.transpose(1, 2, 0), (2, 3, 4)),
    "ad.transpose(x, (2, 0, 1))": (lambda x: ad.transpose(x, (2, 0, 1)), (2, 3, 4)),
    ".T of a matrix": (lambda x: x.T, (3, 4)),
    ".T of a vector": (lambda x: x.T, (5,)),
    "swapaxes(0, 2)": (lambda x: x.swapaxes(0, 2), (2, 3, 4)),
    "swapaxes(-1, -2)": (lambda x: ad.swapaxes(x, -1, -2), (2, 3, 4)),
    "broadcast_to": (lambda x: ad.broadcast_to(x, (2, 3, 4)), (3, 1)),
}


@pytest.mark.parametrize("name", SHAPE_OPS)
def test_shape_op_gradient(name):
    op, shape = SHAPE_OPS[name]
    assert_gradcheck(op, normal(shape))


def test_shape_ops_forward_match_numpy():
    x = normal((2, 3, 4))
    t = ad.tensor(x)
    np.testing.assert_array_equal(t.reshape(4, 6).data, x.reshape(4, 6))
    np.testing.assert_array_equal(t.transpose(1, 2, 0).data, x.transpose(1, 2, 0))
    np.testing.assert_array_equal(t.T.data, x.T)
    np.testing.assert_array_equal(t.swapaxes(0, 2).data, x.swapaxes(0, 2))


# ----- indexing

MASK = normal((3, 4), seed=7) > 0
INDEXING = {
    "x[1:3]": lambda x: x[1:3],
    "x[:, 0]": lambda x: x[:, 0],
    "x[1]": lambda x: x[1],
    "x[-1, 2]": lambda x: x[-1, 2],
    "x[::-1, 1:]": lambda x: x[::-1, 1:],
    "x[..., None]": lambda x: x[..., None],
    "x[[0, 2, 2, 0]] (repeated rows)": lambda x: x[[0, 2, 2, 0]],
    "x[array 2-d of repeated indices]": lambda x: x[np.array([[0, 1], [1, 1]])],
    "x[[0, 1, 1], [2, 2, 2]] (repeated elements)": lambda x: x[[0, 1, 1], [2, 2, 2]],
    "x[:, [3, 3, 0]]": lambda x: x[:, [3, 3, 0]],
    "x[mask]": lambda x: x[MASK],
    "x[row mask]": lambda x: x[np.array([True, False, True])],
}


@pytest.mark.parametrize("name", INDEXING)
def test_indexing_gradient(name):
    assert_gradcheck(INDEXING[name], normal((3, 4)))


@pytest.mark.parametrize("name", INDEXING)
def test_indexing_forward_matches_numpy(name):
    x = normal((3, 4))
    np.testing.assert_array_equal(INDEXING[name](ad.tensor(x)).data, INDEXING[name](x))


def test_repeated_index_gradient_counts_every_pick():
    x = ad.tensor(normal((4,)), requires_grad=True)
    index = [0, 2, 2, 2, 3, 0]
    x[index].sum().backward()
    np.testing.assert_array_equal(x.grad.data, np.bincount(index, minlength=4))


def test_indexing_a_vector_and_a_scalar_result():
    assert_gradcheck(lambda x: x[2] * x[[1, 1]], normal((5,)))


# ----- joining

JOINING = {
    "concatenate axis 0": (lambda x, y, z: ad.concatenate([x, y, z], axis=0), [(2, 3), (1, 3), (4, 3)]),
    "concatenate axis 1": (lambda x, y, z: ad.concatenate([x, y, z], axis=1), [(2, 3), (2, 1), (2, 2)]),
    "concatenate axis -1": (lambda x, y, z: ad.concatenate([x, y, z], axis=-1), [(2, 2, 3), (2, 2, 1),
                                                                                 (2, 2, 2)]),
    "concatenate vectors": (lambda x, y, z: ad.concatenate([x, y, z]), [(2,), (3,), (1,)]),
    "np.concatenate": (lambda x, y, z: np.concatenate([x, y, z], axis=1), [(2, 3), (2, 1), (2, 2)]),
    "stack axis 0": (lambda x, y, z: ad.stack([x, y, z]), [(2, 3)] * 3),
    "stack axis 1": (lambda x, y, z: ad.stack([x, y, z], axis=1), [(2, 3)] * 3),
    "stack axis -1": (lambda x, y, z: ad.stack([x, y, z], axis=-1), [(2, 3)] * 3),
    "stack scalars": (lambda x, y, z: ad.stack([x, y, z]), [()] * 3),
    "np.stack": (lambda x, y, z: np.stack([x, y, z], axis=1), [(2, 3)] * 3),
}


@pytest.mark.parametrize("name", JOINING)
def test_joining_gradient(name):
    op, shapes = JOINING[name]
    assert_gradcheck(op, *[normal(s, seed=i) for i, s in enumerate(shapes)])


def test_joining_the_same_tensor_twice():
    assert_gradcheck(lambda x: ad.concatenate([x, x * 2, x], axis=0), normal((2, 3)))


def test_joining_with_a_constant():
    constant = normal((2, 3), seed=9)
    assert_gradcheck(lambda x: ad.stack([constant, x], axis=2), normal((2, 3)))


# ----- where

WHERE_CASES = {
    "scalar": ((), (), (), True),
    "vector": ((5,), (5,), (5,), normal((5,), seed=5) > 0),
    "matrix": ((3, 4), (3, 4), (3, 4), normal((3, 4), seed=5) > 0),
    "broadcasting": ((3, 4), (4,), (3, 1), normal((3, 1), seed=5) > 0),
    "condition broadcasts": ((2, 3, 4), (3, 4), (4,), normal((3, 1), seed=5) > 0),
}


@pytest.mark.parametrize("name", WHERE_CASES)
def test_where_gradient(name):
    x_shape, y_shape, _, condition = WHERE_CASES[name]
    assert_gradcheck(lambda x, y: ad.where(condition, x, y),
                     normal(x_shape, seed=1), normal(y_shape, seed=2))


def test_where_with_a_constant_branch():
    x = normal((3, 4))
    assert_gradcheck(lambda x: ad.where(x.data > 0, x, 0.0), x)
    assert_gradcheck(lambda x: np.where(x.data > 0, x * 2, -x), x)


def test_where_forward_matches_numpy():
    x, y, condition = normal((3, 4), seed=1), normal((4,), seed=2), normal((3, 1), seed=3) > 0
    np.testing.assert_array_equal(ad.where(condition, ad.tensor(x), ad.tensor(y)).data,
                                  np.where(condition, x, y))


# ----- logsumexp, softmax, log_softmax

def _log_softmax_reference(x, axis):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


SOFTMAX_OPS = {
    "logsumexp": (ad.logsumexp,
                  lambda x, axis: np.log(np.exp(x - x.max()).sum(axis=axis)) + x.max()),
    "softmax": (ad.softmax, lambda x, axis: np.exp(_log_softmax_reference(x, axis))),
    "log_softmax": (ad.log_softmax, _log_softmax_reference),
}
SOFTMAX_CASES = {
    "vector": ((5,), -1),
    "matrix axis -1": ((3, 4), -1),
    "matrix axis 0": ((3, 4), 0),
    "3-d axis 1": ((2, 3, 4), 1),
}


@pytest.mark.parametrize("case", SOFTMAX_CASES.values(), ids=SOFTMAX_CASES.keys())
@pytest.mark.parametrize("name", SOFTMAX_OPS)
def test_softmax_family_gradient(name, case):
    op, _ = SOFTMAX_OPS[name]
    shape, axis = case
    assert_gradcheck(lambda x: op(x, axis=axis), normal(shape))


@pytest.mark.parametrize("case", SOFTMAX_CASES.values(), ids=SOFTMAX_CASES.keys())
@pytest.mark.parametrize("name", SOFTMAX_OPS)
def test_softmax_family_forward(name, case):
    op, reference = SOFTMAX_OPS[name]
    shape, axis = case
    x = normal(shape)
    np.testing.assert_allclose(op(ad.tensor(x), axis=axis).data, reference(x, axis), rtol=1e-13)


@pytest.mark.parametrize("name", SOFTMAX_OPS)
def test_softmax_family_of_a_broadcast_result(name):
    op, _ = SOFTMAX_OPS[name]
    assert_gradcheck(lambda x, y: op(x * y, axis=-1), normal((3, 1)), normal((4,), seed=1))


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", [None, 0, -1, (0, 1)])
def test_logsumexp_axes_and_keepdims(axis, keepdims):
    x = normal((3, 4))
    out = ad.logsumexp(ad.tensor(x), axis=axis, keepdims=keepdims)
    expected = np.log(np.exp(x).sum(axis=axis, keepdims=keepdims))
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.data, expected, rtol=1e-13)
    assert_gradcheck(lambda x: ad.logsumexp(x, axis=axis, keepdims=keepdims), x)


def test_softmax_rows_sum_to_one():
    s = ad.softmax(ad.tensor(normal((3, 4))), axis=-1).data
    np.testing.assert_allclose(s.sum(axis=-1), 1.0, rtol=1e-14)


@pytest.mark.parametrize("shift", [1000.0, -1000.0, 1e5])
@pytest.mark.parametrize("name", SOFTMAX_OPS)
def test_softmax_family_is_stable_for_huge_inputs(name, shift):
    """Values like 1000 overflow exp; the result must equal that of the shifted input."""
    op, _ = SOFTMAX_OPS[name]
    x = normal((3, 4))
    w = normal((3, 4), seed=1)
    small = ad.tensor(x, requires_grad=True)
    huge = ad.tensor(x + shift, requires_grad=True)
    out_small, out_huge = op(small, axis=-1), op(huge, axis=-1)
    assert np.all(np.isfinite(out_huge.data))
    expected = out_small.data + shift if name == "logsumexp" else out_small.data
    np.testing.assert_allclose(out_huge.data, expected, rtol=1e-12, atol=1e-9)
    weights = w[:, 0] if name == "logsumexp" else w
    (out_small * weights).sum().backward()
    (out_huge * weights).sum().backward()
    assert np.all(np.isfinite(huge.grad.data))
    np.testing.assert_allclose(huge.grad.data, small.grad.data, rtol=1e-9, atol=1e-9)


def test_logsumexp_of_equal_huge_values():
    x = ad.tensor([1000.0, 1000.0], requires_grad=True)
    out = ad.logsumexp(x)
    np.testing.assert_allclose(out.item(), 1000.0 + np.log(2.0), rtol=1e-15)
    out.backward()
    np.testing.assert_allclose(x.grad.data, [0.5, 0.5], rtol=1e-12)


# ----- the dot-product (VJP against JVP) test on ops with non-scalar outputs

DOT_PRODUCT_CASES = {
    "matmul": (lambda x, y: x @ y, [(3, 4), (4, 2)]),
    "batched matmul": (lambda x, y: x @ y, [(2, 1, 3, 4), (5, 4, 2)]),
    "broadcasting mul": (lambda x, y: x * y, [(3, 1), (4,)]),
    "div": (lambda x, y: x / (y * y + 1), [(3, 4), (4,)]),
    "tanh": (ad.tanh, [(3, 4)]),
    "softmax": (lambda x: ad.softmax(x, axis=0), [(3, 4)]),
    "log_softmax": (ad.log_softmax, [(3, 4)]),
    "logsumexp": (lambda x: ad.logsumexp(x, axis=1), [(3, 4)]),
    "max axis 1": (lambda x: x.max(axis=1), [(3, 4)]),
    "mean keepdims": (lambda x: x.mean(axis=0, keepdims=True), [(3, 4)]),
    "repeated indices": (lambda x: x[[0, 0, 2, 1, 2]], [(3, 4)]),
    "concatenate": (lambda x, y: ad.concatenate([x, y, x], axis=1), [(3, 4), (3, 2)]),
    "stack": (lambda x, y: ad.stack([x, y], axis=-1), [(3, 4), (3, 4)]),
    "transpose": (lambda x: x.transpose(2, 0, 1), [(2, 3, 4)]),
    "where": (lambda x, y: ad.where(MASK, x, y), [(3, 4), (4,)]),
}


@pytest.mark.parametrize("name", DOT_PRODUCT_CASES)
def test_dot_product_test_passes(name):
    op, shapes = DOT_PRODUCT_CASES[name]
    inputs = [normal(s, seed=i) for i, s in enumerate(shapes)]
    for seed in range(3):
        assert dot_product_test(op, inputs, seed=seed) < 1e-6


# ----- the checks can fail: a wrong backward rule is caught

class SquareMissingTheTwo(ad.Function):
    """z = x²  with the wrong rule dz/dx = x."""

    def forward(self, x):
        return x * x

    def backward(self, x, grad):
        return (grad * x,)


class MatMulWithSwappedRules(ad.Function):
    """z = x @ y with the original engine's published (swapped) rules."""

    def forward(self, x, y):
        return x @ y

    def backward(self, x, y, grad):
        return x.T @ grad, grad @ y.T


class SinWithSignError(ad.Function):
    """z = sin x  with the wrong rule dz/dx = -cos x."""

    def forward(self, x):
        return np.sin(x)

    def backward(self, x, grad):
        return (-grad * np.cos(x),)


WRONG_RULES = {
    "square missing the 2": (SquareMissingTheTwo(), [(3, 4)]),
    "matmul with swapped rules": (MatMulWithSwappedRules(), [(3, 3), (3, 3)]),
    "sin with a sign error": (SinWithSignError(), [(5,)]),
}


@pytest.mark.parametrize("name", WRONG_RULES)
def test_gradcheck_detects_a_wrong_backward(name):
    op, shapes = WRONG_RULES[name]
    result = gradcheck(weighted_sum(op), [normal(s, seed=i) for i, s in enumerate(shapes)])
    assert not result.ok
    assert result.max_relative_error > 1e-2
    assert "FAILED" in str(result)


@pytest.mark.parametrize("name", WRONG_RULES)
def test_dot_product_test_detects_a_wrong_backward(name):
    op, shapes = WRONG_RULES[name]
    assert dot_product_test(op, [normal(s, seed=i) for i, s in enumerate(shapes)]) > 1e-2


def test_a_user_function_with_a_right_rule_passes():
    class Cube(ad.Function):
        """z = x³;  dz/dx = 3x²"""

        def forward(self, x):
            return x ** 3

        def backward(self, x, grad):
            return (3 * grad * x * x,)

    assert_gradcheck(Cube(), normal((3, 4)))
    assert dot_product_test(Cube(), [normal((3, 4))]) < 1e-6

"""Property-based tests (hypothesis) over shapes and broadcasting.

For random broadcasting-compatible shape pairs and random data, every binary op
must compute what numpy computes, and its gradients must have the inputs' shapes
and equal the analytic value, summed back over the broadcast axes by an
independent reference (``np.bincount`` over broadcast element indices, not the
package's ``unbroadcast``). Runs are deterministic (``derandomize=True``).
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import ad

PROPERTY_SETTINGS = settings(max_examples=60, derandomize=True, database=None, deadline=None,
                             suppress_health_check=[HealthCheck.too_slow])

finite = st.floats(-10, 10, allow_nan=False, allow_infinity=False, width=64)
nonzero = st.one_of(st.floats(-10, -0.1), st.floats(0.1, 10))
pairs_of_shapes = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=4)
shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4)


def sum_back_to(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Reference unbroadcast: add each element of ``grad`` to the input element it was copied from."""
    source = np.broadcast_to(np.arange(int(np.prod(shape))).reshape(shape), grad.shape)
    summed = np.bincount(source.ravel(), weights=grad.ravel(), minlength=int(np.prod(shape)))
    return summed.reshape(shape)


def tie_share(x, y):
    """maximum's documented rule: the larger input gets the gradient, ties split it evenly."""
    return (x > y) + 0.5 * (x == y)


# name: (op, numpy forward, data for y,
#        d(sum(w * op(x, y)))/dx and /dy before summing back, as functions of (x, y, w))
BINARY = {
    "add": (lambda x, y: x + y, np.add, finite,
            lambda x, y, w: w, lambda x, y, w: w),
    "sub": (lambda x, y: x - y, np.subtract, finite,
            lambda x, y, w: w, lambda x, y, w: -w),
    "mul": (lambda x, y: x * y, np.multiply, finite,
            lambda x, y, w: w * y, lambda x, y, w: w * x),
    "div": (lambda x, y: x / y, np.divide, nonzero,
            lambda x, y, w: w / y, lambda x, y, w: -w * x / y ** 2),
    "maximum": (ad.maximum, np.maximum, finite,
                lambda x, y, w: w * tie_share(x, y), lambda x, y, w: w * (1 - tie_share(x, y))),
}


@st.composite
def binary_case(draw):
    name = draw(st.sampled_from(sorted(BINARY)))
    (x_shape, y_shape), out_shape = draw(pairs_of_shapes)
    x = draw(hnp.arrays(np.float64, x_shape, elements=finite))
    y = draw(hnp.arrays(np.float64, y_shape, elements=BINARY[name][2]))
    w = draw(hnp.arrays(np.float64, out_shape, elements=finite))
    return name, x, y, w


def assert_close(actual, expected):
    np.testing.assert_allclose(actual, expected, rtol=1e-10, atol=1e-10)


@PROPERTY_SETTINGS
@given(binary_case())
def test_binary_forward_equals_numpy(case):
    name, x, y, _ = case
    op, numpy_op = BINARY[name][:2]
    out = op(ad.tensor(x), ad.tensor(y))
    expected = numpy_op(x, y)
    assert out.shape == expected.shape
    np.testing.assert_array_equal(out.data, expected)


@PROPERTY_SETTINGS
@given(binary_case())
def test_binary_gradients_have_input_shapes_and_analytic_values(case):
    name, x, y, w = case
    op, _, _, dx, dy = BINARY[name]
    tx, ty = ad.tensor(x, requires_grad=True), ad.tensor(y, requires_grad=True)
    op(tx, ty).backward(w)
    assert tx.grad.shape == x.shape and ty.grad.shape == y.shape
    out_shape = w.shape
    xb, yb = np.broadcast_to(x, out_shape), np.broadcast_to(y, out_shape)
    assert_close(tx.grad.data, sum_back_to(dx(xb, yb, w), x.shape))
    assert_close(ty.grad.data, sum_back_to(dy(xb, yb, w), y.shape))


@PROPERTY_SETTINGS
@given(binary_case())
def test_only_inputs_that_require_grad_get_one(case):
    name, x, y, w = case
    op = BINARY[name][0]
    tx, ty = ad.tensor(x, requires_grad=True), ad.tensor(y)
    op(tx, ty).backward(w)
    assert tx.grad.shape == x.shape
    assert ty.grad is None


@PROPERTY_SETTINGS
@given(binary_case())
def test_the_loss_sum_gives_the_same_gradient_as_an_explicit_grad(case):
    name, x, y, w = case
    op = BINARY[name][0]
    a, b = ad.tensor(x, requires_grad=True), ad.tensor(x, requires_grad=True)
    op(a, y).backward(w)
    (op(b, y) * w).sum().backward()
    assert_close(a.grad.data, b.grad.data)


@PROPERTY_SETTINGS
@given(pairs_of_shapes, st.data())
def test_unbroadcast_matches_the_reference(pair, data):
    (shape, _), out_shape = pair
    grad = data.draw(hnp.arrays(np.float64, out_shape, elements=finite))
    summed = ad.unbroadcast(grad, shape)
    assert summed.shape == shape
    assert_close(summed, sum_back_to(grad, shape))
    assert_close(np.sum(summed), np.sum(grad))


@PROPERTY_SETTINGS
@given(pairs_of_shapes, st.data())
def test_unbroadcast_of_a_broadcast_counts_the_copies(pair, data):
    (shape, _), out_shape = pair
    g = data.draw(hnp.arrays(np.float64, shape, elements=finite))
    copies = int(np.prod(out_shape)) // max(int(np.prod(shape)), 1)
    assert_close(ad.unbroadcast(np.broadcast_to(g, out_shape), shape), g * copies)


@PROPERTY_SETTINGS
@given(shapes, st.data())
def test_unbroadcast_to_the_same_shape_is_the_identity(shape, data):
    g = data.draw(hnp.arrays(np.float64, shape, elements=finite))
    np.testing.assert_array_equal(ad.unbroadcast(g, shape), g)


@PROPERTY_SETTINGS
@given(shapes, st.data())
def test_sum_over_random_axes(shape, data):
    axes = data.draw(st.lists(st.integers(0, len(shape) - 1), unique=True, max_size=len(shape))
                     if shape else st.just([]))
    axis = tuple(axes) if axes else None
    keepdims = data.draw(st.booleans())
    x = data.draw(hnp.arrays(np.float64, shape, elements=finite))
    tx = ad.tensor(x, requires_grad=True)
    out = tx.sum(axis=axis, keepdims=keepdims)
    expected = np.sum(x, axis=axis, keepdims=keepdims)
    assert out.shape == np.shape(expected)
    assert_close(out.data, expected)
    w = data.draw(hnp.arrays(np.float64, np.shape(expected), elements=finite))
    out.backward(w)
    kept = np.sum(x, axis=axis, keepdims=True).shape
    assert_close(tx.grad.data, np.broadcast_to(np.reshape(w, kept), shape))


@PROPERTY_SETTINGS
@given(shapes, st.data())
def test_reshape_round_trip_keeps_gradient_shape(shape, data):
    x = data.draw(hnp.arrays(np.float64, shape, elements=finite))
    w = data.draw(hnp.arrays(np.float64, (int(np.prod(shape)),), elements=finite))
    tx = ad.tensor(x, requires_grad=True)
    tx.reshape(-1).backward(w)
    assert tx.grad.shape == shape
    np.testing.assert_array_equal(tx.grad.data, w.reshape(shape))

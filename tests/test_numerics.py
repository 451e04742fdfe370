"""Numerical edge cases: sigmoid's tails, reductions of 0-d tensors, a negative base.

PyTorch (float64) is the reference where it has an answer; here its answers are
written out (σ's exact tails, 1 for a 0-d reduction, NaN for d/dt (-2)^t), and
the exact values come from Python's decimal module at 50 digits.
"""

from decimal import Decimal, getcontext

import numpy as np
import pytest

import ad
from ad.check import gradcheck

getcontext().prec = 50


def exact_sigmoid(x: float) -> Decimal:
    return 1 / (1 + (-Decimal(x)).exp())


def ulps(got: np.ndarray, exact: list[Decimal], dtype) -> float:
    """The largest error in units in the last place of the exact value, rounded to dtype."""
    worst = 0.0
    for g, e in zip(np.ravel(got), exact):
        rounded = dtype(float(e))
        spacing = float(np.spacing(np.abs(rounded)))
        worst = max(worst, float(abs(Decimal(float(g)) - e)) / spacing)
    return worst


# |x| up to where σ(-|x|) and σ' are still normal numbers in each type.
TAILS = {np.float64: 700.0, np.float32: 85.0}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sigmoid_value_and_gradient_are_exact_in_both_tails(dtype):
    xs = np.linspace(-TAILS[dtype], TAILS[dtype], 1001).astype(dtype)
    x = ad.tensor(xs, requires_grad=True)
    z = ad.sigmoid(x)
    z.sum().backward()
    assert z.dtype == dtype and x.grad.dtype == dtype
    exact = [exact_sigmoid(float(v)) for v in xs]
    exact_grad = [exact_sigmoid(float(v)) * exact_sigmoid(-float(v)) for v in xs]   # σ' = σ(x)σ(-x)
    assert ulps(z.numpy(), exact, dtype) <= 3
    assert ulps(x.grad.numpy(), exact_grad, dtype) <= 4


@pytest.mark.parametrize("dtype, x", [(np.float32, -20.0), (np.float32, -80.0), (np.float64, -37.0),
                                      (np.float64, -700.0)])
def test_log_sigmoid_keeps_the_far_negative_tail(dtype, x):
    # log σ(x) = x - log(1 + eˣ) ≈ x, and its derivative σ(-x) ≈ 1; the old
    # 0.5 + 0.5 tanh(x/2) rounded σ to 0 there: -inf, with a NaN gradient.
    t = ad.tensor(x, dtype=dtype, requires_grad=True)
    y = ad.log(ad.sigmoid(t))
    y.backward()
    exact = x - float((1 + Decimal(x).exp()).ln())
    assert y.item() == pytest.approx(exact, rel=4 * float(np.finfo(dtype).eps))
    assert t.grad.item() == pytest.approx(1.0, rel=4 * float(np.finfo(dtype).eps))


def test_sigmoid_gradient_far_right_is_not_zero():
    # σ'(40) = e⁻⁴⁰/(1 + e⁻⁴⁰)² ≈ 4.2e-18: z(1 - z) with z rounded to 1 would give 0.
    t = ad.tensor(40.0, requires_grad=True)
    ad.sigmoid(t).backward()
    assert t.grad.item() == pytest.approx(float(exact_sigmoid(40.0) * exact_sigmoid(-40.0)), rel=1e-15, abs=0)


def test_sigmoid_second_derivative():
    x = ad.tensor(np.array([-3.0, -0.5, 0.0, 0.7, 4.0]), requires_grad=True)
    assert gradcheck(lambda x: ad.sigmoid(x).sum(), [x]).ok
    ad.sigmoid(x).sum().backward(create_graph=True)
    first = x.grad
    x.grad = None
    first.sum().backward()
    s = 1 / (1 + np.exp(-x.numpy()))
    np.testing.assert_allclose(x.grad.numpy(), s * (1 - s) * (1 - 2 * s), rtol=1e-12, atol=1e-15)


REDUCTIONS = [
    ("sum", lambda t, a: ad.sum(t, axis=a)),
    ("mean", lambda t, a: ad.mean(t, axis=a)),
    ("max", lambda t, a: ad.max(t, axis=a)),
    ("logsumexp", lambda t, a: ad.logsumexp(t, axis=a)),
    ("sum keepdims", lambda t, a: t.sum(axis=a, keepdims=True)),
    ("max keepdims", lambda t, a: t.max(axis=a, keepdims=True)),
]


@pytest.mark.parametrize("name, reduce", REDUCTIONS, ids=[r[0] for r in REDUCTIONS])
@pytest.mark.parametrize("axis", [0, -1, None])
@pytest.mark.parametrize("create_graph", [False, True])
def test_reductions_of_a_0d_tensor_over_an_axis(name, reduce, axis, create_graph):
    # numpy reduces a 0-d array over axis 0 or -1 to itself; so does PyTorch, with gradient 1.
    x = ad.tensor(3.0, requires_grad=True)
    y = reduce(x, axis)
    assert y.shape == ()
    assert y.item() == 3.0
    y.backward(create_graph=create_graph)
    assert x.grad.shape == () and x.grad.item() == 1.0


def test_logsumexp_of_a_0d_tensor_by_default():
    x = ad.tensor(-1.5, requires_grad=True)
    y = ad.logsumexp(x)            # the default axis is -1
    y.backward()
    assert (y.item(), x.grad.item()) == (-1.5, 1.0)


@pytest.mark.parametrize("base", [-2.0, -0.5, np.array([-2.0, 3.0])])
@pytest.mark.parametrize("create_graph", [False, True])
def test_negative_base_to_a_tensor_power(base, create_graph):
    # d/dt bᵗ = bᵗ log b is not real for b < 0: NaN, as numpy and PyTorch say, and no crash.
    t = ad.tensor(2.0, requires_grad=True)
    y = ad.sum(base ** t)
    y.backward(create_graph=create_graph)
    expected = np.sum(np.where(np.asarray(base) > 0, np.asarray(base) ** 2.0 * np.log(np.abs(base)), np.nan))
    assert y.item() == pytest.approx(float(np.sum(np.asarray(base) ** 2.0)))
    assert np.isnan(x := t.grad.item()) == np.isnan(expected)
    if not np.isnan(expected):
        assert x == pytest.approx(expected)


def test_negative_base_gives_no_warning():
    t = ad.tensor([1.0, 2.0], requires_grad=True)
    with np.errstate(all="raise"):
        ad.sum(np.array([-2.0, -3.0]) ** t).backward()
    assert np.isnan(t.grad.numpy()).all()

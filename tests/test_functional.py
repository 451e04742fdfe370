"""ad.gradients and the functional API (grad, vjp, jvp, jacobian, hessian, hvp).

References: derivatives worked out by hand, HIPS autograd (an independent engine
with its own jacobian and hessian), and finite differences in float64. Each
transformation must also be pure (no ``.grad`` is read or written), nest without
perturbation confusion, and refuse bad calls with a message that names it.
"""

from __future__ import annotations

import autograd
import autograd.numpy as anp
import numpy as np
import pytest

import ad

TOL = dict(rtol=1e-10, atol=1e-12)
rng = np.random.default_rng(9)
A = rng.standard_normal((3, 4))


def np_of(t):
    return t.numpy() if isinstance(t, ad.Tensor) else np.asarray(t)


# Each function is written twice, once for ad and once for autograd.numpy.
FUNCTIONS = {
    "tanh of a product": (lambda x: ad.tanh(ad.tensor(A) @ x), lambda x: anp.tanh(A @ x), (4,)),
    "softmax-like": (lambda x: ad.exp(x) / ad.exp(x).sum(), lambda x: anp.exp(x) / anp.sum(anp.exp(x)), (5,)),
    "matrix in, vector out": (lambda x: (x * x).sum(axis=1) + ad.sin(x[:, 0]),
                              lambda x: anp.sum(x * x, axis=1) + anp.sin(x[:, 0]), (3, 2)),
}
SCALARS = {
    "cubic": (lambda x: (x ** 3).sum() * x.sum(), lambda x: anp.sum(x ** 3) * anp.sum(x), (4,)),
    "log-sum-exp": (lambda x: ad.logsumexp(x, axis=None), lambda x: anp.log(anp.sum(anp.exp(x))), (2, 3)),
    "tanh network": (lambda x: (ad.tanh(ad.tensor(A) @ x) ** 2).sum(),
                     lambda x: anp.sum(anp.tanh(A @ x) ** 2), (4,)),
}


# ---------------------------------------------------------------- ad.gradients

def test_gradients_match_backward_and_touch_no_grad():
    x = ad.tensor(rng.standard_normal(4), requires_grad=True)
    y = (ad.tanh(x) * x).sum()
    (g,) = ad.gradients(y, x)
    assert x.grad is None
    y.backward()
    np.testing.assert_array_equal(g.numpy(), x.grad.numpy())


def test_gradients_with_respect_to_intermediate_tensors():
    x = ad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    z = x * 2
    w = (z * z).sum()
    gz, gx = ad.gradients(w, [z, x])
    np.testing.assert_allclose(gz.numpy(), 2 * z.numpy())
    np.testing.assert_allclose(gx.numpy(), 8 * x.numpy())
    assert z.grad is None and x.grad is None


def test_gradients_of_several_outputs_add_up_weighted():
    x = ad.tensor([1.0, -2.0], requires_grad=True)
    y1, y2 = x * x, ad.sin(x)
    v1, v2 = np.array([1.0, 2.0]), np.array([-1.0, 0.5])
    (g,) = ad.gradients([y1, y2], x, grad=[v1, v2])
    np.testing.assert_allclose(g.numpy(), v1 * 2 * x.numpy() + v2 * np.cos(x.numpy()), **TOL)


def test_an_input_nothing_depends_on_gets_zeros_of_its_shape_and_dtype():
    x = ad.tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    unused = ad.tensor(np.ones((2, 2), dtype=np.float32), requires_grad=True)
    gx, gu = ad.gradients((x * x).sum(), [x, unused])
    assert gu.shape == (2, 2) and gu.dtype == np.float32 and not gu.numpy().any()
    assert gx.dtype == np.float32


def test_gradients_with_create_graph_can_be_differentiated_again():
    x = ad.tensor(0.7, requires_grad=True)
    (g,) = ad.gradients(ad.tanh(x), x, create_graph=True)
    (h,) = ad.gradients(g, x)
    t = np.tanh(0.7)
    np.testing.assert_allclose(h.item(), -2 * t * (1 - t * t), **TOL)


def test_gradients_results_own_their_memory():
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    seed = np.array([3.0, 4.0])
    y = x + 0.0
    gy, gx = ad.gradients(y, [y, x], grad=seed)
    gy.data[0] = 100.0
    assert seed[0] == 3.0 and gx.numpy()[0] == 3.0


@pytest.mark.parametrize("call, message", [
    (lambda x: ad.gradients([1.0], x), "gradients: outputs must be a tensor"),
    (lambda x: ad.gradients(x * 2, "x"), "gradients: inputs must be a tensor"),
    (lambda x: ad.gradients(x * 2, x), r"gradients \(output 0\): the output has shape \(3,\)"),
    (lambda x: ad.gradients(x * 2, x, grad=np.ones(2)),
     r"grad has shape \(2,\) but the output has shape \(3,\)"),
    (lambda x: ad.gradients([x * 2, x * 3], x, grad=[np.ones(3)]), "1 grads for 2 outputs"),
])
def test_gradients_refuses_bad_calls_by_name(call, message):
    x = ad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with pytest.raises((TypeError, ValueError), match=message):
        call(x)


# ---------------------------------------------------------------- grad and value_and_grad

@pytest.mark.parametrize("name", SCALARS)
def test_grad_agrees_with_autograd(name):
    f, f_np, shape = SCALARS[name]
    x = rng.standard_normal(shape)
    np.testing.assert_allclose(np_of(ad.grad(f)(x)), autograd.grad(f_np)(x), **TOL)


def test_grad_of_several_arguments_and_value():
    f = lambda a, b, c: (a * b).sum() + c                          # noqa: E731
    a, b = rng.standard_normal(3), rng.standard_normal(3)
    value, (ga, gc) = ad.value_and_grad(f, argnums=(0, 2))(a, b, 2.0)
    np.testing.assert_allclose(value.item(), a @ b + 2.0, **TOL)
    np.testing.assert_allclose(ga.numpy(), b, **TOL)
    assert gc.item() == 1.0 and not value.requires_grad
    gb = ad.grad(f, argnums=-2)(a, b, 2.0)
    np.testing.assert_allclose(gb.numpy(), a, **TOL)


def test_grad_accepts_numbers_arrays_and_tensors_and_keeps_float32():
    f = lambda x: (x * x).sum()                                      # noqa: E731
    assert ad.grad(f)(3.0).item() == 6.0
    assert ad.grad(f)(2).item() == 4.0                               # integers become float64
    g = ad.grad(f)(np.array([1.0, 2.0], dtype=np.float32))
    assert g.dtype == np.float32
    t = ad.tensor([1.0, 2.0], requires_grad=True)
    np.testing.assert_array_equal(ad.grad(f)(t).numpy(), [2.0, 4.0])
    assert t.grad is None


def test_grad_is_pure():
    w = ad.tensor(rng.standard_normal(4), requires_grad=True)
    x = ad.tensor(rng.standard_normal(4), requires_grad=True)
    ad.grad(lambda x: (w * ad.tanh(x)).sum())(x)
    assert w.grad is None and x.grad is None


def test_third_derivative_by_nesting():
    third = ad.grad(ad.grad(ad.grad(lambda x: ad.sin(x) * x)))
    for x in (-1.0, 0.3, 2.0):
        expected = -3 * np.sin(x) - x * np.cos(x)                     # (x sin x)''' = -3 sin x - x cos x
        np.testing.assert_allclose(third(x).item(), expected, **TOL)


def test_no_perturbation_confusion():
    # d/dx [x * d/dy (x + y)] = d/dx [x * 1] = 1, not 2 (Siskind and Pearlmutter's example)
    assert ad.grad(lambda x: x * ad.grad(lambda y: x + y)(1.0))(1.0).item() == 1.0
    # the inner variable is the outer value: d/dx [x * d/dy (x y)|_{y=x}] = d/dx x^2 = 2x
    assert ad.grad(lambda x: x * ad.grad(lambda y: x * y)(x))(3.0).item() == 6.0
    # the inner gradient depends on x only through the closure
    assert ad.grad(lambda x: ad.grad(lambda y: x * y)(1.0))(3.0).item() == 1.0


def test_grad_of_a_gradient_that_depends_on_an_outer_tensor_records():
    w = ad.tensor(2.0, requires_grad=True)
    g = ad.grad(lambda x: w * x * x)(3.0)                # 2 w x = 12
    assert g.item() == 12.0 and g.requires_grad
    g.backward()                                         # d(2 w x)/dw = 2 x = 6
    assert w.grad.item() == 6.0


def test_a_constant_function_has_zero_gradient():
    assert ad.grad(lambda x: 5.0)(np.ones(3)).numpy().tolist() == [0.0, 0.0, 0.0]
    assert ad.grad(ad.grad(lambda x: 3 * x))(2.0).item() == 0.0


@pytest.mark.parametrize("call, error, message", [
    (lambda: ad.grad(lambda x: x * 2)(np.ones(3)), ValueError,
     r"grad: f must return one number, it returned shape \(3,\)"),
    (lambda: ad.grad(lambda x: x, argnums=1)(1.0), ValueError,
     "grad: argnums=1, but f was called with 1 argument"),
    (lambda: ad.grad(lambda x: x, argnums="0")(1.0), TypeError, "grad: argnums must be an int"),
    (lambda: ad.grad(lambda x, y: x, argnums=(0, -2))(1.0, 2.0), ValueError, "names an argument twice"),
    (lambda: ad.grad(lambda x: "one")(1.0), TypeError, "grad: f must return a tensor"),
    (lambda: ad.grad(lambda x: x)(1 + 2j), TypeError,
     "grad: cannot differentiate with respect to complex128"),
])
def test_grad_refuses_bad_calls_by_name(call, error, message):
    with pytest.raises(error, match=message):
        call()


# ---------------------------------------------------------------- vjp, jvp, jacobian

@pytest.mark.parametrize("name", FUNCTIONS)
def test_vjp_and_jvp_agree_with_autograd_jacobian(name):
    f, f_np, shape = FUNCTIONS[name]
    x = rng.standard_normal(shape)
    J = autograd.jacobian(f_np)(x)                       # out.shape + x.shape
    out, pullback = ad.vjp(f, x)
    v = rng.standard_normal(out.shape)
    for _ in range(2):                                   # the pullback may be called again
        (g,) = pullback(v)
        np.testing.assert_allclose(g.numpy(), np.tensordot(v, J, axes=v.ndim), **TOL)
    t = rng.standard_normal(shape)
    value, tangent = ad.jvp(f, (x,), (t,))
    np.testing.assert_allclose(value.numpy(), f_np(x), **TOL)
    np.testing.assert_allclose(tangent.numpy(), np.tensordot(J, t, axes=t.ndim), **TOL)


@pytest.mark.parametrize("mode", ["reverse", "forward"])
@pytest.mark.parametrize("name", FUNCTIONS)
def test_jacobian_both_modes_agree_with_autograd(name, mode):
    f, f_np, shape = FUNCTIONS[name]
    x = rng.standard_normal(shape)
    J = ad.jacobian(f, mode=mode)(x)
    np.testing.assert_allclose(J.numpy(), autograd.jacobian(f_np)(x), **TOL)


def test_jacobian_of_several_arguments_and_a_scalar_output():
    f = lambda a, b: (a * b).sum()                                   # noqa: E731
    a, b = rng.standard_normal(3), rng.standard_normal(3)
    for mode in ("reverse", "forward"):
        ja, jb = ad.jacobian(f, argnums=(0, 1), mode=mode)(a, b)
        np.testing.assert_allclose(ja.numpy(), b, **TOL)
        np.testing.assert_allclose(jb.numpy(), a, **TOL)


def test_jvp_against_central_differences_with_two_primals():
    f = lambda a, b: ad.tanh(a) * b + a                              # noqa: E731
    a, b, ta, tb = (rng.standard_normal(3) for _ in range(4))
    _, tangent = ad.jvp(f, (a, b), (ta, tb))
    h = 1e-6
    fd = (np.tanh(a + h * ta) * (b + h * tb) + a + h * ta
          - np.tanh(a - h * ta) * (b - h * tb) - a + h * ta) / (2 * h)
    np.testing.assert_allclose(tangent.numpy(), fd, rtol=1e-7, atol=1e-9)


def test_jvp_of_a_function_that_ignores_an_input():
    _, tangent = ad.jvp(lambda a, b: a * 2, (np.ones(2), np.ones(2)), (np.ones(2), np.ones(2)))
    np.testing.assert_array_equal(tangent.numpy(), [2.0, 2.0])


@pytest.mark.parametrize("call, message", [
    (lambda: ad.jvp(lambda x: x, (np.ones(3),), (np.ones(2),)),
     r"jvp: tangent 0 has shape \(2,\), but primal 0 has shape \(3,\)"),
    (lambda: ad.jvp(lambda x: x, (np.ones(3),), ()), "jvp: 1 primals but 0 tangents"),
    (lambda: ad.jvp(lambda x: x, np.ones(3), np.ones(3)), "jvp: pass primals and tangents as tuples"),
    (lambda: ad.vjp(lambda x: x * 2, np.ones(3))[1](np.ones(4)),
     r"vjp: the cotangent has shape \(4,\), but f's output has shape \(3,\)"),
    (lambda: ad.jacobian(lambda x: x, mode="sideways")(1.0), "jacobian: mode must be"),
    (lambda: ad.hessian(lambda x, y: x, argnums=(0, 1)), "hessian: argnums must be one int"),
    (lambda: ad.hvp(lambda x: (x * x).sum(), np.ones(3), np.ones(2)), r"hvp: v has shape \(2,\)"),
    (lambda: ad.hvp(lambda x: x * x, np.ones(3), np.ones(3)), r"hvp: f must return one number"),
])
def test_forward_and_jacobian_calls_refuse_bad_input_by_name(call, message):
    with pytest.raises((TypeError, ValueError), match=message):
        call()


# ---------------------------------------------------------------- hessian and hvp

@pytest.mark.parametrize("name", SCALARS)
def test_hessian_and_hvp_agree_with_autograd(name):
    f, f_np, shape = SCALARS[name]
    x = rng.standard_normal(shape)
    H = autograd.hessian(f_np)(x)
    np.testing.assert_allclose(ad.hessian(f)(x).numpy(), H, **TOL)
    v = rng.standard_normal(shape)
    np.testing.assert_allclose(ad.hvp(f, x, v).numpy(), np.tensordot(H, v, axes=v.ndim), **TOL)


def test_hvp_makes_two_backward_passes_whatever_the_size():
    from ad import ops
    calls = []
    original = ops.Tanh.backward

    def counted(self, *args):
        calls.append(1)
        return original(self, *args)

    ops.Tanh.backward = counted
    try:
        for n in (3, 30):
            calls.clear()
            ad.hvp(lambda x: ad.tanh(x).sum(), np.ones(n), np.ones(n))
            assert len(calls) == 2            # one tanh rule in each of the two passes
    finally:
        ops.Tanh.backward = original


def test_functional_calls_leave_every_grad_alone():
    x = ad.tensor(rng.standard_normal(4), requires_grad=True)
    f = lambda x: (ad.tanh(ad.tensor(A) @ x) ** 2).sum()             # noqa: E731
    ad.hessian(f)(x)
    ad.hvp(f, x, np.ones(4))
    ad.jacobian(lambda x: ad.tanh(x), mode="forward")(x)
    ad.vjp(lambda x: ad.tanh(x), x)[1](np.ones(4))
    assert x.grad is None


# ---------------------------------------------------------------- the edges

def test_size_zero_arguments_and_outputs():
    assert ad.grad(lambda x: x.sum())(np.zeros(0)).shape == (0,)
    for mode in ("reverse", "forward"):
        assert ad.jacobian(lambda x: x * 2, mode=mode)(np.zeros(0)).shape == (0, 0)
        assert ad.jacobian(lambda x: x * 2, mode=mode)(np.zeros((2, 0))).shape == (2, 0, 2, 0)


def test_zero_dimensional_arguments():
    np.testing.assert_allclose(ad.hessian(lambda x: x ** 4)(np.array(2.0)).numpy(), 48.0)
    for mode in ("reverse", "forward"):
        J = ad.jacobian(lambda x: ad.stack([x, x * x]), mode=mode)(np.array(3.0))
        np.testing.assert_allclose(J.numpy(), [1.0, 6.0])


@pytest.mark.parametrize("transform", [
    lambda f, x: ad.grad(lambda x: f(x).sum())(x),
    lambda f, x: ad.jacobian(f)(x),
    lambda f, x: ad.jacobian(f, mode="forward")(x),
    lambda f, x: ad.jvp(f, (x,), (np.ones(3),))[1],
    lambda f, x: ad.vjp(f, x)[1](np.ones(3))[0],
    lambda f, x: ad.hvp(lambda x: f(x).sum(), x, np.ones(3)),
])
def test_float32_stays_float32(transform):
    x = np.array([0.5, 1.0, 2.0], dtype=np.float32)
    assert transform(lambda x: x * x * x, x).dtype == np.float32


def test_a_cotangent_that_requires_grad_is_differentiated_through():
    c = ad.tensor([1.0, 2.0], requires_grad=True)
    _, pullback = ad.vjp(lambda x: x * x, np.array([3.0, 4.0]))
    (g,) = pullback(c)                         # 2 x c
    g.sum().backward()
    np.testing.assert_array_equal(g.numpy(), [6.0, 16.0])
    np.testing.assert_array_equal(c.grad.numpy(), [6.0, 8.0])


@pytest.mark.parametrize("call", [
    lambda: ad.jacobian(lambda x: x)(np.array([1 + 1j])),
    lambda: ad.jvp(lambda x: x, (np.array(["a"]),), (np.ones(1),)),
    lambda: ad.hvp(lambda x: x.sum(), np.array([True, 1j]), np.ones(2)),
])
def test_non_real_arguments_are_refused_by_name(call):
    with pytest.raises(TypeError, match=r"(jacobian|vjp|jvp|hvp): cannot differentiate"):
        call()

"""Custom Functions: the original engine's contract where it can work, and clear errors
that name the class where it cannot. Never an AttributeError from inside the engine."""

import numpy as np
import pytest

import ad


def make(forward=None, backward=None, name="Custom"):
    """A Function subclass from two plain functions (``forward(x)`` and ``backward(x, grad)``)."""
    body = {}
    if forward is not None:
        body["forward"] = lambda self, *xs: forward(*xs)
    if backward is not None:
        body["backward"] = lambda self, *xs_and_grad: backward(*xs_and_grad)
    return type(name, (ad.Function,), body)()


# ----- forward

def test_a_forward_that_returns_a_tensor_is_unwrapped():
    # The original engine's forward returned a new Variable; the literal port returns a tensor.
    class Cube(ad.Function):
        def forward(self, x):
            return ad.tensor(x ** 3)

        def backward(self, x, grad):
            return (grad * 3 * x ** 2,)

    x = ad.tensor([1.0, 2.0], requires_grad=True)
    y = Cube()(x)
    assert type(y.data) is np.ndarray and y.numpy().tolist() == [1.0, 8.0]
    y.sum().backward()
    assert x.grad.numpy().tolist() == [3.0, 12.0]


@pytest.mark.parametrize("result, expected", [(lambda x: float(x.sum()), 3.0),
                                              (lambda x: [float(v) for v in x], [1.0, 2.0]),
                                              (lambda x: 7, 7.0),
                                              (lambda x: x > 1, [0.0, 1.0])])
def test_a_forward_that_returns_numbers_or_lists_gives_float_arrays(result, expected):
    y = make(result, lambda x, g: (None,))(ad.tensor([1.0, 2.0], requires_grad=True))
    assert y.dtype.kind == "f"
    assert y.numpy().tolist() == expected


@pytest.mark.parametrize("result, pattern", [
    (lambda x: x * 1j, r"custom: the result of Custom\.forward .*complex128"),
    (lambda x: "text", r"custom: the result of Custom\.forward \(str\) holds <U4"),
    (lambda x: [[1.0], [2.0, 3.0]], r"Custom\.forward returned a list that is not an array"),
    (lambda x: None, r"custom: the result of Custom\.forward \(NoneType\) holds object"),
])
def test_a_forward_that_returns_something_else_is_named(result, pattern):
    with pytest.raises(TypeError, match=pattern):
        make(result, lambda x, g: (g,))(ad.tensor([1.0, 2.0], requires_grad=True))


def test_a_users_own_value_error_keeps_its_message():
    def forward(x, y):
        raise ValueError("x must be sorted")

    expected = r"^custom: x must be sorted \(inputs of shape \(2,\) and \(2,\)\)$"
    with pytest.raises(ValueError, match=expected) as info:
        make(forward)(ad.tensor([2.0, 1.0]), ad.tensor([1.0, 1.0]))
    assert "broadcast" not in str(info.value)
    assert isinstance(info.value.__cause__, ValueError)


def test_only_a_real_broadcasting_failure_says_broadcast():
    with pytest.raises(ValueError, match=r"add: shapes \(2,\) and \(3,\) cannot be broadcast together"):
        ad.tensor([1.0, 2.0]) + ad.tensor([1.0, 2.0, 3.0])


# ----- backward

def grad_of(function, x, create_graph=False):
    y = function(x)
    y.sum().backward(create_graph=create_graph)
    return x.grad


@pytest.mark.parametrize("create_graph", [False, True])
@pytest.mark.parametrize("returned", [
    lambda x, g: 2.0 * g,                     # bare, for one input
    lambda x, g: [2.0 * g],                   # a list
    lambda x, g: (ad.tensor(2.0 * np.asarray(g)),),   # a tensor
    lambda x, g: ((2 * np.ones(np.shape(x))).tolist(),),   # a nested list
    lambda x, g: (2 * np.ones(np.shape(x), dtype=int),),   # integers: made floats
])
def test_backward_may_return_numbers_lists_arrays_or_tensors(returned, create_graph):
    x = ad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    gx = grad_of(make(lambda x: 2.0 * x, returned), x, create_graph)
    assert gx.dtype == np.float64 and gx.numpy().tolist() == [2.0, 2.0, 2.0]


def test_backward_may_return_a_plain_float_for_a_scalar_input():
    x = ad.tensor(3.0, requires_grad=True)
    assert grad_of(make(lambda x: x * x, lambda x, g: 6.0), x).item() == 6.0


def test_a_gradient_with_broadcast_axes_is_summed_back():
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    gx = grad_of(make(lambda x: x.sum(), lambda x, g: (np.ones((3, 2)),)), x)
    assert gx.numpy().tolist() == [3.0, 3.0]


@pytest.mark.parametrize("returned, kind, pattern", [
    (lambda x, y, g: None, TypeError,
     r"Pair\.backward returned None; expected a tuple of 2 gradients .*instead of adding them to x\.grad"),
    (lambda x, y, g: (g,), TypeError, r"Pair\.backward returned 1 gradient for 2 inputs"),
    (lambda x, y, g: (g, g, g), TypeError, r"Pair\.backward returned 3 gradients for 2 inputs"),
    (lambda x, y, g: g, TypeError, r"Pair\.backward returned (an ndarray|a Tensor); expected a tuple of 2"),
    (lambda x, y, g: (g, np.ones(5)), ValueError,
     r"Pair\.backward: the gradient for input 1 has shape \(5,\), but the input has shape \(3,\)"),
    (lambda x, y, g: (g, 1j * g), TypeError,     # (with create_graph, mul refuses 1j first)
     r"(Pair\.backward: the gradient for input 1|mul: an input \(complex\)) holds complex128"),
    (lambda x, y, g: (g, "grad"), TypeError, r"Pair\.backward: the gradient for input 1 holds <U4"),
    (lambda x, y, g: (g, [[1.0], [1.0, 2.0]]), TypeError,
     r"Pair\.backward: the gradient for input 1 is not an array of numbers"),
])
@pytest.mark.parametrize("create_graph", [False, True])
def test_a_backward_that_breaks_the_contract_is_named(returned, kind, pattern, create_graph):
    x, y = ad.tensor([1.0, 2.0, 3.0], requires_grad=True), ad.tensor([4.0, 5.0, 6.0], requires_grad=True)
    z = make(lambda x, y: x * y, returned, name="Pair")(x, y)
    with pytest.raises(kind, match=pattern):
        z.sum().backward(create_graph=create_graph)


def test_a_backward_written_for_the_sixteen_line_engine_is_explained():
    class Square(ad.Function):
        def forward(self, x):
            return x * x

        def backward(self, x, grad):
            x.grad += 2 * x.data * grad          # the original contract: add into x.grad

    x = ad.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match=r"Square\.backward: 'numpy\.ndarray' object has no attribute "
                                        r"'grad'\. In ad, backward receives .*`return grad \* \.\.\.`"):
        Square()(x).sum().backward()


def test_an_unrelated_attribute_error_in_a_backward_is_left_alone():
    class Broken(ad.Function):
        def forward(self, x):
            return x

        def backward(self, x, grad):
            return (grad.no_such_thing,)

    with pytest.raises(AttributeError, match="no_such_thing"):
        Broken()(ad.tensor([1.0], requires_grad=True)).sum().backward()


def test_a_scalar_gradient_for_a_vector_input_is_a_shape_error_as_in_pytorch():
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match=r"Custom\.backward: the gradient for input 0 has shape \(\)"):
        grad_of(make(lambda x: x * 1.0, lambda x, g: 1.0), x)


def test_the_original_contract_adding_to_x_grad_gets_a_clear_error():
    # The seed engine's backward wrote `x.grad += ...` and returned nothing. In ad the
    # rule receives arrays; whatever it does, the engine's own error must name the class.
    class Doubling(ad.Function):
        def forward(self, x):
            return 2 * x

        def backward(self, x, grad):
            pass

    with pytest.raises(TypeError, match=r"Doubling\.backward returned None"):
        Doubling()(ad.tensor(1.0, requires_grad=True)).backward()


BAD_RETURNS = [None, 1.0, [1.0], [None, None, None], "g", object(), {"x": 1}, (1j,), ([[1], [1, 2]],),
               (np.ones((2, 2)),), (ad.tensor(np.ones(4)),)]


@pytest.mark.parametrize("bad", BAD_RETURNS, ids=[repr(b)[:20] for b in BAD_RETURNS])
def test_no_bad_return_reaches_the_engine_as_an_attribute_error(bad):
    x = ad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = make(lambda x: x * 1.0, lambda x, g: bad)(x)
    try:
        y.sum().backward()
    except AttributeError as error:                # pragma: no cover - the bug this guards against
        pytest.fail(f"AttributeError from the engine: {error}")
    except (TypeError, ValueError) as error:
        assert "Custom" in str(error)
    else:
        assert x.grad.shape == x.shape              # a return that could be converted


def test_a_missing_method_is_named():
    with pytest.raises(NotImplementedError, match="Lazy does not define forward"):
        type("Lazy", (ad.Function,), {})()(ad.tensor(1.0))

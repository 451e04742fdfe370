"""What users meet at the edges: replaced data, complex and boolean data, comparisons,
gradient memory, no_grad on generators, dtypes and the small conveniences.

Where PyTorch has an answer it is the reference: a boolean mask selects, `==`
compares elementwise, leaf gradients never share memory, `@no_grad()` covers a
generator's body, `float(t)` and `abs(t)` work.
"""

import subprocess
import sys
import warnings

import numpy as np
import pytest

import ad

# ----- replacing .data after recording

@pytest.mark.parametrize("create_graph", [False, True])
def test_replacing_data_of_an_input_after_recording_is_refused_in_both_modes(create_graph):
    x = ad.tensor(2.0, requires_grad=True)
    y = x * x
    x.data = np.array(3.0)
    with pytest.raises(RuntimeError, match=r"mul: input 0 \(shape \(\)\) had its \.data replaced"):
        y.backward(create_graph=create_graph)


@pytest.mark.parametrize("create_graph", [False, True])
def test_replacing_data_of_a_constant_tensor_is_refused_too(create_graph):
    x, w = ad.tensor([1.0, 2.0], requires_grad=True), ad.tensor([5.0, 6.0])
    y = (x * w).sum()
    w.data = np.array([7.0, 8.0])
    with pytest.raises(RuntimeError, match=r"mul: input 1 \(shape \(2,\)\) had its \.data replaced"):
        y.backward(create_graph=create_graph)


def test_in_place_edits_of_data_are_seen_alike_by_both_modes():
    # Documented: operations keep references, so both modes use the edited values.
    results = []
    for create_graph in (False, True):
        x = ad.tensor(2.0, requires_grad=True)
        y = x * x
        x.data[...] = 3.0
        y.backward(create_graph=create_graph)
        results.append(x.grad.item())
    assert results == [6.0, 6.0]


def test_an_optimiser_step_after_backward_is_fine():
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    for _ in range(3):
        loss = (x * x).sum()
        x.grad = None
        loss.backward()
        with ad.no_grad():
            x.data = x.data - 0.1 * x.grad.data      # a new array, after backward: allowed
    np.testing.assert_allclose(x.numpy(), np.array([1.0, 2.0]) * 0.8 ** 3)


# ----- complex and object data

COMPLEX_CASES = {
    "x * 1j": lambda x: x * 1j,
    "1j * x": lambda x: 1j * x,
    "x + complex array": lambda x: x + np.array([1j, 0, 0]),
    "complex array + x": lambda x: np.array([1j, 0, 0]) + x,
    "x ** 1j": lambda x: x ** 1j,
    "where": lambda x: ad.where(np.array([True, False, True]), x, 2j),
    "maximum": lambda x: ad.maximum(x, 1j),
    "object array": lambda x: x * np.array([1.0, 2.0, 3.0], dtype=object),
    "complex list": lambda x: x + [1j, 2, 3],
}


@pytest.mark.parametrize("case", list(COMPLEX_CASES))
def test_complex_and_object_data_are_refused_by_every_operation(case):
    x = ad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")           # no ComplexWarning on the way to the error
        with pytest.raises(TypeError, match=r"^\w+: .*(complex|object).* ad differentiates real"):
            COMPLEX_CASES[case](x)


def test_complex_tensors_are_refused_at_creation():
    with pytest.raises(TypeError, match="tensor: expected numbers"):
        ad.tensor(1j)


def test_a_real_array_constant_still_works():
    x = ad.tensor([1.0, 2.0], requires_grad=True)
    (x * np.array([3, 4]) + np.array([True, False])).sum().backward()
    assert x.grad.numpy().tolist() == [3.0, 4.0]


# ----- boolean and tensor indices

def test_a_boolean_tensor_as_an_index_is_refused_with_a_way_out():
    x = ad.tensor([10.0, 20.0, 30.0], requires_grad=True)
    with pytest.raises(IndexError, match="numpy boolean array for a mask"):
        x[ad.tensor([True, False, True])]
    with pytest.raises(IndexError, match="numpy integer array for positions"):
        x[ad.tensor([2, 0])]
    with pytest.raises(IndexError, match="cannot be an index"):
        x[0, ad.tensor(1)]


def test_a_numpy_boolean_mask_selects_like_pytorch():
    # torch: x[torch.tensor([True, False, True])] is tensor([10., 30.]); the gradient scatters back.
    x = ad.tensor([10.0, 20.0, 30.0], requires_grad=True)
    picked = x[np.array([True, False, True])]
    assert picked.numpy().tolist() == [10.0, 30.0]
    (picked * np.array([1.0, 2.0])).sum().backward()
    assert x.grad.numpy().tolist() == [1.0, 0.0, 2.0]


def test_a_mask_from_a_comparison_selects():
    x = ad.tensor([1.0, -2.0, 3.0], requires_grad=True)
    x[x > 0].sum().backward()
    assert x.grad.numpy().tolist() == [1.0, 0.0, 1.0]


# ----- comparisons

OPERATORS = {"==": np.equal, "!=": np.not_equal, "<": np.less, "<=": np.less_equal,
             ">": np.greater, ">=": np.greater_equal}


@pytest.mark.parametrize("symbol", list(OPERATORS))
def test_all_six_comparisons_are_elementwise_boolean_arrays(symbol):
    a = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
    b = np.array([2.0, 2.0, 2.0])
    expected = OPERATORS[symbol](a, b)
    ta, tb = ad.tensor(a, requires_grad=True), ad.tensor(b)
    compare = eval(f"lambda p, q: p {symbol} q")
    for p, q, plain_q in [(ta, tb, b), (ta, b, b), (a, tb, b), (ta, 2.0, 2.0)]:
        got = compare(p, q)
        assert type(got) is np.ndarray and got.dtype == bool, (p, q)
        np.testing.assert_array_equal(got, OPERATORS[symbol](a, plain_q))
    assert compare(2.0, tb).tolist() == OPERATORS[symbol](2.0, b).tolist()    # reflected
    np.testing.assert_array_equal(OPERATORS[symbol](ta, tb), expected)        # as numpy ufuncs


def test_a_comparison_works_as_a_where_condition():
    x = ad.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = ad.where(x == 2.0, x, 0.0)
    y.sum().backward()
    assert y.numpy().tolist() == [0.0, 2.0, 0.0]
    assert x.grad.numpy().tolist() == [0.0, 1.0, 0.0]


def test_tensors_stay_hashable_by_identity():
    a, b = ad.tensor(1.0), ad.tensor(1.0)
    table = {a: "a", b: "b"}
    assert table[a] == "a" and table[b] == "b" and len({a, b, a}) == 2
    assert bool(a == b)                         # equal values...
    assert hash(a) != hash(b) or a is b         # ...but different keys


# ----- gradient memory

def test_leaf_gradients_do_not_share_memory_through_views():
    a = ad.tensor(np.ones((2, 2)), requires_grad=True)
    b = ad.tensor(np.ones((2, 2)), requires_grad=True)
    ((a.reshape(4) + b.reshape(4)) * 2.0).sum().backward()     # add hands both one array
    assert not np.may_share_memory(a.grad.numpy(), b.grad.numpy())
    a.grad.data[...] = 0.0
    assert b.grad.numpy().tolist() == [[2.0, 2.0], [2.0, 2.0]]


@pytest.mark.parametrize("make", [lambda x: x, lambda x: x.reshape(4), lambda x: x + 0.0,
                                  lambda x: x.T.reshape(4)])
def test_leaf_gradients_never_share_the_callers_seed(make):
    x = ad.tensor(np.arange(4.0).reshape(2, 2), requires_grad=True)
    y = make(x)
    seed = np.full(y.shape, 2.0)
    y.backward(seed)
    assert not np.may_share_memory(x.grad.numpy(), seed)
    x.grad.data[...] = -1.0
    assert (seed == 2.0).all()


def test_a_gradient_never_aliases_an_input():
    class Echo(ad.Function):
        def forward(self, x):
            return x * 1.0

        def backward(self, x, grad):
            return (x,)                          # hands back the input's own array

    x = ad.tensor([1.0, 2.0], requires_grad=True)
    Echo()(x).sum().backward()
    assert not np.may_share_memory(x.grad.numpy(), x.numpy())


# ----- no_grad on generators

def test_no_grad_covers_the_body_of_a_generator_and_only_it():
    x = ad.tensor(1.0, requires_grad=True)

    @ad.no_grad()
    def steps():
        for k in range(3):
            received = yield x * k
            assert not ad.is_grad_enabled()
            if received is not None:
                yield received

    gen = steps()
    first = next(gen)
    assert not first.requires_grad
    assert ad.is_grad_enabled() and (x * 2).requires_grad      # the caller records between steps
    assert gen.send("hi") == "hi"
    assert [t.requires_grad for t in gen] == [False, False]
    assert ad.is_grad_enabled()


def test_no_grad_generator_passes_return_values_throw_and_close():
    @ad.no_grad()
    def inner():
        try:
            yield 1
        except KeyError:
            yield "caught"
        return "done"

    def outer():
        result = yield from inner()
        yield result

    gen = outer()
    assert next(gen) == 1
    assert gen.throw(KeyError()) == "caught"
    assert next(gen) == "done"
    closing = inner()
    next(closing)
    closing.close()
    assert ad.is_grad_enabled()


def test_enable_grad_generator_inside_no_grad():
    x = ad.tensor(1.0, requires_grad=True)

    @ad.enable_grad()
    def recorded():
        yield x * 2

    with ad.no_grad():
        assert next(recorded()).requires_grad
        assert not (x * 2).requires_grad


# ----- dtypes and conveniences

def test_tensor_takes_a_dtype():
    assert ad.tensor(0.0, dtype=np.float32).dtype == np.float32
    assert ad.tensor([1, 2], dtype="float32").dtype == np.float32
    assert ad.tensor(np.ones(2, np.float32), dtype=np.float64).dtype == np.float64
    with pytest.raises(TypeError, match="tensor: dtype must be a floating-point type"):
        ad.tensor([1, 2], dtype=int)
    source = np.ones(3, np.float32)
    t = ad.tensor(source, dtype=np.float32)
    t.data[0] = 5.0
    assert source[0] == 1.0                      # still a copy


def test_mixed_dtypes_promote_as_numpy_says():
    w = ad.tensor(np.ones(3, np.float32), requires_grad=True)
    assert (w * 0.5).dtype == np.float32                          # a Python number never promotes
    assert (w * ad.tensor(0.5)).dtype == np.float64               # a float64 tensor does
    assert (w * ad.tensor(0.5, dtype=np.float32)).dtype == np.float32
    (w * ad.tensor(0.5)).sum().backward()
    assert w.grad.dtype == np.float32                             # a gradient keeps its leaf's dtype


def test_float_abs_and_unary_plus():
    t = ad.tensor([-2.5], requires_grad=True)
    assert float(t) == -2.5 and isinstance(float(t), float)
    with pytest.raises(ValueError, match="one-element"):
        float(ad.tensor([1.0, 2.0]))
    assert +t is t
    y = abs(t)
    assert y.item() == 2.5
    y.backward()
    assert t.grad.item() == -1.0


def test_broadcast_to_accepts_an_int():
    x = ad.tensor(2.0, requires_grad=True)
    y = ad.broadcast_to(x, 3)
    assert y.shape == (3,)
    y.sum().backward()
    assert x.grad.item() == 3.0


def test_check_is_there_after_a_plain_import():
    code = "import ad; print(ad.check.gradcheck.__name__, ad.check.dot_product_test.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["gradcheck", "dot_product_test"]

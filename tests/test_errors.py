"""Bad input gets a clear, early error that names the op and the shapes.

Each test checks the message text. Where the package wraps an exception raised
by numpy, the original must stay attached as ``__cause__`` so nothing is lost.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import ad


def shapes_pattern(*shapes) -> str:
    """A regex matching all of ``shapes`` written as Python tuples, in this order."""
    return ".*".join(re.escape(str(tuple(s))) for s in shapes)


def matrix(*shape):
    return ad.tensor(np.ones(shape), requires_grad=True)


# ----- shape errors in operations

@pytest.mark.parametrize("form", ["operator", "ad.matmul", "ndarray @ tensor"])
def test_matmul_of_misaligned_shapes(form):
    x, y = matrix(2, 3), matrix(4, 1)
    call = {"operator": lambda: x @ y, "ad.matmul": lambda: ad.matmul(x, y),
            "ndarray @ tensor": lambda: np.ones((2, 3)) @ y}[form]
    with pytest.raises(ValueError, match=r"matmul.*\(2, 3\).*\(4, 1\)") as error:
        call()
    assert isinstance(error.value.__cause__, ValueError)


@pytest.mark.parametrize("shapes", [((3,), (4,)), ((2, 3), (4, 5)), ((5, 2, 3), (4, 3, 1))])
def test_matmul_message_names_both_shapes(shapes):
    with pytest.raises(ValueError, match="matmul.*" + shapes_pattern(*shapes)):
        ad.tensor(np.ones(shapes[0])) @ ad.tensor(np.ones(shapes[1]))


BROADCASTING_OPS = {
    "add": lambda x, y: x + y,
    "sub": lambda x, y: x - y,
    "mul": lambda x, y: x * y,
    "div": lambda x, y: x / y,
    "maximum": ad.maximum,
    "pow": lambda x, y: x ** y,
}


@pytest.mark.parametrize("name", BROADCASTING_OPS)
@pytest.mark.parametrize("shapes", [((2, 3), (4,)), ((3, 1, 2), (5, 3)), ((4,), (3,))])
def test_broadcasting_failure_names_the_op_and_shapes(name, shapes):
    x, y = ad.tensor(np.ones(shapes[0]), requires_grad=True), ad.tensor(np.ones(shapes[1]))
    with pytest.raises(ValueError, match=rf"{name}.*{shapes_pattern(*shapes)}.*broadcast") as error:
        BROADCASTING_OPS[name](x, y)
    assert isinstance(error.value.__cause__, ValueError)


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "maximum"])
def test_broadcasting_failure_with_a_plain_array(name):
    x = ad.tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match=rf"{name}.*\(2, 3\).*\(4,\)"):
        BROADCASTING_OPS[name](x, np.ones(4))


def test_concatenate_of_mismatched_shapes():
    with pytest.raises(ValueError, match=r"concatenate.*\(2, 3\).*\(4, 1\)") as error:
        ad.concatenate([matrix(2, 3), matrix(4, 1)], axis=1)
    assert error.value.__cause__ is not None


def test_stack_of_different_shapes():
    with pytest.raises(ValueError, match=r"stack.*\(2, 3\).*\(3, 2\)"):
        ad.stack([matrix(2, 3), matrix(3, 2)])


def test_bad_reshape():
    with pytest.raises(ValueError, match=r"reshape.*\(2, 3\).*\(4, ?2\)") as error:
        matrix(2, 3).reshape(4, 2)
    assert isinstance(error.value.__cause__, ValueError)


@pytest.mark.parametrize("index, axis_size", [(5, 2), ((slice(None), 7), 3), ([0, 9], 2)],
                         ids=["x[5]", "x[:, 7]", "x[[0, 9]]"])
def test_out_of_range_index(index, axis_size):
    with pytest.raises(IndexError, match=rf"\(2, 3\).*size {axis_size}") as error:
        matrix(2, 3)[index]
    assert isinstance(error.value.__cause__, IndexError)


def test_reduction_over_a_missing_axis():
    with pytest.raises(ValueError, match=r"sum.*\(2, 3\).*axis 3") as error:
        matrix(2, 3).sum(axis=3)
    assert error.value.__cause__ is not None


def test_a_failed_op_leaves_no_graph_behind():
    x = matrix(2, 3)
    with pytest.raises(ValueError):
        x @ matrix(4, 1)
    assert x.grad is None
    (x * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.data, np.full((2, 3), 2.0))


# ----- making tensors

def test_string_data():
    with pytest.raises(TypeError, match=r"tensor.*str"):
        ad.tensor("abc")


@pytest.mark.parametrize("data", [None, {"a": 1}, ["a", "b"], object()],
                         ids=["None", "dict", "list of str", "object"])
def test_non_numeric_data(data):
    with pytest.raises(TypeError, match="tensor"):
        ad.tensor(data)


@pytest.mark.parametrize("data", [[[1, 2], [3]], [1, [2, 3]]], ids=["ragged rows", "mixed nesting"])
def test_ragged_lists(data):
    with pytest.raises(ValueError, match="tensor") as error:
        ad.tensor(data)
    assert isinstance(error.value.__cause__, ValueError), "numpy's original error is not chained"


# ----- backward

def test_backward_on_a_non_scalar_without_grad():
    y = matrix(2, 3) * 2
    with pytest.raises(ValueError, match=r"backward.*\(2, 3\).*grad"):
        y.backward()


def test_backward_with_a_grad_of_the_wrong_shape():
    y = matrix(2, 3) * 2
    with pytest.raises(ValueError, match=r"backward.*\(3, 2\).*\(2, 3\)"):
        y.backward(np.ones((3, 2)))


def test_backward_on_a_scalar_with_a_grad_of_the_wrong_shape():
    y = (matrix(2, 3) * 2).sum()
    with pytest.raises(ValueError, match=r"backward.*\(2,\).*\(\)"):
        y.backward(np.ones(2))


@pytest.mark.parametrize("make", [
    lambda: ad.tensor([1.0, 2.0]).sum(),
    lambda: ad.tensor(3.0),
], ids=["result of constants", "leaf without requires_grad"])
def test_backward_on_a_tensor_that_does_not_require_grad(make):
    with pytest.raises(RuntimeError, match="backward.*does not require grad"):
        make().backward()


def test_backward_on_a_result_computed_under_no_grad():
    x = matrix(2, 3)
    with ad.no_grad():
        y = (x * 2).sum()
    with pytest.raises(RuntimeError, match="no_grad"):
        y.backward()


# ----- item

@pytest.mark.parametrize("shape", [(3,), (2, 3), (0,)])
def test_item_of_a_tensor_that_is_not_one_element(shape):
    with pytest.raises(ValueError, match=rf"item.*{re.escape(str(shape))}"):
        ad.tensor(np.ones(shape)).item()


@pytest.mark.parametrize("shape", [(), (1,), (1, 1)])
def test_item_of_a_one_element_tensor(shape):
    value = ad.tensor(np.full(shape, 2.5)).item()
    assert value == 2.5 and type(value) is float

"""The engine that chapters 4 and 5 build in their own cells, tested like the package.

Chapter 4 writes a small tensor engine in the cells it tags ``engine``; chapter 5
repeats that engine in one cell (tagged ``engine-recap``, so that it runs on its own,
on Colab) and grows it in cells tagged ``engine`` of its own. These tests check that
the repeated copy is chapter 4's code, statement for statement, and then run the
engine of each chapter through the checks the package passes: every operation against
central differences in float64 (broadcasting included), agreement with ``ad`` on a
small network, a 100,000-op chain, and a graph that reference counting alone frees.
"""

from __future__ import annotations

import ast
import gc
import json
import sys
import weakref
from pathlib import Path

import numpy as np
import pytest

import ad

BOOK = Path(__file__).resolve().parent.parent / "book"
CHAPTER_4 = BOOK / "04_vocabulary.ipynb"
CHAPTER_5 = BOOK / "05_order.ipynb"


def tagged_sources(path: Path, tag: str) -> list[str]:
    cells = json.loads(path.read_text())["cells"]
    return ["".join(c["source"]) for c in cells
            if c["cell_type"] == "code" and tag in c["metadata"].get("tags", [])]


def statements(sources: list[str]) -> list[str]:
    return [ast.dump(node) for source in sources for node in ast.parse(source).body]


def test_chapter_5_repeats_chapter_4s_engine_exactly():
    engine_4 = tagged_sources(CHAPTER_4, "engine")
    recap = tagged_sources(CHAPTER_5, "engine-recap")
    assert engine_4 and len(recap) == 1
    assert statements(recap) == statements(engine_4)


def engine(chapter: int) -> dict:
    """The namespace that the engine cells of chapter 4 (and 5) define."""
    sources = tagged_sources(CHAPTER_4, "engine")
    if chapter == 5:
        sources = tagged_sources(CHAPTER_5, "engine-recap") + tagged_sources(CHAPTER_5, "engine")
    namespace: dict = {"__name__": f"chapter{chapter}_engine"}
    for source in sources:
        exec(compile(source, f"<chapter {chapter} engine>", "exec"), namespace)
    return namespace


@pytest.fixture(scope="module", params=[4, 5], ids=["chapter4", "chapter5"])
def eng(request):
    return engine(request.param)


def central_differences(f, arrays, eps=1e-6):
    grads = []
    for k, x in enumerate(arrays):
        g = np.zeros_like(x)
        for i in np.ndindex(x.shape):
            up = [a.copy() for a in arrays]
            down = [a.copy() for a in arrays]
            up[k][i] += eps
            down[k][i] -= eps
            g[i] = (f(*up) - f(*down)) / (2 * eps)
        grads.append(g)
    return grads


rng = np.random.default_rng(4)


def weighted(y, shape):
    """A scalar loss that gives every element of y its own weight (the same for every run)."""
    return (y * np.random.default_rng([*shape, 7]).standard_normal(shape)).sum()


# name, f written for the engine's Tensors, the same f in numpy, input shapes, positive inputs
CASES = [
    ("add broadcast row", lambda a, b: a + b, lambda a, b: a + b, [(3, 4), (4,)], False),
    ("add broadcast column", lambda a, b: a + b, lambda a, b: a + b, [(3, 4), (3, 1)], False),
    ("mul broadcast both", lambda a, b: a * b, lambda a, b: a * b, [(4,), (3, 1)], False),
    ("sub and div", lambda a, b: (a - b) / b, lambda a, b: (a - b) / b, [(3, 4), (1, 4)], True),
    ("reflected operators", lambda a: (2 - a) + 3 / a - a, lambda a: (2 - a) + 3 / a - a, [(3, 4)], True),
    ("power", lambda a: a ** 3 + a ** -0.5, lambda a: a ** 3 + a ** -0.5, [(3, 4)], True),
    ("exp log tanh", lambda a: a.exp() + a.log() + a.tanh(),
     lambda a: np.exp(a) + np.log(a) + np.tanh(a), [(3, 4)], True),
    ("relu", lambda a: a.relu(), lambda a: np.maximum(a, 0), [(3, 4)], False),
    ("matmul transpose reshape", lambda a, b: a.reshape(4, 3).T @ b,
     lambda a, b: a.reshape(4, 3).T @ b, [(3, 4), (4, 2)], False),
    ("index with repeats", lambda a: a[np.array([0, 2, 0, 0])], lambda a: a[np.array([0, 2, 0, 0])],
     [(3, 4)], False),
    ("slice", lambda a: a[1:, ::2], lambda a: a[1:, ::2], [(3, 4)], False),
]


def check_case(eng, f, f_np, shapes, positive):
    arrays = [rng.standard_normal(s) for s in shapes]
    if positive:
        arrays = [np.abs(x) + 0.5 for x in arrays]
    tensors = [eng["Tensor"](x.copy()) for x in arrays]
    out = f(*tensors)
    weighted(out, out.data.shape).backward()
    numeric = central_differences(lambda *xs: weighted(f_np(*xs), out.data.shape), arrays)
    for t, n in zip(tensors, numeric):
        assert t.grad.shape == n.shape
        np.testing.assert_allclose(t.grad, n, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name, f, f_np, shapes, positive", CASES, ids=[c[0] for c in CASES])
def test_every_operation_agrees_with_central_differences(eng, name, f, f_np, shapes, positive):
    check_case(eng, f, f_np, shapes, positive)


@pytest.mark.parametrize("reduction", ["sum", "mean", "max"])
@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 1)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions_agree_with_central_differences(eng, reduction, axis, keepdims):
    check_case(eng, lambda a: getattr(a, reduction)(axis, keepdims),
               lambda a: getattr(np, reduction)(a, axis=axis, keepdims=keepdims), [(3, 4)], False)


def test_ties_split_the_gradient_evenly(eng):
    x = eng["Tensor"]([1.0, 3.0, 3.0])
    x.max().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.5, 0.5])


def test_random_broadcasts_give_gradients_of_the_inputs_shapes(eng):
    shapes_rng = np.random.default_rng(5)
    for _ in range(30):
        full = tuple(int(n) for n in shapes_rng.integers(1, 4, size=shapes_rng.integers(1, 4)))
        small = tuple(n if shapes_rng.random() < 0.5 else 1 for n in full[shapes_rng.integers(0, len(full)):])
        a, b = shapes_rng.standard_normal(full), shapes_rng.standard_normal(small)
        ta, tb = eng["Tensor"](a), eng["Tensor"](b)
        (ta * tb).sum().backward()
        assert ta.grad.shape == a.shape and tb.grad.shape == b.shape
        np.testing.assert_allclose(ta.grad, np.broadcast_to(b, full), rtol=1e-12)
        np.testing.assert_allclose(tb.grad, ad.unbroadcast(a, small), rtol=1e-12)


def test_integer_data_gives_float_gradients_and_float32_stays(eng):
    x = eng["Tensor"]([1, 2, 3])
    assert x.data.dtype == np.float64
    y = eng["Tensor"](np.array([1.0, 2.0], dtype=np.float32))
    (y * y).sum().backward()
    assert y.grad.dtype == np.float32


def test_a_small_network_agrees_with_ad(eng):
    net_rng = np.random.default_rng(6)
    X, Y = net_rng.standard_normal((8, 3)), net_rng.standard_normal((8, 2))
    params = [net_rng.standard_normal(s) for s in [(3, 5), (5,), (5, 2), (2,)]]
    mine = [eng["Tensor"](p.copy()) for p in params]
    w1, b1, w2, b2 = mine
    loss = ((((eng["Tensor"](X) @ w1 + b1).tanh() @ w2 + b2) - Y) ** 2).mean()
    loss.backward()
    theirs = [ad.tensor(p, requires_grad=True) for p in params]
    v1, c1, v2, c2 = theirs
    reference = ((ad.tanh(ad.tensor(X) @ v1 + c1) @ v2 + c2 - Y) ** 2).mean()
    reference.backward()
    np.testing.assert_allclose(loss.data, reference.item(), rtol=1e-13)
    for p, q in zip(mine, theirs):
        np.testing.assert_allclose(p.grad, q.grad.numpy(), rtol=1e-11, atol=1e-13)


def test_a_dropped_result_is_freed_by_reference_counting(eng):
    gc.disable()
    try:
        result = eng["Tensor"]([1.0, 2.0]) * eng["Tensor"](3.0)
        alive = weakref.ref(result)
        del result
        assert alive() is None
    finally:
        gc.enable()


def test_chapter_4s_walk_recurses_and_chapter_5s_does_not():
    for chapter in (4, 5):
        eng = engine(chapter)
        x = eng["Tensor"](1.0)
        y = x
        for _ in range(3 * sys.getrecursionlimit()):
            y = y + x
        if chapter == 4:
            with pytest.raises(RecursionError):
                y.backward()
        else:
            y.backward()
            assert x.grad == 3 * sys.getrecursionlimit() + 1


def test_chapter_5_visits_each_tensor_once():
    eng = engine(5)
    calls = []
    add_backward = eng["Add"].backward

    def counted(self, *args):
        calls.append(1)
        return add_backward(self, *args)

    eng["Add"].backward = counted
    try:
        x = eng["Tensor"](1.0)
        y = x
        for _ in range(30):
            y = y + y                    # 2**30 paths, 30 additions
        y.backward()
    finally:
        eng["Add"].backward = add_backward
    assert len(calls) == 30 and x.grad == 2.0 ** 30


def test_chapter_5_no_grad_and_retain_grad():
    eng = engine(5)
    a = eng["Tensor"](2.0)
    b = a * 3
    b.retain_grad()
    (b * b).backward()
    assert b.grad == 12.0 and a.grad == 36.0
    with eng["no_grad"]():
        c = a * 3
    assert c.node is None

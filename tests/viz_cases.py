"""Graphs that the tests of ad.viz lay out and draw (no matplotlib here: the layout
tests run without it)."""

import numpy as np

import ad


def chapter_graph():
    """f(x1, x2) = ln x1 + x1 x2 - sin x2: two inputs, each used twice."""
    x1 = ad.tensor(2.0, requires_grad=True, name="x1")
    x2 = ad.tensor(5.0, requires_grad=True, name="x2")
    f = ad.log(x1) + x1 * x2 - ad.sin(x2)
    return f, x1, x2


def book_graph():
    """The chapter graph as chapter 3 names it: v1 = ln x1 ... v5 = v4 - v3."""
    f, x1, x2 = chapter_graph()
    v4, v3 = f._node.inputs
    v1, v2 = v4._node.inputs
    for i, v in enumerate([v1, v2, v3, v4, f]):
        v.name = f"v{i + 1}"
    return f


def tree_graph():
    """A tree of uneven depth: every tensor is used once, so no arrow needs to cross."""
    leaves = [ad.tensor(float(i + 1), requires_grad=True, name=f"a{i}") for i in range(7)]
    a0, a1, a2, a3, a4, a5, a6 = leaves
    return ad.tanh(a0 * a1 + ad.exp(a2)) * ((a3 - a4) * (a5 + a6)).sin()


def mlp_graph():
    """A two-layer network written scalar by scalar: 40 nodes."""
    rng = np.random.default_rng(0)
    xs = [ad.tensor(v, name=f"x{i}") for i, v in enumerate([0.5, -1.0])]
    hidden = []
    for j in range(3):
        w = [ad.tensor(rng.normal(), requires_grad=True, name=f"w{j}{i}") for i in range(2)]
        b = ad.tensor(0.1, requires_grad=True, name=f"b{j}")
        hidden.append(ad.tanh(w[0] * xs[0] + w[1] * xs[1] + b))
    v = [ad.tensor(rng.normal(), requires_grad=True, name=f"v{j}") for j in range(3)]
    c = ad.tensor(0.0, requires_grad=True, name="c")
    y = v[0] * hidden[0] + v[1] * hidden[1] + v[2] * hidden[2] + c
    return (y - 1.0) ** 2


def matrix_graph():
    rng = np.random.default_rng(1)
    x = ad.tensor(rng.normal(size=(4, 2)), name="X")
    w1 = ad.tensor(rng.normal(size=(2, 8)), requires_grad=True, name="W1")
    b1 = ad.tensor(np.zeros(8), requires_grad=True, name="b1")
    w2 = ad.tensor(rng.normal(size=(8, 1)), requires_grad=True, name="W2")
    return ((ad.tanh(x @ w1 + b1) @ w2 - 1.0) ** 2).mean(axis=0).sum()


def leaf(name, value=1.0):
    return ad.tensor(value, requires_grad=True, name=name)


def product_graph():
    """The smallest graph worth drawing: a * b, three nodes."""
    return leaf("a", 3.0) * leaf("b", 2.0)


def exercise_graph():
    """Chapter 3's exercise, g = (a + b) a: a's edge to g skips a layer."""
    a, b = leaf("a", 3.0), leaf("b", 2.0)
    s = a + b
    s.name = "s"
    g = s * a
    g.name = "g"
    return g


def two_steps_graph():
    """Chapter 2's y = y * y + y, twice: every value used by both operations after it."""
    y = leaf("x", 0.5)
    for _ in range(2):
        y = y * y + y
    return y


def shared_leaf_graph():
    """(a + b)(c + a): the sums share a, so a goes between b and c."""
    a, b, c = leaf("a"), leaf("b"), leaf("c")
    return (a + b) * (c + a)


def reused_late_graph():
    """(s + b)(s + a) with s = sin(ab): the leaves come back two layers later."""
    a, b = leaf("a"), leaf("b")
    s = ad.sin(a * b)
    return (s + b) * (s + a)


def double_edge_graph():
    """h(a, b) = (ab + b)^2 / a written as u = t * t: two edges from t to u."""
    a, b = leaf("a", 2.0), leaf("b", 3.0)
    t = a * b + b
    t.name = "t"
    u = t * t
    u.name = "u"
    h = u / a
    h.name = "h"
    return h


def preview_graph():
    x = leaf("x")
    return ad.sin(x * x)


# Small graphs that can be drawn without a crossing; in the first three, the first
# walk from the output leaves one, so the layout has to find a better order.
PLANAR = {"exercise": exercise_graph, "shared leaf": shared_leaf_graph,
          "reused late": reused_late_graph, "chapter": lambda: chapter_graph()[0],
          "two steps": two_steps_graph, "preview": preview_graph, "double edge": double_edge_graph}

GRAPHS = {"chapter": lambda: chapter_graph()[0], "tree": tree_graph, "mlp": mlp_graph,
          "matrix": matrix_graph, "double edge": double_edge_graph}


LONG_NOTE = "a note much wider than the box"


def noted_graph():
    """y = h*h + h with h = x*x, and notes for x (one long line), h (two lines) and a
    tensor outside the graph (to be ignored). Returns y, x, h and the notes."""
    x = ad.tensor(0.5, requires_grad=True, name="x")
    h = x * x
    y = h * h + h
    stranger = ad.tensor(1.0, requires_grad=True)
    return y, x, h, {x: LONG_NOTE, h: "two\nlines", stranger: "ignored"}


def overlap(a, b, tol=1e-6):
    """Do two (left, bottom, right, top) rectangles share any area?"""
    return a[0] < b[2] - tol and b[0] < a[2] - tol and a[1] < b[3] - tol and b[1] < a[3] - tol

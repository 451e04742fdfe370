"""Tests of ad.viz: the graph layout's geometry, the backward replay, and each plot's artists.

Images are never compared; what is checked is what a reader would notice:
arrows that point backwards, boxes on top of each other, text spilling out
of its box, crossings in a tree, a picture that changes between runs.
"""

import itertools
import json
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.collections import PathCollection  # noqa: E402
from matplotlib.contour import ContourSet  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402
from matplotlib.quiver import Quiver  # noqa: E402

import ad  # noqa: E402
from ad import viz  # noqa: E402
from ad.tensor import _reverse_topological_order  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


# ---------------------------------------------------------------- graphs used below

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


def preview_graph():
    x = leaf("x")
    return ad.sin(x * x)


# Small graphs that can be drawn without a crossing; in the first three, the first
# walk from the output leaves one, so the layout has to find a better order.
PLANAR = {"exercise": exercise_graph, "shared leaf": shared_leaf_graph,
          "reused late": reused_late_graph, "chapter": lambda: chapter_graph()[0],
          "two steps": two_steps_graph, "preview": preview_graph}

GRAPHS = {"chapter": lambda: chapter_graph()[0], "tree": tree_graph, "mlp": mlp_graph,
          "matrix": matrix_graph}
LAYOUT_OPTIONS = [{}, {"leaves": "left"}, {"grads": "all", "edge_labels": "local"}]


def overlap(a, b, tol=1e-6):
    """Do two (left, bottom, right, top) rectangles share any area?"""
    return a[0] < b[2] - tol and b[0] < a[2] - tol and a[1] < b[3] - tol and b[1] < a[3] - tol


# ---------------------------------------------------------------- layout geometry

@pytest.mark.parametrize("options", LAYOUT_OPTIONS, ids=["near", "left", "labels"])
@pytest.mark.parametrize("name", GRAPHS)
def test_every_edge_goes_left_to_right(name, options):
    layout = viz.graph_layout(GRAPHS[name](), **options)
    for e in layout.edges:
        src, dst = layout.nodes[e.source], layout.nodes[e.target]
        assert src.layer < dst.layer
        assert src.box[2] < dst.box[0]
        xs = [x for x, _ in e.points]
        assert xs == sorted(xs), f"edge {src.title} -> {dst.title} turns back"
        assert xs[0] == pytest.approx(src.box[2]) and xs[-1] == pytest.approx(dst.box[0])


@pytest.mark.parametrize("options", LAYOUT_OPTIONS, ids=["near", "left", "labels"])
@pytest.mark.parametrize("name", GRAPHS)
def test_no_two_boxes_overlap(name, options):
    layout = viz.graph_layout(GRAPHS[name](), **options)
    boxes = [nd.box for nd in layout.nodes]
    for i, a in enumerate(boxes):
        for j in range(i + 1, len(boxes)):
            assert not overlap(a, boxes[j]), (layout.nodes[i].title, layout.nodes[j].title)


@pytest.mark.parametrize("name", GRAPHS)
def test_edges_never_run_through_a_box(name):
    """The straight stretches of an edge (along a column) stay clear of every other box."""
    layout = viz.graph_layout(GRAPHS[name](), leaves="left")
    for e in layout.edges:
        for i, ((x0, y0), (x1, y1)) in enumerate(zip(e.points, e.points[1:])):
            if i in e.gaps:
                continue
            assert y0 == y1
            for nd in layout.nodes:
                if nd.key in (e.source, e.target):
                    continue
                left, bottom, right, top = nd.box
                crosses_x = x0 < right and left < x1
                assert not (crosses_x and bottom < y0 < top), f"edge passes through {nd.title}"


@pytest.mark.parametrize("leaves", ["near", "left"])
def test_a_tree_has_no_crossings(leaves):
    layout = viz.graph_layout(tree_graph(), leaves=leaves)
    assert len(layout.nodes) == 16
    assert layout.crossings() == 0


@pytest.mark.parametrize("leaves", ["near", "left"])
@pytest.mark.parametrize("name", PLANAR)
def test_small_graphs_that_can_be_drawn_without_crossings_are(name, leaves):
    assert viz.graph_layout(PLANAR[name](), leaves=leaves).crossings() == 0


def test_the_exercise_graph_is_drawn_without_a_crossing():
    """g = (a + b) a, as chapter 3 draws it: a's long edge to g must not cut a's and b's
    edges to s (the first walk from g puts it there)."""
    layout = viz.graph_layout(exercise_graph(), leaves="left", edge_labels="local")
    assert layout.crossings() == 0
    ports = {}
    for e in layout.edges:
        ports.setdefault(e.target, []).append((layout.nodes[e.source].y, e.points[-1][1]))
    for arrivals in ports.values():     # each box's inputs arrive in their sources' order
        arrivals.sort()
        assert [p for _, p in arrivals] == sorted(p for _, p in arrivals)


def test_unavoidable_crossings_are_kept_to_the_minimum():
    """ab - (a + b): both leaves feed both operations, one crossing is unavoidable."""
    a, b = leaf("a"), leaf("b")
    assert viz.graph_layout(a * b - (a + b)).crossings() == 1


def test_argument_order_is_kept_when_it_costs_no_crossing():
    f, *_ = chapter_graph()                 # f = (ln x1 + x1 x2) - sin x2
    layout = viz.graph_layout(f)
    first, second = sorted((e for e in layout.edges if e.target == layout.output),
                           key=lambda e: e.index)
    assert first.points[-1][1] > second.points[-1][1]       # the first input on top


def total_crossings(rows, gaps):
    pos = {v: i for row in rows for i, v in enumerate(row)}
    return sum(viz._gap_crossings(gap, pos, pos) for gap in gaps)


def test_exact_order_is_the_minimum_over_all_orders():
    """The dynamic programme over layers against brute force on random layered graphs."""
    rng = np.random.default_rng(3)
    for _ in range(30):
        sizes = rng.integers(1, 5, size=int(rng.integers(2, 5)))
        starts = np.concatenate([[0], np.cumsum(sizes)])
        rows = [list(range(starts[i], starts[i + 1])) for i in range(len(sizes))]
        gaps = [[(a, b, -1) for a in rows[i] for b in rows[i + 1] if rng.random() < 0.5]
                for i in range(len(rows) - 1)]

        exact = viz._exact_order(rows, gaps, starts[-1])
        assert sorted(map(sorted, exact)) == sorted(map(sorted, rows))
        brute = min(total_crossings(orders, gaps) for orders in
                    itertools.product(*(itertools.permutations(r) for r in rows)))
        assert total_crossings(exact, gaps) == brute


@pytest.mark.parametrize("name", PLANAR)
def test_small_layouts_are_deterministic(name):
    def snapshot():
        layout = viz.graph_layout(PLANAR[name](), grads="all", edge_labels="local")
        return ([(nd.title, nd.x, nd.y) for nd in layout.nodes],
                [(e.points, e.label_at) for e in layout.edges])
    assert snapshot() == snapshot()


def test_crossings_are_counted():
    """The counter itself must see a crossing when there is one."""
    layout = viz.graph_layout(chapter_graph()[0], grads=None, leaves="left")
    assert layout.crossings() == 0
    x1 = next(e for e in layout.edges if layout.nodes[e.source].title == "x1")
    x2 = next(e for e in layout.edges if layout.nodes[e.source].title == "x2")
    for e, other in ((x1, x2), (x2, x1)):   # make each leave at the other's height
        i = e.gaps[0]
        e.points[i] = (e.points[i][0], layout.nodes[other.source].y)
    assert layout.crossings() >= 1


def test_layers_longest_path_with_leaves_near_their_use():
    f, x1, x2 = chapter_graph()
    layout = viz.graph_layout(f)
    output = layout.nodes[layout.output]
    assert output.tensor is f and output.layer == max(nd.layer for nd in layout.nodes)
    consumers = {}
    for e in layout.edges:
        consumers.setdefault(e.source, []).append(layout.nodes[e.target].layer)
    for nd in layout.nodes:
        if nd.inputs:
            assert nd.layer == 1 + max(layout.nodes[i].layer for i in nd.inputs)
        else:
            assert nd.layer == min(consumers[nd.key]) - 1
    assert layout.node(x1).layer == layout.node(x2).layer == 0


def test_leaves_left_puts_every_input_in_the_first_column():
    layout = viz.graph_layout(mlp_graph(), leaves="left")
    assert {nd.layer for nd in layout.nodes if nd.kind == "leaf"} == {0}
    near = viz.graph_layout(mlp_graph())
    assert {nd.layer for nd in near.nodes if nd.kind == "leaf"} != {0}


def test_positions_are_deterministic_across_processes():
    script = (
        "import json, sys; sys.path.insert(0, 'tests'); import test_viz as t; from ad import viz; "
        "L = viz.graph_layout(t.mlp_graph(), grads='all'); "
        "print(json.dumps([[n.title, n.layer, round(n.x, 6), round(n.y, 6)] for n in L.nodes]))")
    runs = [subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
            for _ in range(2)]
    first, second = (json.loads(r.stdout) for r in runs)
    assert first == second
    here = viz.graph_layout(mlp_graph(), grads="all")
    assert [[n.title, n.layer, round(n.x, 6), round(n.y, 6)] for n in here.nodes] == first


def test_the_forty_node_network_is_laid_out_cleanly():
    layout = viz.graph_layout(mlp_graph(), show_values=False)
    assert len(layout.nodes) == 40
    assert layout.crossings() <= 10
    assert layout.width < 3 * layout.height + 600     # wide, but not a ribbon


def test_constants_are_nodes_but_not_differentiable():
    x = ad.tensor(3.0, requires_grad=True, name="x")
    k = ad.tensor(2.0, name="k")
    y = (x * k + 1.0) ** 2
    layout = viz.graph_layout(y)
    kinds = {nd.title: nd.kind for nd in layout.nodes}
    assert kinds["x"] == "leaf" and kinds["k"] == "constant"
    assert kinds["1"] == "constant" and kinds["2"] == "constant"
    for e in layout.edges:
        assert e.differentiable == (layout.nodes[e.source].kind != "constant")


def test_a_tensor_used_twice_by_one_op_has_two_ports():
    x = ad.tensor(3.0, requires_grad=True, name="x")
    layout = viz.graph_layout(x * x)
    a, b = layout.edges
    assert (a.source, a.target) == (b.source, b.target) and {a.index, b.index} == {0, 1}
    assert a.points[-1][1] != b.points[-1][1]


def test_labels_show_name_op_shape_value_and_grad():
    w = ad.tensor([[1.0, 2.0]], requires_grad=True, name="w")
    big = ad.tensor(np.ones((3, 5)), requires_grad=True, name="big")
    y = (w * 3.0).sum(axis=1).sum() + big.sum()
    before = viz.graph_layout(y)
    assert not any(nd.grad_text for nd in before.nodes)
    y.backward()
    layout = viz.graph_layout(y)
    nw, nb = layout.node(w), layout.node(big)
    assert nw.lines == ["(1, 2)", "val [[1, 2]]"] and nw.grad_text == "grad [[3, 3]]"
    assert nb.lines == ["(3, 5)"] and nb.grad_text == "grad " + viz.CHECK
    assert "sum(axis=1)" in [nd.title for nd in layout.nodes]
    bare = viz.graph_layout(y, show_values=False, show_grads=False)
    assert bare.node(w).lines == ["(1, 2)"] and bare.node(w).grad_text == ""


# ---------------------------------------------------------------- the backward replay

def test_backward_steps_match_the_engine_and_leave_grad_alone():
    f, x1, x2 = chapter_graph()
    steps = viz.backward_steps(f)
    assert x1.grad is None and x2.grad is None
    f.backward()
    got = {id(s.tensor): s.grad for s in steps}
    assert got[id(x1)] == pytest.approx(x1.grad.data) and got[id(x2)] == pytest.approx(x2.grad.data)
    assert got[id(x1)] == pytest.approx(1 / 2.0 + 5.0)            # 1/x1 + x2
    assert got[id(x2)] == pytest.approx(2.0 - np.cos(5.0))        # x1 - cos x2
    viz.backward_steps(f)
    assert x1.grad.data == pytest.approx(5.5), "a replay must not add to .grad"


def test_each_step_comes_from_consumers_already_done():
    x = ad.tensor(1.5, requires_grad=True, name="x")
    y = x * x + x
    steps = viz.backward_steps(y)
    assert steps[0].tensor is y and steps[0].edges == []
    done = set()
    for step in steps:
        for source, consumer, _ in step.edges:
            assert source is step.tensor and id(consumer) in done
        done.add(id(step.tensor))
    last = steps[-1]
    assert last.tensor is x and len(last.edges) == 3          # x*x twice, + x once
    assert last.grad == pytest.approx(2 * 1.5 + 1)


def test_backward_steps_follow_the_engine_order_and_dtype():
    x = ad.tensor(np.float32([0.5, 2.0]), requires_grad=True, name="x")
    w = ad.tensor(np.float32(3.0), requires_grad=True, name="w")
    y = (ad.tanh(x * w) + x).sum()
    steps = viz.backward_steps(y)
    order = _reverse_topological_order(y)
    assert [id(s.tensor) for s in steps] == [id(t) for t in order]
    assert all(s.grad.dtype == np.float32 for s in steps)
    y.backward()
    got = {id(s.tensor): s.grad for s in steps}
    np.testing.assert_allclose(got[id(x)], x.grad.data, rtol=1e-6)
    np.testing.assert_allclose(got[id(w)], w.grad.data, rtol=1e-6)


def test_local_derivatives_are_the_partials():
    x = ad.tensor(3.0, requires_grad=True, name="x")
    y = ad.tensor(4.0, requires_grad=True, name="y")
    z = x * y
    parts = {(a.name, i): d for a, _, i, d in viz.local_derivatives(z)}
    assert parts == {("x", 0): 4.0, ("y", 1): 3.0}


# ---------------------------------------------------------------- drawing graphs

def texts_inside_boxes(ax):
    """Every text drawn in a node lies inside that node's box, as rendered."""
    ax.figure.canvas.draw()
    renderer = ax.figure.canvas.get_renderer()
    boxes = [p.get_window_extent(renderer) for p in ax.patches if isinstance(p, FancyBboxPatch)]
    inside = 0
    for t in ax.texts:
        if t.get_zorder() != 6:          # node text (edge labels have zorder 4)
            continue
        bb = t.get_window_extent(renderer)
        assert any(b.x0 <= bb.x0 and bb.x1 <= b.x1 and b.y0 <= bb.y0 and bb.y1 <= b.y1
                   for b in boxes), f"text {t.get_text()!r} spills out of its box"
        inside += 1
    return inside


def test_draw_graph_draws_one_box_per_node_and_one_arrow_per_edge():
    f, x1, x2 = chapter_graph()
    layout = viz.graph_layout(f)
    ax = viz.draw_graph(f, title="f")
    assert isinstance(ax, Axes) and ax.get_title() == "f"
    assert sum(isinstance(p, FancyBboxPatch) for p in ax.patches) == len(layout.nodes) == 7
    assert sum(isinstance(p, FancyArrowPatch) for p in ax.patches) == len(layout.edges) == 8
    assert texts_inside_boxes(ax) == 7 * 2         # title and value in each box
    assert not any("grad" in t.get_text() for t in ax.texts)


def test_draw_graph_text_fits_in_small_and_large_graphs():
    f, *_ = chapter_graph()
    ax = viz.draw_graph(f, grads="all", edge_labels="local")
    assert texts_inside_boxes(ax) == 7 * 3
    assert sum(t.get_zorder() == 4 for t in ax.texts) == 8      # one label per edge
    ax = viz.draw_graph(mlp_graph(), show_values=False)
    assert ax.figure.get_size_inches()[0] <= 7.0 + 1e-9
    assert texts_inside_boxes(ax) == 40
    fig, ax = plt.subplots(figsize=(3, 2))
    viz.draw_graph(matrix_graph(), ax=ax)
    texts_inside_boxes(ax)


def test_notes_add_lines_that_grow_the_box_and_are_drawn_inside_it():
    x = ad.tensor(0.5, requires_grad=True, name="x")
    h = x * x
    y = h * h + h
    stranger = ad.tensor(1.0, requires_grad=True)       # not in the graph: ignored
    long_note = "a note much wider than the box"
    notes = {x: long_note, h: "two\nlines", stranger: "ignored"}
    plain, noted = viz.graph_layout(y), viz.graph_layout(y, notes=notes)
    nx, nh = noted.node(x), noted.node(h)
    assert nx.notes == [long_note] and nh.notes == ["two", "lines"]
    assert noted.node(y).notes == []
    assert nx.height == pytest.approx(plain.node(x).height + viz.LINE_H)
    assert nh.height == pytest.approx(plain.node(h).height + 2 * viz.LINE_H)
    assert nx.width >= len(long_note) * viz.CHAR_W
    assert noted.node(y).height == pytest.approx(plain.node(y).height)
    as_pairs = viz.graph_layout(y, notes=[(x, long_note), (h, "two\nlines")])
    assert [nd.notes for nd in as_pairs.nodes] == [nd.notes for nd in noted.nodes]
    boxes = [nd.box for nd in noted.nodes]
    for i, a in enumerate(boxes):
        assert not any(overlap(a, b) for b in boxes[i + 1:])
    ax = viz.draw_graph(y, notes=notes)
    drawn = [t.get_text() for t in ax.texts]
    assert long_note in drawn and "two" in drawn and "lines" in drawn and "ignored" not in drawn
    assert texts_inside_boxes(ax) == len(noted.nodes) * 2 + 3     # title, value, notes


def label_rect(e):
    (x, y), (hw, hh) = e.label_at, viz._label_half_size(e.label)
    return (x - hw, y - hh, x + hw, y + hh)


@pytest.mark.parametrize("make", [book_graph, exercise_graph], ids=["chapter 3", "exercise"])
def test_edge_labels_sit_on_their_edges_clear_of_each_other_and_of_the_boxes(make):
    layout = viz.graph_layout(make(), leaves="left", edge_labels="local")
    assert all(e.label and e.label_at for e in layout.edges)      # scalars: every edge
    for e in layout.edges:
        curve = [viz._curve_point(e.points[i], e.points[i + 1], t / 200)
                 for i in e.gaps for t in range(201)]
        x, y = e.label_at
        assert min(np.hypot(x - cx, y - cy) for cx, cy in curve) < 0.5, "label off its edge"
        assert not any(overlap(label_rect(e), nd.box) for nd in layout.nodes)
    for i, e in enumerate(layout.edges):
        for f in layout.edges[i + 1:]:
            (x0, y0), (x1, y1) = e.label_at, f.label_at
            assert np.hypot(x0 - x1, y0 - y1) >= 2 * viz.FONT, (e.label, f.label)
            assert not overlap(label_rect(e), label_rect(f))
    again = viz.graph_layout(make(), leaves="left", edge_labels="local")
    assert [e.label_at for e in again.edges] == [e.label_at for e in layout.edges]


def test_edge_labels_are_drawn_where_the_layout_puts_them_on_white():
    g = exercise_graph()
    layout = viz.graph_layout(g, leaves="left", edge_labels="local")
    ax = viz.draw_graph(g, leaves="left", edge_labels="local")
    labels = [t for t in ax.texts if t.get_zorder() == 4]
    assert [t.get_position() for t in labels] == [e.label_at for e in layout.edges]
    white = matplotlib.colors.to_rgba("white")
    assert all(t.get_bbox_patch().get_facecolor() == white for t in labels)


def test_a_title_wider_than_the_graph_widens_the_figure():
    x = ad.tensor(2.0, requires_grad=True, name="x")
    y = x * x
    title = "A title much longer than this little graph of one multiplication"
    ax = viz.draw_graph(y, title=title)
    fig = ax.figure
    fig.canvas.draw()
    box = ax.title.get_window_extent(fig.canvas.get_renderer())
    assert 0 <= box.x0 and box.x1 <= fig.bbox.width, "the title is cut off"
    assert fig.get_size_inches()[0] <= 7.0 + 1e-9
    assert viz.draw_graph(y).figure.get_size_inches()[0] < fig.get_size_inches()[0]


def test_highlights_change_the_colours():
    f, x1, x2 = chapter_graph()
    v = f._node.inputs[0]           # ln x1 + x1 x2
    ax = viz.draw_graph(f, highlight_nodes=[x1], highlight_edges=[(v, f)])
    red = matplotlib.colors.to_rgba(viz.HIGHLIGHT)
    lit_boxes = [p for p in ax.patches if isinstance(p, FancyBboxPatch) and p.get_edgecolor() == red]
    lit_edges = [p for p in ax.patches if isinstance(p, FancyArrowPatch) and p.get_edgecolor() == red]
    assert len(lit_boxes) == 1 and len(lit_edges) == 1


def test_draw_backward_steps_one_panel_per_step_and_no_side_effects():
    f, x1, x2 = chapter_graph()
    axes = viz.draw_backward_steps(f, ncols=2)
    assert axes.shape == (4, 2)
    used = [ax for ax in axes.flat if ax.patches]
    assert len(used) == 7 and not axes.flat[-1].patches
    red = matplotlib.colors.to_rgba(viz.HIGHLIGHT)
    for i, ax in enumerate(used):
        assert ax.get_title().startswith(f"step {i + 1}: grad of")
        assert sum(p.get_edgecolor() == red for p in ax.patches if isinstance(p, FancyBboxPatch)) == 1
        grads_shown = sum("grad" in t.get_text() for t in ax.texts)
        assert grads_shown == i + 1
        texts_inside_boxes(ax)
    assert "sum over 2 edges" in used[-1].get_title()
    assert x1.grad is None and x2.grad is None


def test_backward_steps_keep_every_box_in_place_and_the_text_readable():
    """Two columns filling 7 inches by default; a box never changes between steps (the
    gradient line is reserved from the start); box text at 9 pt or more."""
    axes = viz.draw_backward_steps(book_graph())
    fig = axes.flat[0].figure
    assert axes.shape == (4, 2) and fig.get_size_inches()[0] <= 7.0 + 1e-9
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()

    def boxes(ax):          # size in pixels, corner in the panel's coordinates
        extents = [p.get_window_extent(renderer) for p in ax.patches
                   if isinstance(p, FancyBboxPatch)]
        return np.array([[*b.size, *ax.transAxes.inverted().transform(b.p0)] for b in extents])

    used = [ax for ax in axes.flat if ax.patches]
    assert len(used) == 7
    for ax in used:
        np.testing.assert_allclose(boxes(ax), boxes(used[0]), atol=1e-6)
    node_text = [t.get_fontsize() for ax in used for t in ax.texts if t.get_zorder() == 6]
    assert min(node_text) >= 9.0
    assert all(ax.title.get_fontsize() >= 9.0 for ax in used)


# ---------------------------------------------------------------- plots

def test_plot_tangents():
    ax = viz.plot_tangents(np.sin, np.cos, [-1.0, 0.0, 2.0])
    assert isinstance(ax, Axes)
    assert len(ax.lines) == 1 + 2 * 3                # the curve, then a tangent and a dot each
    slope = np.diff(ax.lines[3].get_ydata()) / np.diff(ax.lines[3].get_xdata())   # at x = 0
    assert slope[0] == pytest.approx(np.cos(0.0))
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
    assert [t.get_text() for t in ax.texts] == ["slope 0.54", "slope 1.00", "slope -0.42"]


def test_fd_errors_show_the_v_curve():
    hs = np.logspace(-15, -1, 57)
    fwd = viz.fd_errors(np.exp, np.exp, 1.0, hs, "forward")
    cen = viz.fd_errors(np.exp, np.exp, 1.0, hs, "central")
    best_fwd, best_cen = np.argmin(fwd), np.argmin(cen)
    assert 0 < best_fwd < len(hs) - 1 and 0 < best_cen < len(hs) - 1
    assert 1e-10 < hs[best_fwd] < 1e-6          # near sqrt(eps)
    assert 1e-7 < hs[best_cen] < 1e-3           # near cbrt(eps)
    assert cen.min() < fwd.min() / 100
    f32 = viz.fd_errors(np.exp, np.exp, 1.0, hs, "central", np.float32)
    assert f32.min() > 1000 * cen.min()
    with pytest.raises(ValueError, match="method"):
        viz.fd_errors(np.exp, np.exp, 1.0, hs, "backwards")


def test_plot_fd_error():
    ax = viz.plot_fd_error(np.sin, np.cos, 1.0, mark_best=True)
    assert isinstance(ax, Axes)
    assert ax.get_xscale() == ax.get_yscale() == "log"
    labels = [line.get_label() for line in ax.lines if not line.get_label().startswith("_")]
    assert labels == ["forward, float64", "central, float64", "forward, float32", "central, float32"]
    assert len(ax.lines) == 8                       # each curve and its best-step dot
    assert ax.get_legend() is not None and ax.get_xlabel() == "step size h"
    plain = viz.plot_fd_error(np.sin, np.cos, 1.0, methods=["central"], dtypes=[np.float32])
    assert len(plain.lines) == 1


def test_plot_field_uses_ad_gradients():
    f = lambda x, y: x * x * y + np.sin(y)
    ax = viz.plot_field(f, xlim=(-1, 1), ylim=(-1, 1), arrows=5)
    quivers = [c for c in ax.collections if isinstance(c, Quiver)]
    contours = [c for c in ax.collections if isinstance(c, ContourSet)]
    assert len(quivers) == 1 and len(contours) == 2
    q = quivers[0]
    centres = np.linspace(-0.8, 0.8, 5)
    X, Y = np.meshgrid(centres, centres)
    assert np.allclose(q.U.reshape(X.shape), 2 * X * Y)
    assert np.allclose(q.V.reshape(X.shape), X * X + np.cos(Y))
    assert ax.get_xlabel() == "x" and ax.get_title()


def test_plot_field_with_given_gradient_and_descent():
    f = lambda x, y: x ** 2 + 3 * y ** 2
    ax = viz.plot_field(f, lambda x, y: (2 * x, 6 * y), arrows=4, descent=True, colorbar=False)
    q = next(c for c in ax.collections if isinstance(c, Quiver))
    X, _ = np.meshgrid(np.linspace(-1.5, 1.5, 4), np.linspace(-1.5, 1.5, 4))
    assert np.allclose(q.U.reshape(X.shape), -2 * X)
    assert "downhill" in ax.get_title()


def test_plot_path():
    path = [(1.0, 1.0), (0.5, 0.4), (0.2, 0.1), (0.0, 0.0)]
    ax = viz.plot_path(path, f=lambda x, y: x ** 2 + y ** 2, label="descent")
    assert any(isinstance(c, ContourSet) for c in ax.collections)
    line = ax.lines[0]
    assert np.allclose(line.get_xydata(), path)
    assert len(ax.lines) == 3                      # the path, its start, its end
    ax2 = viz.plot_path(np.array(path) * 2, ax=ax)
    assert ax2 is ax and len(ax.lines) == 6
    assert not any(isinstance(c, PathCollection) for c in ax.collections)
    with pytest.raises(ValueError, match="shape"):
        viz.plot_path([(1.0, 2.0, 3.0)])


# ---------------------------------------------------------------- imports

def test_import_ad_does_not_import_matplotlib():
    code = ("import sys, ad, ad.viz; "
            "assert 'matplotlib' not in sys.modules, 'import ad pulled in matplotlib'; "
            "ad.viz.graph_layout(ad.tensor(1.0, requires_grad=True) * 2); "
            "assert 'matplotlib' not in sys.modules, 'the layout alone pulled in matplotlib'")
    subprocess.run([sys.executable, "-c", code], check=True)

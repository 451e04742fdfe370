"""Tests of ad.viz.layout: the graph layout's geometry and the backward replay.

No matplotlib here: the layout is pure Python and numpy, and these tests run
without matplotlib installed (test_viz_imports.py runs them so). What is
checked is what a reader would notice: arrows that point backwards, boxes on
top of each other, crossings in a tree, a picture that changes between runs.
"""

import itertools
import json
import subprocess
import sys

import numpy as np
import pytest
from viz_cases import (
    GRAPHS,
    LONG_NOTE,
    PLANAR,
    book_graph,
    chapter_graph,
    double_edge_graph,
    exercise_graph,
    leaf,
    mlp_graph,
    noted_graph,
    overlap,
    tree_graph,
    two_steps_graph,
)

import ad
from ad import viz
from ad.tensor import _reverse_topological_order
from ad.viz import graphs
from ad.viz import layout as lay

LAYOUT_OPTIONS = [{}, {"leaves": "left"}, {"grads": "all", "edge_labels": "local"}]
# the spacing of draw_backward_steps' panels, labels included (show_local=True)
STEP_SPACING = {"layer_gap": graphs.STEP_GAP, "box_pad": graphs.STEP_PAD,
                "label_gap": graphs.STEP_LABEL_GAP}


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


@pytest.mark.parametrize("options", LAYOUT_OPTIONS + [STEP_SPACING], ids=["near", "left", "labels", "steps"])
@pytest.mark.parametrize("name", GRAPHS)
def test_no_route_has_a_segment_of_rounding_length(name, options):
    # matplotlib draws no arrowhead on a last segment 1e-13 long (it has no direction).
    layout = viz.graph_layout(GRAPHS[name](), **options)
    for e in layout.edges:
        for (x0, y0), (x1, y1) in zip(e.points, e.points[1:]):
            assert abs(x1 - x0) + abs(y1 - y0) > 1e-3, (layout.nodes[e.source].title, e.points)


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
    return sum(lay._gap_crossings(gap, pos, pos) for gap in gaps)


def test_exact_order_is_the_minimum_over_all_orders():
    """The dynamic programme over layers against brute force on random layered graphs."""
    rng = np.random.default_rng(3)
    for _ in range(30):
        sizes = rng.integers(1, 5, size=int(rng.integers(2, 5)))
        starts = np.concatenate([[0], np.cumsum(sizes)])
        rows = [list(range(starts[i], starts[i + 1])) for i in range(len(sizes))]
        gaps = [[(a, b, -1) for a in rows[i] for b in rows[i + 1] if rng.random() < 0.5]
                for i in range(len(rows) - 1)]

        exact = lay._exact_order(rows, gaps, starts[-1])
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
        "import json, sys; sys.path.insert(0, 'tests'); import viz_cases as t; from ad import viz; "
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


def test_notes_add_lines_that_grow_the_box():
    y, x, h, notes = noted_graph()
    plain, noted = viz.graph_layout(y), viz.graph_layout(y, notes=notes)
    nx, nh = noted.node(x), noted.node(h)
    assert nx.notes == [LONG_NOTE] and nh.notes == ["two", "lines"]
    assert noted.node(y).notes == []
    assert nx.height == pytest.approx(plain.node(x).height + viz.LINE_H)
    assert nh.height == pytest.approx(plain.node(h).height + 2 * viz.LINE_H)
    assert nx.width >= len(LONG_NOTE) * viz.CHAR_W
    assert noted.node(y).height == pytest.approx(plain.node(y).height)
    as_pairs = viz.graph_layout(y, notes=[(x, LONG_NOTE), (h, "two\nlines")])
    assert [nd.notes for nd in as_pairs.nodes] == [nd.notes for nd in noted.nodes]
    boxes = [nd.box for nd in noted.nodes]
    for i, a in enumerate(boxes):
        assert not any(overlap(a, b) for b in boxes[i + 1:])


def label_rect(e):
    (x, y), (hw, hh) = e.label_at, lay._label_half_size(e.label)
    return (x - hw, y - hh, x + hw, y + hh)


@pytest.mark.parametrize("spacing", [{}, STEP_SPACING], ids=["spacious", "steps"])
@pytest.mark.parametrize("make", [book_graph, exercise_graph, double_edge_graph],
                         ids=["chapter 3", "exercise", "double edge"])
def test_edge_labels_sit_on_their_edges_clear_of_each_other_and_of_the_boxes(make, spacing):
    layout = viz.graph_layout(make(), leaves="left", edge_labels="local", **spacing)
    assert all(e.label and e.label_at for e in layout.edges)      # scalars: every edge
    for e in layout.edges:
        curve = [lay._curve_point(e.points[i], e.points[i + 1], t / 200)
                 for i in e.gaps for t in range(201)]
        x, y = e.label_at
        assert min(np.hypot(x - cx, y - cy) for cx, cy in curve) < 0.5, "label off its edge"
        assert not any(overlap(label_rect(e), nd.box) for nd in layout.nodes)
    for i, e in enumerate(layout.edges):
        for f in layout.edges[i + 1:]:
            (x0, y0), (x1, y1) = e.label_at, f.label_at
            assert np.hypot(x0 - x1, y0 - y1) >= 2 * viz.FONT, (e.label, f.label)
            assert not overlap(label_rect(e), label_rect(f))
    again = viz.graph_layout(make(), leaves="left", edge_labels="local", **spacing)
    assert [e.label_at for e in again.edges] == [e.label_at for e in layout.edges]


def square_graph():
    return (lambda x: x * x)(leaf("x", 3.0))


DOUBLE_EDGES = {"double edge": double_edge_graph, "two steps": two_steps_graph, "x * x": square_graph}
# draw_graph's labelled layouts, and draw_backward_steps(show_local=True)'s panels
LABELLED = {"spacious": {"grads": "all"}, "left": {"leaves": "left"},
            "steps": {"show_values": False, "grads": "all", **STEP_SPACING},
            "steps, left": {"show_values": False, "grads": "all", "leaves": "left", **STEP_SPACING}}


def parallel_groups(layout):
    groups = {}
    for e in layout.edges:
        groups.setdefault((e.source, e.target), []).append(e)
    return [es for es in groups.values() if len(es) > 1]


def height_at(e, x):
    """The height of edge e where it passes x (on its curves, as drawn)."""
    curve = np.array([lay._curve_point(e.points[i], e.points[i + 1], t / 400)
                      for i in e.gaps for t in range(401)])
    return float(np.interp(x, curve[:, 0], curve[:, 1]))


@pytest.mark.parametrize("labels", [None, "local"], ids=["plain", "labels"])
@pytest.mark.parametrize("name", DOUBLE_EDGES)
def test_parallel_edges_bow_apart_without_crossing(name, labels):
    """An input used twice by one operation has two edges, from one point to two ports;
    between them they bow apart, the upper one above the other all the way."""
    for spacing in ({}, STEP_SPACING):
        layout = viz.graph_layout(DOUBLE_EDGES[name](), edge_labels=labels, **spacing)
        groups = parallel_groups(layout)
        assert len(groups) == (2 if name == "two steps" else 1)
        for upper, lower in (sorted(es, key=lambda e: -e.points[-1][1]) for es in groups):
            assert upper.points[0] == lower.points[0]
            assert upper.points[-1][1] - lower.points[-1][1] > 1.0        # two ports
            assert len(upper.gaps) == len(lower.gaps) == 2                # two curves each
            i = upper.gaps[1]
            (xa, ya), (xb, yb) = upper.points[i], lower.points[i]       # the apexes
            assert xa == xb and ya - yb == pytest.approx(lay.BOW_LABELLED if labels else lay.BOW)
            start, end = upper.points[upper.gaps[0]][0], upper.points[i + 1][0]
            for x in np.linspace(start, end, 41)[1:]:
                assert height_at(upper, x) > height_at(lower, x), "parallel edges cross"
            assert layout.crossings() == 0


def label_clashes(layout):
    """Pairs of labels, and labels and boxes, whose rectangles overlap."""
    rects = [(e.label, label_rect(e)) for e in layout.edges if e.label]
    clashes = [(a, b) for i, (a, ra) in enumerate(rects) for b, rb in rects[i + 1:] if overlap(ra, rb)]
    return clashes + [(a, nd.title) for a, r in rects for nd in layout.nodes if overlap(r, nd.box)]


@pytest.mark.parametrize("options", LABELLED)
@pytest.mark.parametrize("name", DOUBLE_EDGES)
def test_parallel_edges_labels_are_clear_of_each_other_and_of_the_boxes(name, options):
    """The local derivatives on two edges between the same boxes (t * t: both are t) sit
    one above the other, each on its own edge, clear of every box and other label, in
    draw_graph's layouts and in draw_backward_steps(show_local=True)'s panels."""
    layout = viz.graph_layout(DOUBLE_EDGES[name](), edge_labels="local", **LABELLED[options])
    assert all(e.label_at for e in layout.edges)
    assert not label_clashes(layout)
    for es in parallel_groups(layout):
        assert es[0].label == es[1].label                 # d(t t)/dt along either edge is t
        (x0, y0), (x1, y1) = (e.label_at for e in es)
        assert x0 == x1 and abs(y0 - y1) >= 2 * viz.FONT
        for e in es:                                      # at its own apex
            assert e.label_at == e.points[e.gaps[1]]
    for e in layout.edges:                                # everything inside the layout
        left, bottom, right, top = label_rect(e)
        assert 0 <= left and right <= layout.width and -layout.height <= bottom and top <= 0
        assert all(-layout.height <= y <= 0 for _, y in e.points)


def test_a_narrower_label_gap_narrows_only_the_gaps_with_labels():
    f = book_graph()
    wide = viz.graph_layout(f, edge_labels="local")
    narrow = viz.graph_layout(f, edge_labels="local", label_gap=1.6 * viz.FONT)
    widest = max(len(e.label) for e in wide.edges) * viz.CHAR_W * viz.LABEL_SIZE
    columns = len(wide.layers)
    assert wide.width - narrow.width == pytest.approx((columns - 1) * (3.5 - 1.6) * viz.FONT)
    for left, right in zip(narrow.layers, narrow.layers[1:]):     # still room for a label
        gap = (min(narrow.nodes[k].box[0] for k in right) - max(narrow.nodes[k].box[2] for k in left))
        assert gap >= widest + 1.6 * viz.FONT - 1e-9
    unlabelled = viz.graph_layout(f)
    assert viz.graph_layout(f, label_gap=0.0).width == unlabelled.width


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


def test_every_gradient_is_the_sum_of_local_derivatives_times_consumer_gradients():
    """The sums that draw_backward_steps(show_local=True) lets a reader check, panel by panel."""
    f = book_graph()
    local = {(id(x), id(t), i): d for x, t, i, d in viz.local_derivatives(f)}
    grad = {}
    for step in viz.backward_steps(f):
        if step.edges:
            total = sum(local[id(x), id(t), i] * grad[id(t)] for x, t, i in step.edges)
            assert float(step.grad) == pytest.approx(total)
        grad[id(step.tensor)] = float(step.grad)
    assert len(local) == 8

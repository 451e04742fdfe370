"""Tests of ad.viz.graphs: the drawn graphs and backward steps, artist by artist.

Images are never compared; what is checked is what a reader would notice:
text spilling out of its box, boxes that move between steps, labels that are
not where the layout put them, text too small to read in the book.
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402
from viz_cases import (  # noqa: E402
    LONG_NOTE,
    book_graph,
    chapter_graph,
    double_edge_graph,
    exercise_graph,
    matrix_graph,
    mlp_graph,
    noted_graph,
    overlap,
    product_graph,
    two_steps_graph,
)

import ad  # noqa: E402
from ad import viz  # noqa: E402
from ad.viz import graphs  # noqa: E402

RED = matplotlib.colors.to_rgba(viz.HIGHLIGHT)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


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


def edge_labels(ax):
    return [t for t in ax.texts if t.get_zorder() == 4]


# ---------------------------------------------------------------- draw_graph

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
    assert len(edge_labels(ax)) == 8      # one label per edge
    ax = viz.draw_graph(mlp_graph(), show_values=False)
    assert ax.figure.get_size_inches()[0] <= graphs.FIGURE_WIDTH + 1e-9
    assert texts_inside_boxes(ax) == 40
    fig, ax = plt.subplots(figsize=(3, 2))
    viz.draw_graph(matrix_graph(), ax=ax)
    texts_inside_boxes(ax)


def test_notes_are_drawn_inside_their_boxes():
    y, x, h, notes = noted_graph()
    ax = viz.draw_graph(y, notes=notes)
    drawn = [t.get_text() for t in ax.texts]
    assert LONG_NOTE in drawn and "two" in drawn and "lines" in drawn and "ignored" not in drawn
    assert texts_inside_boxes(ax) == len(viz.graph_layout(y).nodes) * 2 + 3   # title, value, notes


def test_edge_labels_are_drawn_where_the_layout_puts_them_on_white():
    g = exercise_graph()
    layout = viz.graph_layout(g, leaves="left", edge_labels="local")
    ax = viz.draw_graph(g, leaves="left", edge_labels="local")
    labels = edge_labels(ax)
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
    assert fig.get_size_inches()[0] <= graphs.FIGURE_WIDTH + 1e-9
    assert viz.draw_graph(y).figure.get_size_inches()[0] < fig.get_size_inches()[0]


def test_highlights_change_the_colours():
    f, x1, x2 = chapter_graph()
    v = f._node.inputs[0]           # ln x1 + x1 x2
    ax = viz.draw_graph(f, highlight_nodes=[x1], highlight_edges=[(v, f)])
    lit_boxes = [p for p in ax.patches if isinstance(p, FancyBboxPatch) and p.get_edgecolor() == RED]
    lit_edges = [p for p in ax.patches if isinstance(p, FancyArrowPatch) and p.get_edgecolor() == RED]
    assert len(lit_boxes) == 1 and len(lit_edges) == 1


def column_gaps(ax):
    """The room between adjacent columns of boxes as drawn (a column's boxes share a centre)."""
    columns = {}
    for p in ax.patches:
        if isinstance(p, FancyBboxPatch):
            columns.setdefault(round(p.get_x() + p.get_width() / 2, 6), []).append(
                (p.get_x(), p.get_x() + p.get_width()))
    spans = [columns[c] for c in sorted(columns)]
    return [min(a for a, _ in right) - max(b for _, b in left) for left, right in zip(spans, spans[1:])]


def test_a_graph_too_wide_to_read_is_drawn_with_narrower_gaps():
    """The forty-node network at the usual gaps would need 7.4 pt text (10 px) to fit in
    the book's column (FIGURE_WIDTH); with its gaps narrowed (as far as that needs, or
    down to the step panels' gap), its text is readable again."""
    y = mlp_graph()
    spacious = viz.graph_layout(y, show_values=False)
    assert (spacious.width + 2 * viz.MARGIN) / 72 > graphs.FIGURE_WIDTH / 0.8
    ax = viz.draw_graph(y, show_values=False)
    fig = ax.figure
    assert fig.get_size_inches()[0] == pytest.approx(graphs.FIGURE_WIDTH)
    assert graphs.displayed_text_px(fig) >= graphs.MIN_TEXT_PX
    assert column_gaps(ax) == pytest.approx([column_gaps(ax)[0]] * (len(spacious.layers) - 1))
    assert graphs.STEP_GAP < column_gaps(ax)[0] < viz.LAYER_GAP
    small = viz.draw_graph(chapter_graph()[0])          # a small graph keeps its gaps
    layout = viz.graph_layout(chapter_graph()[0])
    assert small.figure.get_size_inches()[0] == pytest.approx((layout.width + 2 * viz.MARGIN) / 72)


# ---------------------------------------------------------------- draw_backward_steps

def test_draw_backward_steps_one_panel_per_step_and_no_side_effects():
    f, x1, x2 = chapter_graph()
    axes = viz.draw_backward_steps(f, ncols=2)
    assert axes.shape == (4, 2)
    used = [ax for ax in axes.flat if ax.patches]
    assert len(used) == 7 and not axes.flat[-1].patches
    for i, ax in enumerate(used):
        assert ax.get_title().startswith(f"step {i + 1}: grad of")
        assert sum(p.get_edgecolor() == RED for p in ax.patches if isinstance(p, FancyBboxPatch)) == 1
        grads_shown = sum("grad" in t.get_text() for t in ax.texts)
        assert grads_shown == i + 1
        assert not edge_labels(ax)
        texts_inside_boxes(ax)
    assert "sum over 2 edges" in used[-1].get_title()
    assert x1.grad is None and x2.grad is None


def boxes_in_panel(ax, renderer):
    """Each box's size in pixels and corner in the panel's coordinates."""
    extents = [p.get_window_extent(renderer) for p in ax.patches if isinstance(p, FancyBboxPatch)]
    return np.array([[*b.size, *ax.transAxes.inverted().transform(b.p0)] for b in extents])


@pytest.mark.parametrize("show_local", [False, True], ids=["plain", "local"])
def test_backward_steps_keep_every_box_in_place_and_the_text_readable(show_local):
    """Within the column; a box never changes between steps (the gradient line is reserved
    from the start); box text and titles at READABLE points (11 px as the book shows them)."""
    axes = viz.draw_backward_steps(book_graph(), show_local=show_local)
    fig = axes.flat[0].figure
    assert axes.shape == ((7, 1) if show_local else (4, 2))
    assert fig.get_size_inches()[0] <= graphs.FIGURE_WIDTH + 1e-9
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    used = [ax for ax in axes.flat if ax.patches]
    assert len(used) == 7
    for ax in used:
        np.testing.assert_allclose(boxes_in_panel(ax, renderer), boxes_in_panel(used[0], renderer),
                                   atol=1e-6)
        texts_inside_boxes(ax)
    node_text = [t.get_fontsize() for ax in used for t in ax.texts if t.get_zorder() == 6]
    assert min(node_text) >= graphs.READABLE
    assert all(ax.title.get_fontsize() >= graphs.READABLE for ax in used)


def step_layout(f):
    """The layout that draw_backward_steps(f, show_local=True) draws in every panel."""
    return viz.graph_layout(f, show_values=False, grads="all", edge_labels="local",
                            layer_gap=graphs.STEP_GAP, box_pad=graphs.STEP_PAD,
                            label_gap=graphs.STEP_LABEL_GAP)


def test_show_local_labels_every_edge_with_its_local_derivative():
    f = book_graph()
    axes = viz.draw_backward_steps(f, show_local=True)
    # f = v5 = v4 - v3, v4 = v1 + v2, v1 = ln x1, v2 = x1 x2, v3 = sin x2 at (2, 5)
    expected = sorted(["0.5", "5", "2", "0.284", "1", "1", "1", "-1"])
    layout = step_layout(f)
    local = {(id(x), id(t), i): d for x, t, i, d in viz.local_derivatives(f)}
    for ax in [ax for ax in axes.flat if ax.patches]:
        labels = edge_labels(ax)
        assert sorted(t.get_text() for t in labels) == expected
        for t, e in zip(labels, layout.edges):      # on its edge, the edge's own derivative
            assert t.get_position() == e.label_at
            x, consumer = layout.nodes[e.source].tensor, layout.nodes[e.target].tensor
            assert t.get_text() == f"{local[id(x), id(consumer), e.index]:.3g}"


def test_each_panel_shows_the_sum_it_computes():
    """Read each panel as a reader would: the new gradient (the red box) is the sum, over
    the red edges, of the edge's label times the gradient printed in the box it comes
    back from."""
    f = book_graph()
    axes = viz.draw_backward_steps(f, show_local=True)
    layout = step_layout(f)
    edge_at = {e.label_at: e for e in layout.edges}
    used = [ax for ax in axes.flat if ax.patches]
    for ax in used[1:]:                 # the first panel is the seed
        def grad_in(key, ax=ax):
            left, bottom, right, top = layout.nodes[key].box
            inside = [t.get_text() for t in ax.texts if t.get_text().startswith("grad ")
                      and left < t.get_position()[0] < right and bottom < t.get_position()[1] < top]
            assert len(inside) == 1
            return float(inside[0].removeprefix("grad "))

        boxes = [p for p in ax.patches if isinstance(p, FancyBboxPatch)]
        new = next(k for k, b in enumerate(boxes) if b.get_edgecolor() == RED)
        red = [t for t in edge_labels(ax) if matplotlib.colors.to_rgba(t.get_color()) == RED]
        assert red and all(edge_at[t.get_position()].source == new for t in red)
        total = sum(float(t.get_text()) * grad_in(edge_at[t.get_position()].target) for t in red)
        assert grad_in(new) == pytest.approx(total, rel=2e-3)


def drawn_clashes(ax):
    """Edge labels whose white boxes, as rendered, overlap each other or a node's box."""
    ax.figure.canvas.draw()
    renderer = ax.figure.canvas.get_renderer()

    def rect(artist):
        b = artist.get_window_extent(renderer)
        return (b.x0, b.y0, b.x1, b.y1)

    labels = [(t.get_text(), rect(t.get_bbox_patch())) for t in edge_labels(ax)]
    boxes = [rect(p) for p in ax.patches if isinstance(p, FancyBboxPatch)]
    clashes = [(a, b) for i, (a, ra) in enumerate(labels) for b, rb in labels[i + 1:]
               if overlap(ra, rb)]
    return clashes + [(a, "box") for a, r in labels for b in boxes if overlap(r, b)]


DOUBLE_EDGE_FIGURES = {     # (graph, how it is drawn, the layout drawn in every Axes)
    "double edge": (double_edge_graph, lambda f: [viz.draw_graph(f, edge_labels="local")],
                    lambda f: viz.graph_layout(f, edge_labels="local")),
    "double edge, left": (
        double_edge_graph, lambda f: [viz.draw_graph(f, leaves="left", edge_labels="local")],
        lambda f: viz.graph_layout(f, leaves="left", edge_labels="local")),
    "double edge, steps": (double_edge_graph,
                           lambda f: list(viz.draw_backward_steps(f, show_local=True).flat),
                           lambda f: step_layout(f)),
    "two steps, steps": (two_steps_graph,
                         lambda f: list(viz.draw_backward_steps(f, show_local=True).flat),
                         lambda f: step_layout(f)),
}


@pytest.mark.parametrize("name", DOUBLE_EDGE_FIGURES)
def test_labels_of_parallel_edges_are_drawn_apart(name):
    """u = t * t has two edges from t to u, each labelled 9: drawn, the two labels'
    boxes overlap neither each other nor any other label or box, and the two edges
    are two arrows, drawn apart."""
    make, draw, lay_out = DOUBLE_EDGE_FIGURES[name]
    f = make()
    layout = lay_out(f)
    twins = [(i, j) for i, e in enumerate(layout.edges) for j, d in enumerate(layout.edges)
             if i < j and (e.source, e.target) == (d.source, d.target)]
    assert twins
    for ax in draw(f):
        if not ax.patches:
            continue
        assert not drawn_clashes(ax)
        arrows = [p.get_path().vertices for p in ax.patches if isinstance(p, FancyArrowPatch)]
        assert len(arrows) == len(edge_labels(ax)) == len(layout.edges)
        for i, j in twins:          # one start, one box, bowed apart on the way
            a, b = arrows[i], arrows[j]
            assert tuple(a[0]) == tuple(b[0]) and a.shape == b.shape
            assert np.abs(a - b)[:, 1].max() >= 2 * viz.FONT


def test_show_local_and_edge_labels_are_exclusive():
    f = book_graph()
    with pytest.raises(ValueError, match="show_local"):
        viz.draw_backward_steps(f, show_local=True, edge_labels={})


# ---------------------------------------------------------------- readable in the book

def test_displayed_text_px_follows_the_notebook_and_the_column():
    fig = plt.figure(figsize=(10, 2))
    fig.add_artist(Line2D([0, 1], [0.5, 0.5], transform=fig.transFigure))   # 10 inches drawn
    fig.text(0.5, 0.7, "ten points", fontsize=10)
    fig.text(0.5, 0.3, "", fontsize=2)                                     # empty: not counted
    shown_px = 10 * 100 / 72 * graphs.COLUMN_PX / (1000 + 20)        # 0.1 inch of padding either side
    assert graphs.displayed_text_px(fig) == pytest.approx(shown_px, rel=1e-3)
    assert graphs.displayed_text_px(fig, column_px=2000) == pytest.approx(10 * 100 / 72)
    with pytest.raises(ValueError, match="no text"):
        graphs.displayed_text_px(plt.figure())


READABLE_FIGURES = {
    "3 nodes": lambda: viz.draw_graph(product_graph(), title="a * b"),
    "3 nodes, labels": lambda: viz.draw_graph(product_graph(), grads="all", edge_labels="local"),
    "7 nodes": lambda: viz.draw_graph(chapter_graph()[0]),
    "7 nodes, chapter 3": lambda: viz.draw_graph(book_graph(), leaves="left", edge_labels="local",
                                                 title="Each edge labelled with its local derivative"),
    "7 nodes, steps": lambda: viz.draw_backward_steps(book_graph()),
    "7 nodes, steps as chapter 3": lambda: viz.draw_backward_steps(
        book_graph(), ncols=2, panel_width=4.0, title="Reverse accumulation, one node per step"),
    "7 nodes, steps with local derivatives": lambda: viz.draw_backward_steps(book_graph(),
                                                                             show_local=True),
    "40 nodes": lambda: viz.draw_graph(mlp_graph(), show_values=False),
}


@pytest.mark.parametrize("name", READABLE_FIGURES)
def test_graph_text_is_at_least_11_px_in_the_book(name):
    drawn = READABLE_FIGURES[name]()
    fig = drawn.flat[0].figure if isinstance(drawn, np.ndarray) else drawn.figure
    assert graphs.displayed_text_px(fig) >= 11.0


def test_backward_steps_rows_are_separated_by_row_gap():
    """The space between one row's graphs and the next row's titles is row_gap inches."""
    for gap in (0.0, 0.5):
        axes = viz.draw_backward_steps(book_graph(), ncols=1, row_gap=gap)
        fig = axes.flat[0].figure
        h = fig.get_size_inches()[1]
        first, second = axes[0, 0].get_position(), axes[1, 0].get_position()
        title_room = first.y0 - second.y1                 # between the two panels' boxes, in figure units
        if gap == 0.0:
            base = title_room * h
        else:
            assert (title_room * h - base) == pytest.approx(gap)
        plt.close(fig)

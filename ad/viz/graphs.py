"""Expression graphs and the backward pass, drawn with matplotlib alone (no Graphviz).

:func:`draw_graph` draws the layout that :func:`graph_layout` computes
(in ``ad.viz.layout``); :func:`draw_backward_steps` draws the replay of
:func:`backward_steps` as a grid of small graphs. matplotlib is imported when
one of them is first called.

A figure made here is sized so that its smallest text is readable where it
will be shown: a notebook (and the book built from it) shows a figure at
100 CSS pixels per inch, cropped to what is drawn, or narrower to fit the
page's text column (the book saves it at twice that many image pixels, for
sharp HiDPI screens, without changing its displayed size).
:func:`displayed_text_px` measures a figure the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Literal, Mapping

import numpy as np

from .. import Tensor
from ._mpl import pyplot
from .layout import (
    CHAR_W,
    FONT,
    LABEL_GAP,
    LABEL_SIZE,
    LAYER_GAP,
    LINE_H,
    GraphLayout,
    backward_steps,
    graph_layout,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["draw_graph", "draw_backward_steps", "displayed_text_px"]

MARGIN = 0.6 * FONT           # room around a drawn graph
# The small graphs of draw_backward_steps have narrower gaps, padding and margins, so
# that their text stays readable.
STEP_GAP, STEP_PAD, STEP_MARGIN = 1.15 * FONT, 0.3 * FONT, 0.2 * FONT
STEP_LABEL_GAP = 1.6 * FONT   # ...and leave less room beside their edge labels

COLORS = {
    "leaf": ("#dbeafe", "#1d4ed8"),       # (face, edge): inputs that need a gradient
    "op": ("#fef3c7", "#b45309"),         # operations
    "constant": ("#f1f5f9", "#64748b"),   # numbers and tensors that need no gradient
}
EDGE_COLOR, CONSTANT_EDGE_COLOR = "#475569", "#94a3b8"
HIGHLIGHT, GRAD_COLOR = "#dc2626", "#b91c1c"
NOTE_COLOR = "#6d28d9"                 # the caller's notes (see graph_layout)

# How a figure is shown: at DISPLAY_DPI CSS px per inch, narrower if it is wider than
# the book's text column (about 670 px in a 1280 px window; about 600 inside the box of
# an exercise's solution, where a figure should pass max_width=6.0). Text of MIN_TEXT_PX is the
# smallest a figure made here aims for: READABLE points. A graph whose text would be
# smaller gets narrower gaps, enough for its text to reach COMFORTABLE points (12 px).
DISPLAY_DPI = 100
COLUMN_PX = 670
MIN_TEXT_PX = 11.0
READABLE = MIN_TEXT_PX * 72 / DISPLAY_DPI
COMFORTABLE = 12.0 * 72 / DISPLAY_DPI
FIGURE_WIDTH = COLUMN_PX / DISPLAY_DPI      # inches: the widest a figure made here gets...
STEPS_WIDTH = FIGURE_WIDTH                  # ...and what a grid of steps fills by default


# ---------------------------------------------------------------- measuring what a reader sees

def displayed_text_px(fig: Figure, column_px: float = COLUMN_PX) -> float:
    """The size in CSS px of the smallest text in ``fig`` as a notebook or the book shows it.

    Jupyter saves a figure at 100 dpi cropped to what is drawn plus 0.1 inch
    (``bbox_inches="tight"``), and the page shows that image at its own size
    in CSS px, or scaled down to fit a text column ``column_px`` wide. Every
    non-empty visible text counts: in boxes, on edges, titles. Raises
    ValueError if the figure has no text.
    """
    fig.canvas.draw()
    width_px = (fig.get_tightbbox().width + 2 * 0.1) * DISPLAY_DPI
    shrink = min(1.0, column_px / width_px)
    texts = list(fig.texts)
    for ax in fig.axes:
        if ax.get_visible():
            texts += [*ax.texts, ax.title]
            if ax.axison:
                texts += [*ax.get_xticklabels(), *ax.get_yticklabels(),
                          ax.xaxis.label, ax.yaxis.label]
    sizes = [t.get_fontsize() for t in texts if t.get_visible() and t.get_text()]
    if not sizes:
        raise ValueError("displayed_text_px: the figure has no text")
    return float(min(sizes)) * DISPLAY_DPI / 72 * shrink


# ---------------------------------------------------------------- drawing

def _edge_keys(layout: GraphLayout, edges: Iterable[Any]) -> set[tuple[int, int]]:
    out = set()
    for e in edges:
        src, dst = e[0], e[1]
        a = src if isinstance(src, int) else layout._keys.get(id(src))
        b = dst if isinstance(dst, int) else layout._keys.get(id(dst))
        if a is not None and b is not None:
            out.add((a, b))
    return out


def _node_keys(layout: GraphLayout, items: Iterable[Any]) -> set[int]:
    out = set()
    for t in items:
        k = t if isinstance(t, int) else layout._keys.get(id(t))
        if k is not None:
            out.add(k)
    return out


def _smallest_text(layout: GraphLayout) -> float:
    """The smallest font in a drawing of ``layout``, relative to the boxes' FONT."""
    return LABEL_SIZE if any(e.label for e in layout.edges) else 1.0


def _fit_scale(layout: GraphLayout, max_width: float, max_height: float,
               margin: float = MARGIN) -> float:
    """The points per layout unit of a figure made for ``layout``: the text at FONT,
    or smaller if the graph would not fit in ``max_width`` by ``max_height`` inches."""
    w, h = layout.width + 2 * margin, layout.height + 2 * margin
    return min(1.0, max_width * 72 / w, max_height * 72 / h)


def _narrowed(output: Tensor, layout: GraphLayout, options: dict[str, Any],
              max_width: float) -> GraphLayout:
    """``output``'s graph laid out again with the gaps between columns narrowed, just
    enough for ``max_width`` inches to show its smallest text at COMFORTABLE points, but
    no narrower than STEP_GAP (nor than its edge labels need). ``layout`` is the graph
    at the default gaps."""
    n_gaps = len(layout.layers) - 1
    widest = max((len(e.label) for e in layout.edges), default=0) * CHAR_W * LABEL_SIZE
    gap = max(LAYER_GAP, widest + LABEL_GAP) if widest else LAYER_GAP    # as graph_layout has it
    columns = layout.width - n_gaps * gap
    room = max_width * 72 * FONT * _smallest_text(layout) / COMFORTABLE - 2 * MARGIN
    narrower = max(STEP_GAP, widest + STEP_LABEL_GAP if widest else 0.0,
                   (room - columns) / max(n_gaps, 1))
    if n_gaps == 0 or narrower >= gap:
        return layout
    return graph_layout(output, layer_gap=narrower,
                        label_gap=narrower - widest if widest else LABEL_GAP, **options)


def _prepare_axes(layout: GraphLayout, ax: Any, max_width: float, max_height: float,
                  title: str | None, margin: float = MARGIN) -> tuple[Any, float]:
    """The Axes to draw on and the points per layout unit on it."""
    plt = pyplot()
    w, h = layout.width + 2 * margin, layout.height + 2 * margin
    if ax is None:
        scale = _fit_scale(layout, max_width, max_height, margin)
        title_in = 0.35 if title else 0.0
        fig_w = w * scale / 72
        if title:       # a title wider than the graph widens the figure (up to max_width)
            fig_w = min(max(fig_w, _text_width(title, _title_size(scale)) / 72 + 0.25),
                        max(fig_w, max_width))
        fig = plt.figure(figsize=(fig_w, h * scale / 72 + title_in))
        ax = fig.add_axes((0, 0, 1, (h * scale / 72) / (h * scale / 72 + title_in)))
    ax.set_xlim(-margin, layout.width + margin)
    ax.set_ylim(-layout.height - margin, margin)
    ax.set_aspect("equal")
    ax.set_axis_off()
    fig = ax.figure
    pos = ax.get_position()
    fw, fh = fig.get_size_inches()
    scale = min(pos.width * fw * 72 / w, pos.height * fh * 72 / h)
    if title:
        ax.set_title(title, fontsize=_title_size(scale))
    return ax, scale


def _title_size(scale: float) -> float:
    return max(8.0, min(11.0, 11.0 * scale))


def _text_width(text: str, size: float) -> float:
    """The width of ``text`` in points, set in matplotlib's default font (math included)."""
    from matplotlib.textpath import TextPath
    return float(TextPath((0, 0), text, size=size).get_extents().width)


def _draw_layout(ax: Any, layout: GraphLayout, scale: float, shown_grads: set[int] | None,
                 highlight_nodes: set[int], highlight_edges: set[tuple[int, int]],
                 output_key: int, reverse_highlight: bool = False) -> None:
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
    from matplotlib.path import Path

    fs = FONT * scale
    for e in layout.edges:
        lit = (e.source, e.target) in highlight_edges
        color = HIGHLIGHT if lit else (EDGE_COLOR if e.differentiable else CONSTANT_EDGE_COLOR)
        verts, codes = [e.points[0]], [Path.MOVETO]
        for (x0, y0), (x1, y1) in zip(e.points, e.points[1:]):
            xm = (x0 + x1) / 2
            verts += [(xm, y0), (xm, y1), (x1, y1)]
            codes += [Path.CURVE4] * 3
        arrow = FancyArrowPatch(
            path=Path(verts, codes), arrowstyle="<|-" if lit and reverse_highlight else "-|>",
            mutation_scale=max(4.0, 9 * scale),
            color=color, linewidth=(2.2 if lit else 0.9) * max(scale, 0.5),
            linestyle="-" if e.differentiable else (0, (3, 2)), shrinkA=0, shrinkB=0,
            zorder=3 if lit else 1)
        ax.add_patch(arrow)
        if e.label_at is not None:
            ax.text(*e.label_at, e.label, ha="center", va="center", fontsize=fs * LABEL_SIZE,
                    family="monospace", color=HIGHLIGHT if lit else "#334155", zorder=4,
                    bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="#cbd5e1",
                              lw=0.5 * max(scale, 0.5)))

    for nd in layout.nodes:
        face, edge = COLORS[nd.kind]
        lit = nd.key in highlight_nodes
        left, bottom, _, _ = nd.box
        box = FancyBboxPatch(
            (left, bottom), nd.width, nd.height,
            boxstyle=f"round,pad=0,rounding_size={0.35 * FONT}",
            facecolor="#fee2e2" if lit else face, edgecolor=HIGHLIGHT if lit else edge,
            linewidth=(2.4 if lit else (1.6 if nd.key == output_key else 0.9)) * max(scale, 0.5),
            linestyle="-" if nd.kind != "constant" else (0, (3, 2)), zorder=5)
        ax.add_patch(box)
        texts: list[tuple[str, str, str]] = [(nd.title, "bold", "#0f172a")]
        texts += [(line, "normal", "#1e293b") for line in nd.lines]
        if nd.grad_text:
            show = shown_grads is None or nd.key in shown_grads
            texts.append((nd.grad_text if show else "", "bold", GRAD_COLOR))
        texts += [(line, "normal", NOTE_COLOR) for line in nd.notes]
        y = nd.y + (len(texts) - 1) * LINE_H / 2
        for text, weight, color in texts:
            if text:
                ax.text(nd.x, y, text, ha="center", va="center", fontsize=fs,
                        family="monospace", weight=weight, color=color, zorder=6)
            y -= LINE_H


def draw_graph(output: Tensor, ax: Axes | None = None, *, show_values: bool = True,
               show_grads: bool = True, grads: Any = None,
               highlight_nodes: Iterable[Any] = (), highlight_edges: Iterable[Any] = (),
               edge_labels: Any = None,
               notes: Mapping[Tensor, str] | Iterable[tuple[Tensor, str]] | None = None,
               leaves: Literal["near", "left"] = "near",
               title: str | None = None, max_width: float = FIGURE_WIDTH, max_height: float = 9.0) -> Axes:
    """Draw the expression graph behind ``output``: inputs on the left, output on the right.

    Leaves (blue), operations (amber) and constants (grey, dashed) are boxes
    showing the name or operation, the shape, the value (for scalars and tiny
    arrays) and the gradient once computed (red). ``grads``, ``edge_labels``,
    ``notes`` (extra lines of your own at the bottom of a box, in violet) and
    ``leaves`` are as in :func:`graph_layout`. ``highlight_nodes`` takes
    tensors; ``highlight_edges`` takes ``(input, consumer)`` pairs of tensors.

    Without ``ax`` a figure is made to fit the graph (at most ``max_width`` by
    ``max_height`` inches), its box text at 10 pt or smaller to fit; a graph
    too wide to read that way (text under 11 px as the book shows it, see
    ``displayed_text_px``) gets narrower gaps between its columns. With
    ``ax`` the text is scaled to fit that Axes as it is now: resize the figure
    first, then draw.
    """
    pyplot()                # without matplotlib, say so before laying out the graph
    options: dict[str, Any] = dict(show_values=show_values, show_grads=show_grads, grads=grads,
                                   edge_labels=edge_labels, notes=notes, leaves=leaves)
    layout = graph_layout(output, **options)
    if ax is None and _fit_scale(layout, max_width, max_height) * _smallest_text(layout) * FONT < READABLE:
        narrowed = _narrowed(output, layout, options, max_width)
        if _fit_scale(narrowed, max_width, max_height) > _fit_scale(layout, max_width, max_height):
            layout = narrowed
    ax, scale = _prepare_axes(layout, ax, max_width, max_height, title)
    _draw_layout(ax, layout, scale, None, _node_keys(layout, highlight_nodes),
                 _edge_keys(layout, highlight_edges), layout.output)
    return ax


def draw_backward_steps(output: Tensor, ncols: int | None = None, *, show_values: bool = False,
                        show_local: bool = False, edge_labels: Any = None,
                        leaves: Literal["near", "left"] = "near",
                        panel_width: float | None = None, row_gap: float = 0.3,
                        title: str | None = None) -> np.ndarray:
    """Draw the backward pass as a grid of small graphs, one per step.

    Step *i* highlights the tensor whose gradient has just been completed and
    the edges it came back along, their arrowheads turned to point the way the
    gradient flows (it is the sum of what each consumer sent); the gradients
    completed so far are shown in red. Gradients are computed by
    :func:`backward_steps`, so no tensor's ``.grad`` changes. Every panel
    draws the same layout, with room for every gradient reserved from the
    start, so no box moves or changes size between steps.

    ``show_local=True`` labels every edge between scalars with its local
    derivative (see :func:`local_derivatives`), so that each panel shows its
    sum: the new gradient (the red box) is the sum, over the red edges, of
    each edge's label times the gradient in the box at its other end.
    (``edge_labels`` puts labels of your own instead, as in
    :func:`graph_layout`.)

    The panels go in ``ncols`` columns; by default two if that way, within
    FIGURE_WIDTH (6.7 inches), the smallest text can be 8 pt (11 px as the book
    shows it), else one (edge labels widen a graph: with ``show_local`` chapter
    3's graph gets one). The text scales with ``panel_width`` (inches; by
    default the panels fill FIGURE_WIDTH, but never draw the boxes' text larger
    than 10 pt). ``row_gap`` (inches) separates a row of panels from the next
    row's titles, so that each title plainly belongs to the graph below it.
    Returns the array of Axes (unused cells of the grid are switched off).
    """
    if show_local and edge_labels is not None:
        raise ValueError("draw_backward_steps: pass show_local=True or edge_labels=, not both")
    plt = pyplot()
    steps = backward_steps(output)
    layout = graph_layout(output, show_values=show_values, show_grads=True, grads="all",
                          edge_labels="local" if show_local else edge_labels, leaves=leaves,
                          layer_gap=STEP_GAP, box_pad=STEP_PAD, label_gap=STEP_LABEL_GAP)
    pad, title_h, suptitle_h = 0.03, 0.4, (0.4 if title else 0.0)

    def width_at(scale: float) -> float:        # a panel's width drawn at that scale
        return (layout.width + 2 * STEP_MARGIN) * scale / 72 + 2 * pad

    if ncols is None:
        readable = READABLE / (FONT * _smallest_text(layout))
        ncols = 2 if 2 * width_at(readable) <= STEPS_WIDTH else 1
    ncols = max(1, min(ncols, len(steps)))
    nrows = -(-len(steps) // ncols)
    aspect = (layout.height + 2 * STEP_MARGIN) / (layout.width + 2 * STEP_MARGIN)
    if panel_width is None:
        panel_width = min(STEPS_WIDTH / ncols, width_at(1.0))
    cell_w = panel_width
    cell_h = (panel_width - 2 * pad) * aspect + title_h + pad + row_gap
    fig_w, fig_h = cell_w * ncols, cell_h * nrows - row_gap + suptitle_h
    fig = plt.figure(figsize=(fig_w, fig_h))
    if title:
        fig.suptitle(title, fontsize=11, y=1 - 0.08 / fig_h, va="top")
    axes = np.empty((nrows, ncols), dtype=object)
    for r in range(nrows):
        for c in range(ncols):
            left = c * cell_w + pad
            bottom = (nrows - 1 - r) * cell_h + pad
            axes[r, c] = fig.add_axes((left / fig_w, bottom / fig_h, (cell_w - 2 * pad) / fig_w,
                                       (cell_h - row_gap - title_h - pad) / fig_h))
    shown: set[int] = set()
    for i, ax in enumerate(axes.flat):
        if i >= len(steps):
            ax.set_axis_off()
            continue
        step = steps[i]
        k = layout.key(step.tensor)
        shown.add(k)
        name = step.tensor.name or layout.nodes[k].title
        n = len(step.edges)
        how = "seeded with 1" if n == 0 else ("from 1 edge" if n == 1 else f"sum over {n} edges")
        ax, scale = _prepare_axes(layout, ax, 0, 0, None, STEP_MARGIN)
        ax.set_title(f"step {i + 1}: grad of {name}\n({how})", linespacing=1.3,
                     fontsize=min(11.0, max(9.0, FONT * scale)))      # as the boxes' text
        edges = {(layout.key(x), layout.key(t)) for x, t, _ in step.edges}
        _draw_layout(ax, layout, scale, set(shown), {k}, edges, layout.output, reverse_highlight=True)
    return axes

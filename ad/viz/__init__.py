"""Pictures of automatic differentiation, drawn with matplotlib alone (no Graphviz).

Graphs: :func:`graph_layout` places the expression graph behind a tensor and
:func:`draw_graph` draws it; :func:`backward_steps` replays the backward pass
one node at a time without touching anyone's ``.grad``, and
:func:`draw_backward_steps` draws that replay as a grid of small graphs.
Plots: :func:`plot_tangents`, :func:`plot_fd_error` (with :func:`fd_errors`
behind it), :func:`plot_field` and :func:`plot_path`. Every drawing function
accepts ``ax=`` (except :func:`draw_backward_steps`, which makes a figure) and
returns what it drew on.

``import ad`` does not import this package, and this package does not import
matplotlib until a drawing function is first called: the layout and the
replay (``ad.viz.layout``) are pure Python and numpy. The drawing lives in
``ad.viz.graphs`` and ``ad.viz.plots``.
"""

from .graphs import (
    COLORS,
    CONSTANT_EDGE_COLOR,
    EDGE_COLOR,
    GRAD_COLOR,
    HIGHLIGHT,
    MARGIN,
    NOTE_COLOR,
    STEP_GAP,
    STEP_MARGIN,
    STEP_PAD,
    displayed_text_px,
    draw_backward_steps,
    draw_graph,
)
from .layout import (
    CHAR_W,
    CHECK,
    FONT,
    LABEL_SIZE,
    LAYER_GAP,
    LINE_H,
    MAX_VALUE_CHARS,
    NODE_GAP,
    PAD_X,
    PAD_Y,
    TINY,
    WAYPOINT_H,
    BackwardStep,
    GraphEdge,
    GraphLayout,
    GraphNode,
    backward_steps,
    graph_layout,
    local_derivatives,
)
from .plots import FDMethod, fd_errors, plot_fd_error, plot_field, plot_path, plot_tangents

__all__ = [
    "GraphNode", "GraphEdge", "GraphLayout", "BackwardStep",
    "graph_layout", "draw_graph", "backward_steps", "draw_backward_steps", "local_derivatives",
    "displayed_text_px",
    "FDMethod", "fd_errors", "plot_tangents", "plot_fd_error", "plot_field", "plot_path",
    # sizes (in points at the nominal font size FONT) and colours of the drawn graphs
    "FONT", "CHAR_W", "LINE_H", "PAD_X", "PAD_Y", "NODE_GAP", "LAYER_GAP", "WAYPOINT_H",
    "LABEL_SIZE", "MARGIN", "STEP_GAP", "STEP_PAD", "STEP_MARGIN", "TINY", "MAX_VALUE_CHARS", "CHECK",
    "COLORS", "EDGE_COLOR", "CONSTANT_EDGE_COLOR", "HIGHLIGHT", "GRAD_COLOR", "NOTE_COLOR",
]

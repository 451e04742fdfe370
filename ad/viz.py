"""Pictures of automatic differentiation, drawn with matplotlib alone (no Graphviz).

Graphs
    :func:`graph_layout` places the expression graph behind a tensor (pure
    Python, no matplotlib: it is what the tests check); :func:`draw_graph`
    draws it; :func:`backward_steps` replays the backward pass one node at a
    time without touching anyone's ``.grad``, and :func:`draw_backward_steps`
    draws that replay as a grid of small graphs.

Plots
    :func:`plot_tangents` (a function and its tangent lines),
    :func:`plot_fd_error` (finite-difference error against step size, with
    :func:`fd_errors` behind it), :func:`plot_field` (a scalar field and its
    gradient field) and :func:`plot_path` (a path over a landscape).

Every drawing function accepts ``ax=`` and returns the Axes it drew on.
``import ad`` does not import this module; matplotlib is imported when a
drawing function is first called.

How the graph is laid out (the Sugiyama recipe, kept small): operations get
layers by longest path from the inputs, so every edge points right; a leaf or
constant sits one layer before its first consumer; an edge that spans several
layers gets invisible waypoints, one per layer it crosses. The order within
each layer starts from a depth-first walk from the output (which draws a tree
without crossings). A small graph then gets the order with the fewest
crossings there is, found by dynamic programming over the layers (crossings
depend only on neighbouring layers); a larger one is improved by barycentric
sweeps, down and up, each followed by swaps of neighbours that remove
crossings, keeping the best order seen. A box's inputs arrive top to bottom in
the order of their sources, so arrows never cross at a box. Heights are then
chosen as close as possible to each node's neighbours, subject to the boxes
not overlapping (an isotonic regression, solved exactly by
pool-adjacent-violators). Last, each edge label goes to the place on its edge,
among a few, that is clearest of boxes, arrowheads, other edges and labels.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Literal, Mapping, Sequence

import numpy as np

from .function import no_grad
from .tensor import Tensor, _reverse_topological_order, unbroadcast

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.typing import LegendLocType

__all__ = [
    "GraphNode", "GraphEdge", "GraphLayout", "BackwardStep",
    "graph_layout", "draw_graph", "backward_steps", "draw_backward_steps", "local_derivatives",
    "fd_errors", "plot_tangents", "plot_fd_error", "plot_field", "plot_path",
]

# Layout units are points at the nominal font size FONT; drawing scales them.
FONT = 10.0
CHAR_W = 0.62 * FONT          # advance of one character of DejaVu Sans Mono
LINE_H = 1.3 * FONT
PAD_X, PAD_Y = 0.7 * FONT, 0.45 * FONT
NODE_GAP = 1.0 * FONT         # vertical space between boxes in a layer
LAYER_GAP = 3.0 * FONT        # horizontal space between layers
WAYPOINT_H = 0.8 * FONT       # the room an edge takes when it passes a layer
MARGIN = 0.6 * FONT           # room around a drawn graph
LABEL_SIZE = 0.85             # edge labels' font, relative to the boxes'
# The small graphs of draw_backward_steps have narrower gaps, padding and margins, so
# that their text stays readable: two columns, 7 inches wide, show chapter 3's at 9 pt.
STEP_GAP, STEP_PAD, STEP_MARGIN = 1.15 * FONT, 0.3 * FONT, 0.2 * FONT
TINY = 4                      # arrays with at most this many elements show their values...
MAX_VALUE_CHARS = 22          # ...if they fit in this many characters
CHECK = "\u2713"              # shown for a gradient too large to print

COLORS = {
    "leaf": ("#dbeafe", "#1d4ed8"),       # (face, edge): inputs that need a gradient
    "op": ("#fef3c7", "#b45309"),         # operations
    "constant": ("#f1f5f9", "#64748b"),   # numbers and tensors that need no gradient
}
EDGE_COLOR, CONSTANT_EDGE_COLOR = "#475569", "#94a3b8"
HIGHLIGHT, GRAD_COLOR = "#dc2626", "#b91c1c"
NOTE_COLOR = "#6d28d9"                 # the caller's notes (see graph_layout)


# ---------------------------------------------------------------- the graph as data

@dataclass
class GraphNode:
    """A box of the drawn graph: a tensor (leaf or operation result) or a constant.

    ``x``, ``y`` is the centre of the box and ``width``, ``height`` its size, in
    points at a 10 pt font (y grows upwards). ``key`` numbers the nodes in the
    order a walk from the output discovers them, so it is the same on every run.
    """

    key: int
    kind: str                         # "leaf", "op" or "constant"
    tensor: Tensor | None             # None for a plain number
    value: Any                        # the data (array or number)
    title: str                        # first line: name and/or operation
    lines: list[str]                  # shape and value lines
    inputs: list[int] = field(default_factory=list)
    grad: Any = None                  # the gradient to show, if any
    grad_text: str = ""
    notes: list[str] = field(default_factory=list)   # the caller's extra lines, drawn last
    layer: int = 0
    x: float = 0.0
    y: float = 0.0
    width: float = 0.0
    height: float = 0.0

    @property
    def box(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) of the box."""
        return (self.x - self.width / 2, self.y - self.height / 2,
                self.x + self.width / 2, self.y + self.height / 2)


@dataclass
class GraphEdge:
    """An arrow from an input (``source``) to the operation that used it (``target``).

    ``index`` is the input's position in the call (``x * x`` has two edges, 0
    and 1). ``points`` is the route: from the source box's right side, through
    one waypoint pair per layer crossed, to the target box's left side (at a
    port: a box's inputs arrive top to bottom in the order of their sources);
    the stretches listed in ``gaps`` are the crossings of the gaps between
    layers (drawn as curves), the others run straight along a column.
    ``label_at`` is where the label's centre goes, a point on one of those curves.
    """

    source: int
    target: int
    index: int
    differentiable: bool
    label: str = ""
    points: list[tuple[float, float]] = field(default_factory=list)
    gaps: list[int] = field(default_factory=list)   # i: points[i] -> points[i + 1] crosses a gap
    label_at: tuple[float, float] | None = None    # the centre of the label, on the edge


@dataclass
class GraphLayout:
    """Where :func:`draw_graph` puts every box and arrow of a tensor's graph."""

    nodes: list[GraphNode]
    edges: list[GraphEdge]
    output: int
    layers: list[list[int]]           # real nodes of each layer, top to bottom
    width: float
    height: float
    _keys: dict[int, int] = field(default_factory=dict, repr=False)

    def key(self, tensor: Tensor) -> int:
        """The key of ``tensor``'s node (KeyError if it is not in the graph)."""
        return self._keys[id(tensor)]

    def node(self, tensor: Tensor) -> GraphNode:
        """The node that draws ``tensor``."""
        return self.nodes[self.key(tensor)]

    def crossings(self) -> int:
        """How many pairs of arrows cross between adjacent layers."""
        gaps: dict[int, list[tuple[float, float]]] = {}
        for e in self.edges:
            layer = self.nodes[e.source].layer
            for j, i in enumerate(e.gaps):
                gaps.setdefault(layer + j, []).append((e.points[i][1], e.points[i + 1][1]))
        count = 0
        for segments in gaps.values():
            for i, (a0, a1) in enumerate(segments):
                for b0, b1 in segments[i + 1:]:
                    if (a0 - b0) * (a1 - b1) < -1e-9:
                        count += 1
        return count


# ---------------------------------------------------------------- labels

def _format(value: Any, digits: int = 4) -> str:
    """A short text for a scalar or a tiny array; '' for anything larger."""
    array = np.asarray(value)
    if array.size == 1:
        return f"{float(array.reshape(())) + 0.0:.{digits}g}"
    if array.size <= TINY:
        text = np.array2string(array, separator=", ",
                               formatter={"float_kind": lambda v: f"{v + 0.0:.3g}"})
        text = " ".join(text.split())
        return text if len(text) <= MAX_VALUE_CHARS else ""
    return ""


def _op_title(node: Any) -> str:
    params = []
    for k, v in vars(node).items():
        if k in ("inputs", "arrays", "output", "needs_input_grad") or k.startswith("_"):
            continue
        if v is None or v is False or isinstance(v, np.ndarray):
            continue
        if isinstance(v, (bool, int, float, tuple, str)):
            params.append(f"{k}={v}")
    name = type(node).name
    return f"{name}({', '.join(params)})" if params else name


def _box_size(texts: Sequence[str], pad_x: float = PAD_X) -> tuple[float, float]:
    """The size of a box holding these lines (room for an empty line is kept too)."""
    chars = max(len(t) for t in texts)
    return max(chars, 3) * CHAR_W + 2 * pad_x, len(texts) * LINE_H + 2 * PAD_Y


# ---------------------------------------------------------------- gradients without side effects

@dataclass
class BackwardStep:
    """One step of the backward pass: ``tensor``'s gradient has just been completed.

    ``edges`` are the arrows it came back along, as ``(tensor, consumer,
    input index)``: its gradient is the sum of what each consumer sent. The
    first step (the output, seeded with 1) has none.
    """

    tensor: Tensor
    grad: np.ndarray
    edges: list[tuple[Tensor, Tensor, int]]


def backward_steps(output: Tensor, grad: Any = None) -> list[BackwardStep]:
    """Replay ``output.backward(grad)`` one tensor at a time, in the engine's order.

    Every tensor's gradient (intermediate ones too) is computed with the
    operations' own backward rules, but nothing is stored on the tensors: the
    ``.grad`` of your leaves is left as it was.
    """
    if not output.requires_grad:
        raise ValueError("backward_steps: the output does not require grad, so it has no graph")
    if grad is None:
        if output.size != 1:
            raise ValueError(f"backward_steps: the output has shape {output.shape}; pass grad=")
        seed = np.ones_like(output.data)
    else:
        seed = np.broadcast_to(np.asarray(grad, dtype=output.dtype), output.shape)
    grads: dict[int, Any] = {id(output): seed}
    sources: dict[int, list[tuple[Tensor, Tensor, int]]] = {}
    steps = []
    with no_grad():
        for tensor in _reverse_topological_order(output):
            g = grads.pop(id(tensor), None)
            if g is None:
                continue
            steps.append(BackwardStep(tensor, np.asarray(g), sources.pop(id(tensor), [])))
            node = tensor._node
            if node is None:
                continue
            input_grads = node.backward(*node.arrays, g)
            for i, (x, needed, gx) in enumerate(zip(node.inputs, node.needs_input_grad, input_grads)):
                if not needed or gx is None:
                    continue
                gx = np.asarray(gx)
                if gx.shape != x.shape:
                    gx = unbroadcast(gx, x.shape)
                if gx.dtype != x.dtype:
                    gx = gx.astype(x.dtype)       # show float32 gradients, as the engine stores them
                previous = grads.get(id(x))
                grads[id(x)] = gx if previous is None else previous + gx
                sources.setdefault(id(x), []).append((x, tensor, i))
    return steps


def local_derivatives(output: Tensor) -> list[tuple[Tensor, Tensor, int, float]]:
    """The local derivative on every differentiable edge between scalars.

    Returns ``(input, consumer, input index, d consumer / d input)`` for each
    edge whose two ends are one-element tensors (others are skipped), computed
    with the consumer's backward rule and a gradient of 1.
    """
    result = []
    seen: set[int] = set()
    with no_grad():
        for tensor in _reverse_topological_order(output):
            node = tensor._node
            if node is None or id(tensor) in seen or tensor.size != 1:
                continue
            seen.add(id(tensor))
            partials = node.backward(*node.arrays, np.ones_like(tensor.data))
            for i, (x, needed, d) in enumerate(zip(node.inputs, node.needs_input_grad, partials)):
                if needed and d is not None and np.size(d) == 1 and x.size == 1:
                    result.append((x, tensor, i, float(np.asarray(d).reshape(()))))
    return result


# ---------------------------------------------------------------- layout

def _collect(output: Tensor) -> tuple[list[GraphNode], list[GraphEdge], dict[int, int]]:
    """The nodes and edges reachable from ``output``, numbered in discovery order."""
    nodes: list[GraphNode] = []
    edges: list[GraphEdge] = []
    keys: dict[int, int] = {}

    def add_tensor(t: Tensor) -> int:
        if t._node is not None:
            kind = "op"
            op = _op_title(t._node)
            title = f"{t.name} = {op}" if t.name else op
        else:
            kind = "leaf" if t.requires_grad else "constant"
            title = t.name or ("leaf" if t.requires_grad else "const")
        nodes.append(GraphNode(len(nodes), kind, t, t.data, title, []))
        keys[id(t)] = len(nodes) - 1
        return len(nodes) - 1

    add_tensor(output)
    stack = [output]
    while stack:
        t = stack.pop()
        node = t._node
        if node is None:
            continue
        here = keys[id(t)]
        new = []
        for i, x in enumerate(node.inputs):
            if isinstance(x, Tensor):
                if id(x) not in keys:
                    add_tensor(x)
                    new.append(x)
                k = keys[id(x)]
            else:
                nodes.append(GraphNode(len(nodes), "constant", None, x, _format(x) or "const", []))
                k = len(nodes) - 1
            nodes[here].inputs.append(k)
            edges.append(GraphEdge(k, here, i, bool(node.needs_input_grad[i])))
        stack.extend(reversed(new))
    return nodes, edges, keys


def _pava(values: Sequence[float], weights: Sequence[float]) -> list[float]:
    """The non-decreasing sequence closest to ``values`` in weighted least squares."""
    blocks: list[list[float]] = []          # [mean, weight, count]
    for v, w in zip(values, weights):
        blocks.append([v, w, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, w2, c2 = blocks.pop()
            m1, w1, c1 = blocks.pop()
            blocks.append([(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, c1 + c2])
    out: list[float] = []
    for m, _, c in blocks:
        out.extend([m] * int(c))
    return out


def graph_layout(output: Tensor, *, show_values: bool = True, show_grads: bool = True,
                 grads: Any = None, edge_labels: Any = None,
                 notes: Mapping[Tensor, str] | Iterable[tuple[Tensor, str]] | None = None,
                 leaves: Literal["near", "left"] = "near",
                 layer_gap: float = LAYER_GAP, box_pad: float = PAD_X) -> GraphLayout:
    """Place the graph behind ``output``: boxes in layers, inputs left, output right.

    ``grads`` chooses the gradients reserved room and shown: ``None`` uses the
    tensors' own ``.grad`` (filled by ``backward()``), ``"all"`` computes every
    tensor's gradient with :func:`backward_steps` (nothing is stored), and a
    mapping or list of ``(tensor, gradient)`` pairs shows exactly those.
    ``edge_labels`` is ``None``, ``"local"`` (the local derivative on each edge
    between scalars) or a mapping or list of ``((input, consumer), text)``.
    ``notes`` is a mapping or list of ``(tensor, text)`` pairs: each text is
    added at the bottom of that tensor's box, one line per line of the text
    (split at newlines), and the box grows to fit it; tensors that are not in
    the graph are ignored. ``leaves="near"`` puts each leaf just before its first use; ``"left"`` lines
    all leaves that need a gradient up in the first column. ``layer_gap`` is
    the room between columns (widened to fit edge labels) and ``box_pad`` the
    room either side of the text in a box.
    """
    nodes, edges, keys = _collect(output)
    n = len(nodes)

    # ---- labels and box sizes
    grad_of: dict[int, Any] = {}
    if grads == "all":
        grad_of = {keys[id(s.tensor)]: s.grad for s in backward_steps(output)}
    elif grads is None:
        grad_of = {keys[id(nd.tensor)]: nd.tensor.grad.data for nd in nodes
                   if nd.tensor is not None and nd.tensor.grad is not None}
    else:
        pairs = grads.items() if isinstance(grads, Mapping) else grads
        for t, g in pairs:
            if id(t) in keys:
                grad_of[keys[id(t)]] = g.data if isinstance(g, Tensor) else np.asarray(g)
    if notes is not None:
        for t, text in (notes.items() if isinstance(notes, Mapping) else notes):
            if id(t) in keys:
                nodes[keys[id(t)]].notes.extend(str(text).split("\n"))
    for nd in nodes:
        if nd.tensor is not None:
            if nd.tensor.ndim > 0:
                nd.lines.append(str(tuple(nd.tensor.shape)))
            if show_values and (text := _format(nd.value)):
                nd.lines.append(f"val {text}")
        if show_grads and nd.key in grad_of:
            nd.grad = grad_of[nd.key]
            nd.grad_text = "grad " + (_format(nd.grad) or CHECK)
        grad_line = [nd.grad_text] if nd.grad_text else []
        nd.width, nd.height = _box_size([nd.title, *nd.lines, *grad_line, *nd.notes], box_pad)

    # keys are (source, target, index) for local derivatives, (source, target) otherwise
    label_of: dict[tuple[int, ...], str] = {}
    if edge_labels == "local":
        for x, t, i, d in local_derivatives(output):
            label_of[(keys[id(x)], keys[id(t)], i)] = _format(d, 3)
    elif edge_labels is not None:
        pairs = edge_labels.items() if isinstance(edge_labels, Mapping) else edge_labels
        for (x, t), text in pairs:
            if id(x) in keys and id(t) in keys:
                label_of[(keys[id(x)], keys[id(t)])] = str(text)
    for e in edges:
        e.label = label_of.get((e.source, e.target, e.index), label_of.get((e.source, e.target), ""))
    widest_label = max((len(e.label) for e in edges), default=0)
    gap = max(layer_gap, widest_label * CHAR_W * LABEL_SIZE + 3.5 * FONT) if widest_label else layer_gap

    # ---- layers: longest path for operations; leaves and constants just before first use
    consumers: list[list[int]] = [[] for _ in range(n)]
    for e in edges:
        consumers[e.source].append(e.target)
    order = _post_order(nodes)              # inputs before the operations that use them
    layer = [0] * n
    for k in order:
        if nodes[k].inputs:
            layer[k] = 1 + max(layer[i] for i in nodes[k].inputs)
    for k in order:
        nd = nodes[k]
        if not nd.inputs and consumers[k] and not (leaves == "left" and nd.kind == "leaf"):
            layer[k] = min(layer[c] for c in consumers[k]) - 1
    if leaves == "left":
        for k in range(n):
            if nodes[k].kind == "leaf" and consumers[k]:
                layer[k] = 0
    shift = min(layer)
    for k in range(n):
        nodes[k].layer = layer[k] - shift
    n_layers = max(nd.layer for nd in nodes) + 1

    # ---- waypoints: an edge crossing layers gets one virtual node per layer crossed
    vlayer = [nd.layer for nd in nodes]
    vheight = [nd.height for nd in nodes]
    chains: list[list[int]] = []            # per edge: source, waypoints..., target
    for e in edges:
        chain = [e.source]
        for lay in range(nodes[e.source].layer + 1, nodes[e.target].layer):
            vlayer.append(lay)
            vheight.append(WAYPOINT_H)
            chain.append(len(vlayer) - 1)
        chain.append(e.target)
        chains.append(chain)
    nv = len(vlayer)
    n_in = [len(nd.inputs) for nd in nodes]
    # segments between adjacent layers, per gap: (left vnode, right vnode, argument index
    # when the right end is the edge's target, else -1)
    gaps: list[list[tuple[int, int, int]]] = [[] for _ in range(n_layers - 1)]
    for e, chain in zip(edges, chains):
        for a, b in zip(chain, chain[1:]):
            gaps[vlayer[a]].append((a, b, e.index if b == e.target else -1))

    # ---- order within layers: depth-first from the output, then fewest crossings
    first_seen = _preorder(0, gaps, nv)
    rows: list[list[int]] = [[] for _ in range(n_layers)]
    for v in sorted(range(nv), key=lambda v: first_seen[v]):
        rows[vlayer[v]].append(v)
    rows = _exact_order(rows, gaps, n) or _heuristic_order(rows, gaps)

    # ---- ports: a box's inputs arrive top to bottom in the order of their sources,
    # so that arrows never cross at the box (argument order breaks ties: x * x)
    pos = {v: i for row in rows for i, v in enumerate(row)}
    arrivals: dict[int, list[int]] = {}
    for j in sorted(range(len(edges)), key=lambda j: (pos[chains[j][-2]], edges[j].index)):
        arrivals.setdefault(edges[j].target, []).append(j)
    rank = [0] * len(edges)
    for js in arrivals.values():
        for r, j in enumerate(js):
            rank[j] = r
    # (neighbour, port) pairs: the port is -0.3 (top) ... 0.3 (bottom) at the target's end
    preds: list[list[tuple[int, float]]] = [[] for _ in range(nv)]
    succs: list[list[tuple[int, float]]] = [[] for _ in range(nv)]
    for j, (e, chain) in enumerate(zip(edges, chains)):
        for a, b in zip(chain, chain[1:]):
            port = 0.0
            if b == e.target and n_in[b] > 1:
                port = 0.6 * (rank[j] / (n_in[b] - 1) - 0.5)
            preds[b].append((a, port))
            succs[a].append((b, port))

    # ---- x: one column per layer, as wide as its widest box
    col_w = [0.0] * n_layers
    for nd in nodes:
        col_w[nd.layer] = max(col_w[nd.layer], nd.width)
    col_left = [0.0] * n_layers
    for lay in range(1, n_layers):
        col_left[lay] = col_left[lay - 1] + col_w[lay - 1] + gap
    for nd in nodes:
        nd.x = col_left[nd.layer] + col_w[nd.layer] / 2

    # ---- y (measured downwards here): near the neighbours, boxes never overlapping
    depth = [0.0] * nv
    for row in rows:
        d = 0.0
        for i, v in enumerate(row):
            if i:
                d += (vheight[row[i - 1]] + vheight[v]) / 2 + NODE_GAP
            depth[v] = d
        for v in row:
            depth[v] -= d / 2

    def port_offset(v: int, port: float) -> float:
        return port / 0.6 * _port_span(nodes[v]) if v < n and port else 0.0

    def place(row: list[int], use_preds: bool, use_succs: bool) -> None:
        wanted, weights = [], []
        for v in row:
            ys = []
            if use_preds:
                ys += [depth[a] - port_offset(v, p) for a, p in preds[v]]
            if use_succs:
                ys += [depth[b] + port_offset(b, p) for b, p in succs[v]]
            wanted.append(_mean(ys, depth[v]))
            weights.append(1.0 if v < n else 0.5)
        offsets = [0.0]
        for a, b in zip(row, row[1:]):
            offsets.append(offsets[-1] + (vheight[a] + vheight[b]) / 2 + NODE_GAP)
        fitted = _pava([w - o for w, o in zip(wanted, offsets)], weights)
        for v, f, o in zip(row, fitted, offsets):
            depth[v] = f + o

    for _ in range(4):
        for lay in range(1, n_layers):
            place(rows[lay], True, False)
        for lay in range(n_layers - 2, -1, -1):
            place(rows[lay], False, True)
    for _ in range(2):
        for lay in range(n_layers):
            place(rows[lay], True, True)

    top = min(depth[v] - vheight[v] / 2 for v in range(nv))
    bottom = max(depth[v] + vheight[v] / 2 for v in range(nv))
    for nd in nodes:
        nd.y = -(depth[nd.key] - top)

    # ---- routes
    for e, chain, r in zip(edges, chains, rank):
        src, dst = nodes[e.source], nodes[e.target]
        pts = [(src.x + src.width / 2, src.y)]
        right = col_left[src.layer] + col_w[src.layer]
        if right > pts[-1][0]:
            pts.append((right, src.y))
        for v in chain[1:-1]:
            y = -(depth[v] - top)
            e.gaps.append(len(pts) - 1)
            pts.append((col_left[vlayer[v]], y))
            if col_w[vlayer[v]] > 0:
                pts.append((col_left[vlayer[v]] + col_w[vlayer[v]], y))
        port = 0.0
        if n_in[e.target] > 1:
            port = _port_span(dst) * (0.5 - r / (n_in[e.target] - 1))
        y = dst.y + port
        e.gaps.append(len(pts) - 1)
        pts.append((col_left[dst.layer], y))
        if dst.x - dst.width / 2 > pts[-1][0]:
            pts.append((dst.x - dst.width / 2, y))
        e.points = pts

    _place_labels(nodes, edges)
    return GraphLayout(nodes, edges, 0, [[v for v in row if v < n] for row in rows],
                       width=col_left[-1] + col_w[-1], height=bottom - top, _keys=keys)


def _port_span(nd: GraphNode) -> float:
    """How far the top and bottom input ports sit from the box's centre line."""
    return min(0.6 * FONT, 0.3 * nd.height)


def _mean(values: Sequence[float], default: float) -> float:
    return sum(values) / len(values) if values else default


def _post_order(nodes: list[GraphNode]) -> list[int]:
    """Node keys with every node after all of its inputs (no recursion)."""
    order, done = [], set()
    stack: list[tuple[int, bool]] = [(0, False)]
    while stack:
        k, expanded = stack.pop()
        if expanded:
            order.append(k)
            continue
        if k in done:
            continue
        done.add(k)
        stack.append((k, True))
        stack.extend((i, False) for i in reversed(nodes[k].inputs) if i not in done)
    return order


# ---------------------------------------------------------------- order within layers
# A layer's order is a list of virtual nodes (boxes and waypoints); gaps[i] lists the
# segments (left, right, argument index or -1) between layers i and i + 1.

EXACT_MAX_ROW = 6             # exact search when no layer has more nodes than this...
EXACT_MAX_PAIRS = 10_000      # ...and adjacent layers have at most this many pairs of orders
SWEEPS = 24                   # otherwise: barycentric sweeps, half down, half up


def _preorder(output_key: int, gaps: list[list[tuple[int, int, int]]], nv: int) -> list[int]:
    """Depth-first discovery number of every virtual node, inputs in argument order."""
    preds: list[list[tuple[int, int]]] = [[] for _ in range(nv)]
    for gap in gaps:
        for a, b, index in gap:
            preds[b].append((index, a))
    seen = [nv] * nv
    count = 0
    stack = [output_key]
    while stack:
        v = stack.pop()
        if seen[v] < nv:
            continue
        seen[v] = count
        count += 1
        stack.extend(a for _, a in sorted(preds[v], reverse=True) if seen[a] == nv)
    return seen


def _gap_crossings(gap: list[tuple[int, int, int]], left: Mapping[int, int],
                   right: Mapping[int, int]) -> int:
    """Crossings between two adjacent layers in the given positions (inputs of one box
    never cross: their ports follow their sources)."""
    ends = [(left[a], right[b]) for a, b, _ in gap]
    return sum((a0 - a1) * (b0 - b1) < 0
               for i, (a0, b0) in enumerate(ends) for a1, b1 in ends[i + 1:])


def _inversions(order: Sequence[int], pos: Mapping[int, int]) -> int:
    """Pairs of ``order`` that ``pos`` puts the other way round."""
    return sum(pos[u] > pos[v] for i, u in enumerate(order) for v in order[i + 1:])


def _exact_order(rows: list[list[int]], gaps: list[list[tuple[int, int, int]]],
                 n_boxes: int) -> list[list[int]] | None:
    """The best orders of a small graph, or None if it is too large to try them all.

    Best means fewest crossings, then fewest inputs arriving out of argument
    order, then the boxes (virtual nodes below ``n_boxes``) closest to their
    given order. Crossings depend only on adjacent layers, so dynamic
    programming over the layers, one state per order of a layer, is exact.
    """
    if max(len(row) for row in rows) > EXACT_MAX_ROW:
        return None
    orders = [list(itertools.permutations(row)) for row in rows]
    if sum(len(p) * len(q) for p, q in zip(orders, orders[1:])) > EXACT_MAX_PAIRS:
        return None
    positions = [[{v: i for i, v in enumerate(o)} for o in layer] for layer in orders]

    def own_cost(lay: int, pos: dict[int, int]) -> tuple[int, int, int]:
        arriving: dict[int, list[tuple[int, int]]] = {}
        for a, b, index in gaps[lay] if lay < len(gaps) else ():
            if index >= 0:
                arriving.setdefault(b, []).append((index, a))
        out_of_order = sum(_inversions([a for _, a in sorted(ins)], pos)
                           for ins in arriving.values())
        return 0, out_of_order, _inversions([v for v in rows[lay] if v < n_boxes], pos)

    cost: list[tuple[int, ...]] = [own_cost(0, pos) for pos in positions[0]]
    back: list[list[int]] = []
    for lay in range(1, len(rows)):
        new_cost: list[tuple[int, ...]] = []
        choice: list[int] = []
        for pos in positions[lay]:
            best = min(((cost[j][0] + _gap_crossings(gaps[lay - 1], prev, pos), *cost[j][1:]), j)
                       for j, prev in enumerate(positions[lay - 1]))
            mine = own_cost(lay, pos)
            new_cost.append(tuple(x + y for x, y in zip(best[0], mine)))
            choice.append(best[1])
        cost = new_cost
        back.append(choice)
    k = min(range(len(cost)), key=lambda k: (cost[k], k))
    picked = [k]
    for choice in reversed(back):
        picked.append(choice[picked[-1]])
    return [list(layer[k]) for layer, k in zip(orders, reversed(picked))]


def _heuristic_order(rows: list[list[int]], gaps: list[list[tuple[int, int, int]]]
                     ) -> list[list[int]]:
    """Barycentric sweeps, each followed by adjacent swaps; the orders with fewest crossings."""
    left: dict[int, list[int]] = {}
    right: dict[int, list[int]] = {}
    for gap in gaps:
        for a, b, _ in gap:
            right.setdefault(a, []).append(b)
            left.setdefault(b, []).append(a)

    def total(rows: list[list[int]]) -> int:
        pos = {v: i for row in rows for i, v in enumerate(row)}
        return sum(_gap_crossings(gap, pos, pos) for gap in gaps)

    rows = _transpose([list(r) for r in rows], left, right)
    best, best_count = [list(r) for r in rows], total(rows)
    for sweep in range(SWEEPS):
        if best_count == 0:
            break
        pos = {v: i for row in rows for i, v in enumerate(row)}
        down = sweep % 2 == 1                  # down: order by inputs; up: by consumers
        layers = range(1, len(rows)) if down else range(len(rows) - 2, -1, -1)
        side = left if down else right
        for lay in layers:
            rows[lay].sort(key=lambda v: _mean([pos[u] for u in side.get(v, [])], pos[v]))
            pos.update({v: i for i, v in enumerate(rows[lay])})
        rows = _transpose(rows, left, right)
        count = total(rows)
        if count < best_count:
            best, best_count = [list(r) for r in rows], count
    return best


def _transpose(rows: list[list[int]], left: Mapping[int, list[int]],
               right: Mapping[int, list[int]]) -> list[list[int]]:
    """Swap neighbours in a layer while that removes crossings (each swap removes some,
    so this ends)."""
    pos = {v: i for row in rows for i, v in enumerate(row)}

    def crossings(u: int, v: int) -> int:          # between u's and v's edges, u above v
        return sum(pos[a] > pos[b] for side in (left, right)
                   for a in side.get(u, []) for b in side.get(v, []))

    swapped = True
    while swapped:
        swapped = False
        for row in rows:
            for i in range(len(row) - 1):
                u, v = row[i], row[i + 1]
                if crossings(v, u) < crossings(u, v):
                    row[i], row[i + 1] = v, u
                    pos[u], pos[v] = i + 1, i
                    swapped = True
    return rows


# ---------------------------------------------------------------- edge labels

LABEL_ROOM = 1.0 * FONT       # clearance that is enough: then the preferred place wins
LABEL_TS = (0.5, 0.35, 0.65, 0.2, 0.8)   # candidate places along a curve, preferred first


def _curve_point(p: tuple[float, float], q: tuple[float, float], t: float) -> tuple[float, float]:
    """The point at ``t`` on the curve drawn from p to q (a cubic Bezier, level at both ends)."""
    xm = (p[0] + q[0]) / 2
    u = 1 - t
    x = u ** 3 * p[0] + 3 * u * t * xm + t ** 3 * q[0]
    y = (u ** 3 + 3 * u * u * t) * p[1] + (3 * u * t * t + t ** 3) * q[1]
    return x, y


def _edge_samples(e: GraphEdge) -> list[tuple[float, float]]:
    """Points along an edge as drawn, close enough to tell where it runs."""
    out = []
    for i, (p, q) in enumerate(zip(e.points, e.points[1:])):
        if i in e.gaps:
            out += [_curve_point(p, q, k / 16) for k in range(16)]
        else:
            out += [(p[0] + (q[0] - p[0]) * k / 4, p[1]) for k in range(4)]
    return out + [e.points[-1]]


def _label_half_size(text: str) -> tuple[float, float]:
    return len(text) * CHAR_W * LABEL_SIZE / 2 + 0.25 * FONT, 0.65 * FONT


def _clearance(centre: tuple[float, float], half: tuple[float, float],
               points: np.ndarray, rects: np.ndarray) -> float:
    """The distance from a label's rectangle to the nearest point and rectangle
    (rects: rows of centre x, centre y, half width, half height)."""
    cx, cy = centre
    to_points = np.hypot(np.maximum(np.abs(points[:, 0] - cx) - half[0], 0),
                         np.maximum(np.abs(points[:, 1] - cy) - half[1], 0))
    to_rects = np.hypot(np.maximum(np.abs(rects[:, 0] - cx) - half[0] - rects[:, 2], 0),
                        np.maximum(np.abs(rects[:, 1] - cy) - half[1] - rects[:, 3], 0))
    return float(min(to_points.min(), to_rects.min()))


def _place_labels(nodes: list[GraphNode], edges: list[GraphEdge]) -> None:
    """Put each edge's label on its edge where it is clearest of boxes, arrowheads,
    other edges and the other labels: each label in turn takes its best place,
    in two rounds (the second sees every label), and ties go to the preferred
    place (the middle of the last curve)."""
    labelled = [j for j, e in enumerate(edges) if e.label]
    if not labelled:
        return
    samples = [np.array(_edge_samples(e)) for e in edges]
    heads = np.array([p for e in edges for p in (e.points[-1], (e.points[-1][0] - 0.4 * FONT,
                                                                e.points[-1][1]))])
    boxes = np.array([(nd.x, nd.y, nd.width / 2, nd.height / 2) for nd in nodes])
    candidates = {j: [_curve_point(edges[j].points[i], edges[j].points[i + 1], t)
                      for i in reversed(edges[j].gaps) for t in LABEL_TS] for j in labelled}
    placed: dict[int, tuple[float, float]] = {}
    for _ in range(2):
        for j in labelled:
            half = _label_half_size(edges[j].label)
            points = np.concatenate([heads, *(samples[k] for k in range(len(edges)) if k != j)])
            labels = [(*placed[k], *_label_half_size(edges[k].label)) for k in placed if k != j]
            rects = np.concatenate([boxes, np.array(labels).reshape(-1, 4)])
            scores = [min(_clearance(c, half, points, rects), LABEL_ROOM)
                      for c in candidates[j]]
            placed[j] = candidates[j][scores.index(max(scores))]
    for j, at in placed.items():
        edges[j].label_at = at


# ---------------------------------------------------------------- drawing

def _plt() -> Any:
    import matplotlib.pyplot as plt
    return plt


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


def _prepare_axes(layout: GraphLayout, ax: Any, max_width: float, max_height: float,
                  title: str | None, margin: float = MARGIN) -> tuple[Any, float]:
    """The Axes to draw on and the points per layout unit on it."""
    plt = _plt()
    w, h = layout.width + 2 * margin, layout.height + 2 * margin
    if ax is None:
        scale = min(1.0, max_width * 72 / w, max_height * 72 / h)
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
               title: str | None = None, max_width: float = 7.0, max_height: float = 9.0) -> Axes:
    """Draw the expression graph behind ``output``: inputs on the left, output on the right.

    Leaves (blue), operations (amber) and constants (grey, dashed) are boxes
    showing the name or operation, the shape, the value (for scalars and tiny
    arrays) and the gradient once computed (red). ``grads``, ``edge_labels``,
    ``notes`` (extra lines of your own at the bottom of a box, in violet) and
    ``leaves`` are as in :func:`graph_layout`. ``highlight_nodes`` takes
    tensors; ``highlight_edges`` takes ``(input, consumer)`` pairs of tensors.

    Without ``ax`` a figure is made to fit the graph (at most ``max_width`` by
    ``max_height`` inches). With ``ax`` the text is scaled to fit that Axes
    as it is now: resize the figure first, then draw.
    """
    layout = graph_layout(output, show_values=show_values, show_grads=show_grads, grads=grads,
                          edge_labels=edge_labels, notes=notes, leaves=leaves)
    ax, scale = _prepare_axes(layout, ax, max_width, max_height, title)
    _draw_layout(ax, layout, scale, None, _node_keys(layout, highlight_nodes),
                 _edge_keys(layout, highlight_edges), layout.output)
    return ax


def draw_backward_steps(output: Tensor, ncols: int = 2, *, show_values: bool = False,
                        edge_labels: Any = None, leaves: Literal["near", "left"] = "near",
                        panel_width: float | None = None, title: str | None = None) -> np.ndarray:
    """Draw the backward pass as a grid of small graphs, one per step.

    Step *i* highlights the tensor whose gradient has just been completed and
    the edges it came back along, their arrowheads turned to point the way the
    gradient flows (it is the sum of what each consumer sent); the gradients
    completed so far are shown in red. Gradients are computed by
    :func:`backward_steps`, so no tensor's ``.grad`` changes. Every panel
    draws the same layout, with room for every gradient reserved from the
    start, so no box moves or changes size between steps. The text scales
    with ``panel_width`` (inches; the default fills 7 inches). Returns the
    array of Axes (unused cells of the grid are switched off).
    """
    plt = _plt()
    steps = backward_steps(output)
    layout = graph_layout(output, show_values=show_values, show_grads=True, grads="all",
                          edge_labels=edge_labels, leaves=leaves, layer_gap=STEP_GAP,
                          box_pad=STEP_PAD)
    ncols = max(1, min(ncols, len(steps)))
    nrows = -(-len(steps) // ncols)
    aspect = (layout.height + 2 * STEP_MARGIN) / (layout.width + 2 * STEP_MARGIN)
    if panel_width is None:
        panel_width = 7.0 / ncols
    pad, title_h, suptitle_h = 0.03, 0.4, (0.4 if title else 0.0)
    cell_w, cell_h = panel_width, panel_width * aspect + title_h
    fig_w, fig_h = cell_w * ncols, cell_h * nrows + suptitle_h
    fig = plt.figure(figsize=(fig_w, fig_h))
    if title:
        fig.suptitle(title, fontsize=11, y=1 - 0.08 / fig_h, va="top")
    axes = np.empty((nrows, ncols), dtype=object)
    for r in range(nrows):
        for c in range(ncols):
            left = c * cell_w + pad
            bottom = (nrows - 1 - r) * cell_h + pad
            axes[r, c] = fig.add_axes((left / fig_w, bottom / fig_h, (cell_w - 2 * pad) / fig_w,
                                       (cell_h - title_h - pad) / fig_h))
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


# ---------------------------------------------------------------- plots

def _axes(ax: Any, figsize: tuple[float, float] = (6.0, 4.0)) -> Any:
    if ax is None:
        _, ax = _plt().subplots(figsize=figsize)
    return ax


def plot_tangents(f: Callable[[Any], Any], df: Callable[[Any], Any], xs: Sequence[float],
                  x_range: tuple[float, float] | None = None, ax: Axes | None = None, *,
                  half_width: float = 0.6, annotate: bool = True, legend_loc: LegendLocType = "best",
                  title: str = "A function and its tangent lines", label: str = "f(x)") -> Axes:
    """Plot ``f`` over ``x_range`` and its tangent line (slope ``df(x)``) at each of ``xs``.

    ``f`` and ``df`` take numpy arrays. Each tangent is drawn ``half_width``
    either side of its point, labelled with its slope when ``annotate``.
    """
    ax = _axes(ax)
    xs = [float(x) for x in xs]
    lo, hi = x_range if x_range is not None else (min(xs) - 1.0, max(xs) + 1.0)
    grid = np.linspace(lo, hi, 400)
    ax.plot(grid, np.asarray(f(grid), dtype=float), color="#1f2937", linewidth=2, label=label)
    for i, x in enumerate(xs):
        y, slope = float(f(x)), float(df(x))
        t = np.array([x - half_width, x + half_width])
        ax.plot(t, y + slope * (t - x), color="#dc2626", linewidth=1.5,
                label="tangent lines" if i == 0 else None)
        ax.plot([x], [y], "o", color="#dc2626", markersize=5)
        if annotate:
            # put the text on the side the curve bends away from, clear of the tangent
            eps = 1e-3 * max(1.0, abs(x))
            bend = float(df(x + eps)) - float(df(x - eps))
            up = 1 if bend <= 0 else -1
            side = 0 if abs(slope) < 0.15 else (-1 if slope * up > 0 else 1)
            ax.annotate(f"slope {slope:.2f}", (x, y), textcoords="offset points",
                        xytext=(8 * side, 13 * up), ha={-1: "right", 0: "center", 1: "left"}[side],
                        va="bottom" if up > 0 else "top", fontsize=8.5, color="#991b1b")
    ax.set_xlim(lo, hi)
    ax.margins(y=0.15)
    ax.set_xlabel("x")
    ax.set_ylabel(label)
    ax.set_title(title)
    ax.legend(loc=legend_loc, fontsize=9)
    return ax


FDMethod = Literal["forward", "central"]
"""The finite-difference formulas :func:`fd_errors` knows."""


def fd_errors(f: Callable[[Any], Any], df: Callable[[Any], Any], x: float,
              hs: Sequence[float] | np.ndarray, method: FDMethod = "forward",
              dtype: Any = np.float64) -> np.ndarray:
    """Absolute errors of finite-difference derivatives of ``f`` at ``x``, one per step in ``hs``.

    Everything (x, h, f's arithmetic) is done in ``dtype``, as a program in that
    precision would; the exact derivative ``df`` is taken in float64 at the
    point ``x`` actually represents in ``dtype``.
    """
    dt = np.dtype(dtype).type
    x_d = dt(x)
    exact = float(df(np.float64(x_d)))
    errors: list[float] = []
    with np.errstate(all="ignore"):
        for h in hs:
            h_d = dt(h)
            if method == "forward":
                approx = (f(x_d + h_d) - f(x_d)) / h_d
            elif method == "central":
                approx = (f(x_d + h_d) - f(x_d - h_d)) / (dt(2) * h_d)
            else:
                raise ValueError(f"fd_errors: method must be 'forward' or 'central', not {method!r}")
            errors.append(abs(float(approx) - exact))
    return np.array(errors)


def plot_fd_error(f: Callable[[Any], Any], df: Callable[[Any], Any], x: float,
                  hs: Sequence[float] | np.ndarray | None = None, ax: Axes | None = None, *,
                  methods: Sequence[FDMethod] = ("forward", "central"),
                  dtypes: Sequence[Any] = (np.float64, np.float32), mark_best: bool = False,
                  title: str | None = None) -> Axes:
    """Finite-difference error against step size ``h`` on log-log axes: the V curves.

    One line per method and dtype (see :func:`fd_errors`), solid for the first
    dtype and dashed for the next; ``mark_best`` puts a dot on each line's
    smallest error. Errors that are exactly zero are left out of the plot.
    """
    ax = _axes(ax, (6.4, 4.2))
    steps: np.ndarray = np.logspace(-16, 0, 161) if hs is None else np.asarray(hs, dtype=float)
    colors = {"forward": "#2563eb", "central": "#dc2626"}
    styles = ["-", "--", ":", "-."]
    for j, dtype in enumerate(dtypes):
        for method in methods:
            err = fd_errors(f, df, x, steps, method, dtype)
            shown = np.where(err > 0, err, np.nan)
            color = colors.get(method, None)
            ax.loglog(steps, shown, styles[j % len(styles)], color=color, linewidth=1.6,
                      label=f"{method}, {np.dtype(dtype).name}")
            if mark_best and np.any(err > 0):
                best = int(np.nanargmin(shown))
                ax.loglog([steps[best]], [shown[best]], "o", color=color, markersize=5)
    ax.set_xlabel("step size h")
    ax.set_ylabel("absolute error of the derivative")
    ax.set_title(title or f"Finite-difference error at x = {x:g}")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=9, loc="best")
    return ax


def _ad_gradient(f: Callable[..., Any], X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The gradient of f at every grid point with one backward pass of ``ad``."""
    x = Tensor(np.array(X, dtype=np.float64), requires_grad=True)
    y = Tensor(np.array(Y, dtype=np.float64), requires_grad=True)
    out = f(x, y)
    out.sum().backward()          # the points are independent: one pass gives them all
    gx = x.grad.data if x.grad is not None else np.zeros_like(X)
    gy = y.grad.data if y.grad is not None else np.zeros_like(Y)
    return gx, gy


def _contours(ax: Any, f: Callable[..., Any], xlim: tuple[float, float], ylim: tuple[float, float],
              n: int, levels: int, cmap: str) -> Any:
    X, Y = np.meshgrid(np.linspace(*xlim, n), np.linspace(*ylim, n))
    with no_grad():
        Z = np.asarray(f(X, Y), dtype=float)
    filled = ax.contourf(X, Y, Z, levels=levels, cmap=cmap, alpha=0.85)
    ax.contour(X, Y, Z, levels=levels, colors="white", linewidths=0.5, alpha=0.6,
               linestyles="solid")
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    return filled


def _centres(lim: tuple[float, float], n: int) -> np.ndarray:
    """The centres of n equal cells spanning lim (arrows there stay inside the plot)."""
    edges = np.linspace(lim[0], lim[1], n + 1)
    return (edges[:-1] + edges[1:]) / 2


def plot_field(f: Callable[..., Any], grad: Callable[..., Any] | None = None,
               xlim: tuple[float, float] = (-2.0, 2.0), ylim: tuple[float, float] = (-2.0, 2.0),
               ax: Axes | None = None, *, n: int = 121, arrows: int = 13, levels: int = 20,
               descent: bool = False, cmap: str = "viridis", colorbar: bool = True,
               label: str = "f(x, y)", title: str | None = None) -> Axes:
    """A scalar field f(x, y) as filled contours, with its gradient field as arrows.

    ``f`` takes two arrays of the same shape and returns an array. Without
    ``grad`` the gradients come from ``ad`` (``f`` then has to work on tensors
    too: arithmetic, ``np.sin``, ``ad.exp``...), one backward pass for the
    whole grid of arrows. ``grad(x, y)`` may return ``(df/dx, df/dy)`` instead. The arrows sit at the
    centres of an ``arrows`` by ``arrows`` grid of cells.
    ``descent=True`` draws minus the gradient, the way downhill. ``label``
    names the colour bar. The axes have equal scales, so that every arrow is
    drawn perpendicular to the contour lines, as a gradient is.
    """
    ax = _axes(ax, (5.6, 4.6))
    filled = _contours(ax, f, xlim, ylim, n, levels, cmap)
    AX, AY = np.meshgrid(_centres(xlim, arrows), _centres(ylim, arrows))
    if grad is None:
        GX, GY = _ad_gradient(f, AX, AY)
    else:
        GX, GY = (np.broadcast_to(np.asarray(g, dtype=float), AX.shape) for g in grad(AX, AY))
    sign = -1.0 if descent else 1.0
    ax.quiver(AX, AY, sign * GX, sign * GY, color="#111827", angles="xy", pivot="mid",
              width=0.005, headwidth=3.5, headlength=4, headaxislength=3.5)
    if colorbar:
        ax.figure.colorbar(filled, ax=ax, shrink=0.85, label=label)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(title or ("f and its negative gradient (downhill)" if descent else
                           "f and its gradient (uphill)"))
    return ax


def plot_path(path: Any, ax: Axes | None = None, *, f: Callable[..., Any] | None = None,
              xlim: tuple[float, float] | None = None, ylim: tuple[float, float] | None = None,
              label: str | None = None, color: str | None = None, n: int = 121, levels: int = 20,
              cmap: str = "viridis", title: str | None = None) -> Axes:
    """Draw a path of points (an array of shape (k, 2)) as a line with a start and an end mark.

    With ``f`` the landscape is drawn underneath as filled contours first (over
    ``xlim``, ``ylim``, which default to the path's extent plus a margin). Call
    again with the same ``ax`` to overlay several paths.
    """
    points = np.asarray([np.asarray(p, dtype=float).reshape(-1) for p in path])
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"plot_path: expected points of shape (k, 2), got {points.shape}")
    ax = _axes(ax, (5.6, 4.6))
    if f is not None:
        lo, hi = points.min(axis=0), points.max(axis=0)
        pad = 0.15 * np.maximum(hi - lo, 1e-9) + 0.5
        xlim = xlim or (float(lo[0] - pad[0]), float(hi[0] + pad[0]))
        ylim = ylim or (float(lo[1] - pad[1]), float(hi[1] + pad[1]))
        _contours(ax, f, xlim, ylim, n, levels, cmap)
    (line,) = ax.plot(points[:, 0], points[:, 1], "-o", color=color or "#f97316", markersize=3,
                      linewidth=1.6, label=label, zorder=5)
    c = line.get_color()
    ax.plot(points[0, 0], points[0, 1], "o", color="white", markeredgecolor=c, markersize=8, zorder=6)
    ax.plot(points[-1, 0], points[-1, 1], "*", color=c, markeredgecolor="#111827", markersize=13,
            zorder=6)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    if title or not ax.get_title():
        ax.set_title(title or f"A path of {len(points) - 1} steps")
    if label:
        ax.legend(fontsize=9, loc="best")
    return ax

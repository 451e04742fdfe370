"""Where the boxes and arrows of an expression graph go: pure Python and numpy, no matplotlib.

:func:`graph_layout` places the graph behind a tensor; :func:`backward_steps`
replays the backward pass one tensor at a time and :func:`local_derivatives`
reads off the derivative along each edge, both without touching anyone's
``.grad``. Everything here is data, which is what the tests check; drawing it
is the job of ``ad.viz.graphs``.

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
pool-adjacent-violators). Edges that share both their ends (``x * x`` has
two) then bow apart, each through an apex of its own where its label goes,
the labels one above the other. Last, each other edge label goes to the place
on its edge, among a few, that is clearest of boxes, arrowheads, other edges
and labels.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Iterable, Literal, Mapping, Sequence

import numpy as np

from .. import Tensor, no_grad, unbroadcast
from ..tensor import _reverse_topological_order

__all__ = [
    "GraphNode", "GraphEdge", "GraphLayout", "BackwardStep",
    "graph_layout", "backward_steps", "local_derivatives",
]

# Layout units are points at the nominal font size FONT; drawing scales them.
FONT = 10.0
CHAR_W = 0.62 * FONT          # advance of one character of DejaVu Sans Mono
LINE_H = 1.3 * FONT
PAD_X, PAD_Y = 0.7 * FONT, 0.45 * FONT
NODE_GAP = 1.0 * FONT         # vertical space between boxes in a layer
LAYER_GAP = 3.0 * FONT        # horizontal space between layers
WAYPOINT_H = 0.8 * FONT       # the room an edge takes when it passes a layer
LABEL_SIZE = 0.85             # edge labels' font, relative to the boxes'
LABEL_GAP = 3.5 * FONT        # a gap holding edge labels is this much wider than the widest
# Route points closer than this are one point: a last segment of rounding error's length
# has no direction, and matplotlib then draws no arrowhead on it.
SNAP = 1e-6
TINY = 4                      # arrays with at most this many elements show their values...
MAX_VALUE_CHARS = 22          # ...if they fit in this many characters
CHECK = "\u2713"              # shown for a gradient too large to print


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
    layers (drawn as curves, level at both ends), the others run straight
    along a column. Edges that share both ends (``x * x``) bow apart: each
    crosses its gap in two curves, through an apex of its own, where its
    label goes. ``label_at`` is where the label's centre goes, a point on one
    of those curves.
    """

    source: int
    target: int
    index: int
    differentiable: bool
    label: str = ""
    points: list[tuple[float, float]] = field(default_factory=list)
    gaps: list[int] = field(default_factory=list)   # i: points[i] -> points[i + 1] crosses a gap
    label_at: tuple[float, float] | None = None    # the centre of the label, on the edge

    def gap_crossings(self) -> list[tuple[float, float]]:
        """Where the edge enters and leaves each gap between layers it crosses, as
        ``(y in, y out)``, left to right (a bowed crossing is two curves, one crossing)."""
        out: list[tuple[float, float]] = []
        for k, i in enumerate(self.gaps):
            if k and self.gaps[k - 1] == i - 1:         # the second curve of a bow
                out[-1] = (out[-1][0], self.points[i + 1][1])
            else:
                out.append((self.points[i][1], self.points[i + 1][1]))
        return out


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
            for j, ends in enumerate(e.gap_crossings()):
                gaps.setdefault(layer + j, []).append(ends)
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
                 layer_gap: float = LAYER_GAP, box_pad: float = PAD_X,
                 label_gap: float = LABEL_GAP) -> GraphLayout:
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
    the room between columns, ``box_pad`` the room either side of the text in
    a box, and ``label_gap`` how much wider than the widest edge label a gap
    with labels is made (when that is wider than ``layer_gap``).
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
    gap = max(layer_gap, widest_label * CHAR_W * LABEL_SIZE + label_gap) if widest_label else layer_gap

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
        if right > pts[-1][0] + SNAP:
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
        if dst.x - dst.width / 2 > pts[-1][0] + SNAP:
            pts.append((dst.x - dst.width / 2, y))
        e.points = pts

    apexes = _bow_parallel_edges(nodes, edges, rank)
    _place_labels(nodes, edges, apexes)
    height = _grow_to_fit(nodes, edges, bottom - top)
    return GraphLayout(nodes, edges, 0, [[v for v in row if v < n] for row in rows],
                       width=col_left[-1] + col_w[-1], height=height, _keys=keys)


# Parallel edges' apexes are this far apart, enough for a label on each (labels are
# 1.3 FONT high) when they have labels, enough to be seen apart when they have not...
BOW_LABELLED = 2.2 * FONT
BOW = 1.2 * FONT
# ...and this far across their gap (a fraction of its width) and this far up from
# half-way between their ends, whichever leaves the labels clearest of everything
# else, preferring the first.
BOW_AT = (0.5, 0.6, 0.4, 0.7)
BOW_SHIFTS = tuple(k * 0.4 * FONT for k in (0, 1, -1, 2, -2, 3, -3))


def _bow_parallel_edges(nodes: list[GraphNode], edges: list[GraphEdge], rank: Sequence[int]
                        ) -> dict[int, tuple[float, float]]:
    """Bow apart the edges that share both their ends (``x * x``); return their apexes.

    Such edges leave their source from one point and arrive at adjacent ports
    of the target. Each now crosses the gap through an apex of its own, as two
    curves level at the apex, the one arriving highest bowing highest, so
    that none of them crosses another and each is seen. Their labels go at
    the apexes, one above the other: the apexes are BOW_LABELLED apart, and
    they are put across the gap where their labels are clearest of the
    boxes, the arrowheads and the other edges. Parallel edges always join
    adjacent layers (an operation is one layer after its latest input, and
    here every input is the same tensor), so each has one gap to bow in.
    """
    groups: dict[tuple[int, int], list[int]] = {}
    for j, e in enumerate(edges):
        groups.setdefault((e.source, e.target), []).append(j)
    bowed = [sorted(js, key=lambda j: rank[j]) for js in groups.values()      # top port first
             if len(js) > 1 and all(len(edges[j].gaps) == 1 for j in js)]
    apexes: dict[int, tuple[float, float]] = {}
    if not bowed:
        return apexes
    heads = np.array([p for e in edges for p in (e.points[-1], (e.points[-1][0] - 0.4 * FONT,
                                                                e.points[-1][1]))])
    boxes = np.array([(nd.x, nd.y, nd.width / 2, nd.height / 2) for nd in nodes])
    for js in bowed:
        i = edges[js[0]].gaps[0]
        (x0, y0), (x1, _) = edges[js[0]].points[i], edges[js[0]].points[i + 1]
        middle = (y0 + _mean([edges[j].points[i + 1][1] for j in js], y0)) / 2
        step = BOW_LABELLED if any(edges[j].label for j in js) else BOW
        ys = [middle + step * ((len(js) - 1) / 2 - k) for k in range(len(js))]
        others = [np.array(_edge_samples(e)) for k, e in enumerate(edges) if k not in js]
        points = np.concatenate([heads, *others])

        def score(x: float, shift: float, js: list[int] = js, ys: list[float] = ys,
                  points: np.ndarray = points) -> float:
            return min((min(_clearance((x, y + shift), _label_half_size(edges[j].label),
                                       points, boxes), LABEL_ROOM)
                        for j, y in zip(js, ys) if edges[j].label), default=LABEL_ROOM)

        places = [(x0 + f * (x1 - x0), shift) for shift in BOW_SHIFTS for f in BOW_AT]
        scores = [score(*place) for place in places]
        x, shift = places[scores.index(max(scores))]
        for j, y in zip(js, ys):
            e = edges[j]
            e.points.insert(i + 1, (x, y + shift))
            e.gaps.append(i + 1)
            apexes[j] = (x, y + shift)
    return apexes


def _grow_to_fit(nodes: list[GraphNode], edges: list[GraphEdge], height: float) -> float:
    """The layout's height, grown (and everything moved down) so that the routes and the
    labels, not only the boxes, lie between 0 and minus the height."""
    ys = [y for e in edges for _, y in e.points]
    for e in edges:
        if e.label_at is not None:
            half = _label_half_size(e.label)[1]
            ys += [e.label_at[1] + half, e.label_at[1] - half]
    above = max(0.0, max(ys, default=0.0))
    below = max(0.0, -height - min(ys, default=0.0))
    if above:
        for nd in nodes:
            nd.y -= above
        for e in edges:
            e.points = [(x, y - above) for x, y in e.points]
            if e.label_at is not None:
                e.label_at = (e.label_at[0], e.label_at[1] - above)
    return height + above + below


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
    (rects: rows of centre x, centre y, half width, half height); negative when
    they overlap, by how far the label would have to move to clear the deepest."""
    cx, cy = centre
    gaps = np.concatenate([
        np.stack([np.abs(points[:, 0] - cx) - half[0], np.abs(points[:, 1] - cy) - half[1]], 1),
        np.stack([np.abs(rects[:, 0] - cx) - half[0] - rects[:, 2],
                  np.abs(rects[:, 1] - cy) - half[1] - rects[:, 3]], 1)])
    outside = np.hypot(np.maximum(gaps[:, 0], 0), np.maximum(gaps[:, 1], 0))
    signed = np.where((gaps[:, 0] < 0) & (gaps[:, 1] < 0), gaps.max(axis=1), outside)
    return float(signed.min())


def _place_labels(nodes: list[GraphNode], edges: list[GraphEdge],
                  apexes: Mapping[int, tuple[float, float]]) -> None:
    """Put each edge's label on its edge where it is clearest of boxes, arrowheads,
    other edges and the other labels: each label in turn takes its best place,
    in two rounds (the second sees every label), and ties go to the preferred
    place (the middle of the last curve). A bowed edge's label goes at its apex
    (see :func:`_bow_parallel_edges`), where it is clear of its parallel edges' labels; the
    others see it from the start."""
    labelled = [j for j, e in enumerate(edges) if e.label]
    if not labelled:
        return
    samples = [np.array(_edge_samples(e)) for e in edges]
    heads = np.array([p for e in edges for p in (e.points[-1], (e.points[-1][0] - 0.4 * FONT,
                                                                e.points[-1][1]))])
    boxes = np.array([(nd.x, nd.y, nd.width / 2, nd.height / 2) for nd in nodes])
    placed = {j: apexes[j] for j in labelled if j in apexes}
    free = [j for j in labelled if j not in placed]
    candidates = {j: [_curve_point(edges[j].points[i], edges[j].points[i + 1], t)
                      for i in reversed(edges[j].gaps) for t in LABEL_TS] for j in free}
    for _ in range(2):
        for j in free:
            half = _label_half_size(edges[j].label)
            points = np.concatenate([heads, *(samples[k] for k in range(len(edges)) if k != j)])
            labels = [(*placed[k], *_label_half_size(edges[k].label)) for k in placed if k != j]
            rects = np.concatenate([boxes, np.array(labels).reshape(-1, 4)])
            scores = [min(_clearance(c, half, points, rects), LABEL_ROOM)
                      for c in candidates[j]]
            placed[j] = candidates[j][scores.index(max(scores))]
    for j, at in placed.items():
        edges[j].label_at = at

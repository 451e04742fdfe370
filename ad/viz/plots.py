"""Plots of derivatives at work: functions, errors, fields and paths.

:func:`plot_tangents` (a function and its tangent lines), :func:`plot_fd_error`
(finite-difference error against step size, with :func:`fd_errors` behind it),
:func:`plot_field` (a scalar field and its gradient field) and :func:`plot_path`
(a path over a landscape). Each accepts ``ax=`` and returns the Axes it drew
on; matplotlib is imported when one of them is first called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Literal, Sequence

import numpy as np

from .. import Tensor, no_grad
from ._mpl import pyplot

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.typing import LegendLocType

__all__ = ["FDMethod", "fd_errors", "plot_tangents", "plot_fd_error", "plot_field", "plot_path"]


def _axes(ax: Any, figsize: tuple[float, float] = (6.0, 4.0)) -> Any:
    if ax is None:
        _, ax = pyplot().subplots(figsize=figsize)
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

FD_COLORS = {"forward": "#2563eb", "central": "#dc2626"}
FD_STYLES = ["-", "--", ":", "-."]               # measured errors: one per dtype
MODEL_STYLES = [":", "-.", (0, (3, 1, 1, 1, 1, 1)), (0, (8, 2))]   # their models'


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
                  model: Callable[[np.ndarray, str, float], Any] | None = None,
                  title: str | None = None) -> Axes:
    """Finite-difference error against step size ``h`` on log-log axes: the V curves.

    One line per method and dtype (see :func:`fd_errors`), blue for forward
    and red for central differences, solid for the first dtype and dashed for
    the next; ``mark_best`` puts a dot on each line's smallest error. Errors
    that are exactly zero are left out of the plot.

    ``model(h, method, eps)``, if given, is an error model: the error it
    predicts at the steps ``h`` (an array) for a method and a machine epsilon.
    Each line then gets its model as a thinner line of the same colour,
    dotted for the first dtype and dash-dotted for the next (labelled
    ``"model: forward, float64"`` and so on), shown beside it in the legend;
    a model is left out where it is more than 10 times the largest error
    measured, so that it does not squash the curves.
    """
    ax = _axes(ax, (6.4, 4.2))
    steps: np.ndarray = np.logspace(-16, 0, 161) if hs is None else np.asarray(hs, dtype=float)
    curves, largest = [], 0.0
    for j, dtype in enumerate(dtypes):
        for method in methods:
            err = fd_errors(f, df, x, steps, method, dtype)
            shown = np.where(err > 0, err, np.nan)
            color = FD_COLORS.get(method, None)
            (line,) = ax.loglog(steps, shown, FD_STYLES[j % len(FD_STYLES)], color=color,
                                linewidth=1.6, label=f"{method}, {np.dtype(dtype).name}")
            curves.append((line, j, method, dtype))
            if np.any(err > 0):
                largest = max(largest, float(np.nanmax(shown)))
                if mark_best:
                    best = int(np.nanargmin(shown))
                    ax.loglog([steps[best]], [shown[best]], "o", color=color, markersize=5)
    handles: list[Any] = [line for line, *_ in curves]
    if model is not None:
        for k, (line, j, method, dtype) in enumerate(curves):
            predicted = np.broadcast_to(np.asarray(
                model(steps, method, float(np.finfo(dtype).eps)), dtype=float), steps.shape)
            if largest > 0:         # the model, far above every measured error, would squash them
                predicted = np.where(predicted <= 10 * largest, predicted, np.nan)
            (modelled,) = ax.loglog(steps, predicted, linestyle=MODEL_STYLES[j % len(MODEL_STYLES)],
                                    color=line.get_color(), linewidth=1.1,
                                    label=f"model: {method}, {np.dtype(dtype).name}")
            handles[k] = (line, modelled)
    ax.set_xlabel("step size h")
    ax.set_ylabel("absolute error of the derivative")
    ax.set_title(title or f"Finite-difference error at x = {x:g}")
    ax.grid(True, which="major", alpha=0.3)
    if model is None:
        ax.legend(fontsize=9, loc="best")
    else:                       # each entry: the measured line, then its model
        from matplotlib.legend_handler import HandlerTuple
        ax.legend(handles=handles, labels=[str(line.get_label()) for line, *_ in curves],
                  handler_map={tuple: HandlerTuple(ndivide=None, pad=0.5)}, handlelength=4.4,
                  title="measured, model", title_fontsize=9, fontsize=9, loc="best")
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


HIGHLIGHT = "#dc2626"           # the highlighted arrow of plot_field


def _following_quiver(ax: Any, leader: Any, *args: Any, **kwargs: Any) -> Any:
    """A Quiver added to ``ax`` that is drawn at ``leader``'s scale, even when that is
    matplotlib's autoscale (chosen when the leader is first drawn, from its own arrows)."""
    from matplotlib.quiver import Quiver

    class Following(Quiver):
        def draw(self, renderer: Any) -> None:
            if leader.scale is not None:
                self.scale, self.scale_units = leader.scale, leader.scale_units
            super().draw(renderer)

    quiver = Following(ax, *args, **kwargs)
    ax.add_collection(quiver, autolim=False)
    return quiver


def plot_field(f: Callable[..., Any], grad: Callable[..., Any] | None = None,
               xlim: tuple[float, float] = (-2.0, 2.0), ylim: tuple[float, float] = (-2.0, 2.0),
               ax: Axes | None = None, *, n: int = 121, arrows: int = 13, levels: int = 20,
               descent: bool = False, scale: float | None = None,
               highlight: tuple[float, float] | None = None, cmap: str = "viridis",
               colorbar: bool = True, label: str = "f(x, y)", title: str | None = None) -> Axes:
    """A scalar field f(x, y) as filled contours, with its gradient field as arrows.

    ``f`` takes two arrays of the same shape and returns an array. Without
    ``grad`` the gradients come from ``ad`` (``f`` then has to work on tensors
    too: arithmetic, ``np.sin``, ``ad.exp``...), one backward pass for the
    whole grid of arrows. ``grad(x, y)`` may return ``(df/dx, df/dy)`` instead. The arrows sit at the
    centres of an ``arrows`` by ``arrows`` grid of cells; each arrow starts
    at its point. ``descent=True`` draws minus the gradient, the way downhill. ``label``
    names the colour bar. The axes have equal scales, so that every arrow is
    drawn perpendicular to the contour lines, as a gradient is.

    ``scale`` is the size of gradient that one unit of length on the axes
    stands for: an arrow is then ``|gradient| / scale`` long in the axes' own
    units, so lengths can be read off and compared between plots. By default
    (``None``) matplotlib chooses a scale that suits the arrows drawn.
    ``highlight=(x, y)`` draws the arrow at that point once more on top, in
    red with a white outline (at the same scale, and with the gradient
    computed there the same way), whether or not it is a point of the grid.

    Returns the Axes. The arrows are ``matplotlib.quiver.Quiver`` collections
    in ``ax.collections``: the grid's is the first Quiver (its ``U`` and ``V``
    are the gradients drawn), the highlighted arrow's, if any, the second.
    """
    ax = _axes(ax, (5.6, 4.6))
    filled = _contours(ax, f, xlim, ylim, n, levels, cmap)
    AX, AY = np.meshgrid(_centres(xlim, arrows), _centres(ylim, arrows))

    def gradient(X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if grad is None:
            return _ad_gradient(f, X, Y)
        gx, gy = (np.broadcast_to(np.asarray(g, dtype=float), X.shape) for g in grad(X, Y))
        return gx, gy

    sign = -1.0 if descent else 1.0
    style: dict[str, Any] = dict(angles="xy", pivot="tail", width=0.005, headwidth=3.5,
                                 headlength=4, headaxislength=3.5)
    if scale is not None:
        style.update(scale_units="xy", scale=float(scale))
    GX, GY = gradient(AX, AY)
    field = ax.quiver(AX, AY, sign * GX, sign * GY, color="#111827", **style)
    if highlight is not None:
        HX, HY = (np.full((1, 1), float(v)) for v in highlight)
        hx, hy = gradient(HX, HY)
        _following_quiver(ax, field, HX, HY, sign * hx, sign * hy, color=HIGHLIGHT,
                          edgecolor="white", linewidths=0.6, zorder=field.get_zorder() + 1.5,
                          **{**style, "width": 0.008})
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

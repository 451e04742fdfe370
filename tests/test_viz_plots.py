"""Tests of ad.viz.plots: each plot's artists, and the numbers behind them."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.colors  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.collections import PathCollection  # noqa: E402
from matplotlib.contour import ContourSet  # noqa: E402
from matplotlib.quiver import Quiver  # noqa: E402

from ad import viz  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


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


def sin_model(h, method, eps):
    """The error model of chapter 1 for sin at 1: truncation plus round-off."""
    if method == "forward":
        return h / 2 * abs(np.sin(1.0)) + 2 * eps * abs(np.sin(1.0)) / h
    return h ** 2 / 6 * abs(np.cos(1.0)) + eps * abs(np.sin(1.0)) / h


def test_plot_fd_error_draws_each_model_like_its_curve_but_distinct():
    hs = np.logspace(-16, 0, 161)
    ax = viz.plot_fd_error(np.sin, np.cos, 1.0, hs, model=sin_model)
    curves = {line.get_label(): line for line in ax.lines if not line.get_label().startswith("model")}
    models = {line.get_label(): line for line in ax.lines if line.get_label().startswith("model")}
    assert list(models) == ["model: forward, float64", "model: central, float64",
                            "model: forward, float32", "model: central, float32"]
    for label, line in models.items():
        curve = curves[label.removeprefix("model: ")]
        assert line.get_color() == curve.get_color()            # the colour of its curve...
        assert line.get_linestyle() != curve.get_linestyle()    # ...but not its dashes
        method, dtype = label.removeprefix("model: ").split(", ")
        expected = sin_model(hs, method, np.finfo(dtype).eps)
        shown = ~np.isnan(line.get_ydata())
        np.testing.assert_allclose(line.get_ydata()[shown], expected[shown])
    styles = [(line.get_color(), line.get_linestyle()) for line in ax.lines]
    assert len(set(styles)) == len(styles) == 8                 # no two lines look alike
    # each legend entry shows a curve and its model side by side
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == list(curves)
    assert legend.get_title().get_text() == "measured, model"


def test_fd_models_do_not_squash_the_curves():
    """The round-off model grows like eps / h: at h = 1e-16 it is 1e9 in float32. It is
    cut where it leaves the measured errors far behind, so the axes stay on the curves."""
    ax = viz.plot_fd_error(np.sin, np.cos, 1.0, model=sin_model)
    fig = ax.figure
    fig.canvas.draw()
    measured = np.concatenate([line.get_ydata() for line in ax.lines
                               if not line.get_label().startswith("model")])
    top = np.nanmax(measured)
    assert ax.get_ylim()[1] < 100 * top
    models = np.concatenate([line.get_ydata() for line in ax.lines
                             if line.get_label().startswith("model")])
    assert np.nanmax(models) <= 10 * top and np.isnan(models).any()


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


def quivers(ax):
    return [c for c in ax.collections if isinstance(c, Quiver)]


def drawn_lengths(ax, q):
    """The length of each of q's arrows as drawn, in the units of the (equal-scaled) axes."""
    ax.figure.canvas.draw()
    per_unit = ax.bbox.width / ax.viewLim.width            # pixels per unit of x (and of y)
    to_pixels = q.get_transform()
    lengths = []
    for path, u, v in zip(q.get_paths(), q.U, q.V):
        pixels = to_pixels.transform(path.vertices) - to_pixels.transform((0, 0))
        along = pixels @ (np.array([u, v]) / np.hypot(u, v))
        lengths.append((along.max() - along.min()) / per_unit)
    return np.array(lengths)


def test_plot_field_scale_makes_arrow_lengths_gradient_sizes():
    """scale=20: one unit of length on the axes is a gradient of size 20, for every arrow."""
    f = lambda x, y: x * x * y + np.sin(y)
    fig, ax = plt.subplots(figsize=(5, 4))
    assert viz.plot_field(f, xlim=(-1, 1), ylim=(-1, 1), ax=ax, arrows=5, scale=20) is ax
    (q,) = quivers(ax)
    assert q.scale == 20 and q.scale_units == "xy" and q.angles == "xy"
    centres = np.linspace(-0.8, 0.8, 5)
    X, Y = np.meshgrid(centres, centres)
    assert np.allclose(q.U.reshape(X.shape), 2 * X * Y)                  # still ad's gradients
    assert np.allclose(q.V.reshape(X.shape), X * X + np.cos(Y))
    size = np.hypot(2 * X * Y, X * X + np.cos(Y)).ravel()
    np.testing.assert_allclose(drawn_lengths(ax, q), size / 20, rtol=1e-6)
    auto = quivers(viz.plot_field(f, xlim=(-1, 1), ylim=(-1, 1), arrows=5))[0]
    assert auto.scale is None and auto.scale_units is None       # matplotlib's autoscale


@pytest.mark.parametrize("scale", [None, 4.0], ids=["autoscale", "scale"])
def test_plot_field_highlight_draws_one_red_arrow_on_top(scale):
    f = lambda x, y: x * x * y + np.sin(y)
    ax = viz.plot_field(f, xlim=(-1, 1), ylim=(-1, 1), arrows=5, scale=scale, highlight=(0.3, -0.5))
    field, lit = quivers(ax)
    assert field.N == 25 and lit.N == 1                     # the grid's arrows are untouched
    np.testing.assert_allclose(lit.get_offsets(), [[0.3, -0.5]])
    assert lit.U == pytest.approx([2 * 0.3 * -0.5]) and lit.V == pytest.approx([0.09 + np.cos(-0.5)])
    assert matplotlib.colors.to_hex(lit.get_facecolor()[0]) == viz.plots.HIGHLIGHT
    assert matplotlib.colors.to_hex(lit.get_edgecolor()[0]) == "#ffffff"
    assert lit.get_zorder() > field.get_zorder()
    assert lit.pivot == field.pivot and lit.angles == field.angles
    lengths = drawn_lengths(ax, field)                      # drawn at the grid's scale,
    assert field.scale is not None and field.scale == (scale or field.scale)    # autoscaled or not
    assert lit.scale == field.scale and lit.scale_units == field.scale_units
    own = drawn_lengths(ax, lit)[0]
    size = np.hypot(lit.U[0], lit.V[0])
    np.testing.assert_allclose(lengths / np.hypot(field.U, field.V), own / size, rtol=1e-6)


def test_plot_field_highlight_with_given_gradient_and_descent():
    f = lambda x, y: x ** 2 + 3 * y ** 2
    ax = viz.plot_field(f, lambda x, y: (2 * x, 6 * y), arrows=4, descent=True, colorbar=False,
                        highlight=(1.0, 0.5))
    _, lit = quivers(ax)
    assert lit.U == pytest.approx([-2.0]) and lit.V == pytest.approx([-3.0])     # downhill too
    assert len(quivers(viz.plot_field(f, arrows=4, colorbar=False))) == 1        # none by default


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


def test_plot_field_arrows_start_at_their_points():
    ax = viz.plot_field(lambda x, y: x * x + y, xlim=(-1.0, 1.0), ylim=(-1.0, 1.0), arrows=3)
    quiver = next(c for c in ax.collections if isinstance(c, Quiver))
    assert quiver.pivot == "tail"
    plt.close(ax.figure)

"""ad.viz without matplotlib: the layout works, and drawing says how to install it.

matplotlib is an optional dependency (``pip install 'sixteen-ad[viz]'``): ``import
ad`` and the layout must never import it, and a drawing function called without it
must raise an ImportError that says what to install. Each case runs in a fresh
Python, where matplotlib is hidden before ``ad`` is imported.
"""

import builtins
import subprocess
import sys
import textwrap

import pytest

from ad.viz import _mpl

# Two ways to hide matplotlib: a None in sys.modules (what Python does for a module it
# has been told not to import), and a finder that says it is not installed.
HIDE = {
    "sys.modules": "import sys; sys.modules['matplotlib'] = None",
    "not installed": textwrap.dedent("""\
        import sys
        class NoMatplotlib:
            def find_spec(self, name, path=None, target=None):
                if name.partition('.')[0] == 'matplotlib':
                    raise ModuleNotFoundError(f'No module named {name!r}', name=name)
        sys.meta_path.insert(0, NoMatplotlib())
        """),
}


def run(code, hide=None):
    """Run ``code`` in a fresh Python (with matplotlib hidden first, if ``hide``)."""
    script = (HIDE[hide] + "\n" if hide else "") + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)


def test_import_ad_and_the_layout_never_import_matplotlib():
    result = run("""
        import sys
        import ad
        assert 'matplotlib' not in sys.modules, 'import ad pulled in matplotlib'
        import ad.viz.layout
        assert 'matplotlib' not in sys.modules, 'import ad.viz.layout pulled in matplotlib'
        import ad.viz, ad.viz.graphs, ad.viz.plots
        assert 'matplotlib' not in sys.modules, 'import ad.viz pulled in matplotlib'
        x = ad.tensor(2.0, requires_grad=True, name='x')
        y = ad.sin(x * x)
        ad.viz.graph_layout(y, grads='all', edge_labels='local')
        ad.viz.local_derivatives(y)
        ad.viz.backward_steps(y)
        ad.viz.fd_errors(lambda t: t * t, lambda t: 2 * t, 1.0, [1e-3])
        assert not [m for m in sys.modules if m.startswith('matplotlib')], 'the layout pulled it in'
        print('ok')
        """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["ok"]


DRAWINGS = {
    "draw_graph": "viz.draw_graph(y)",
    "draw_backward_steps": "viz.draw_backward_steps(y)",
    "plot_tangents": "viz.plot_tangents(np.sin, np.cos, [0.0])",
    "plot_fd_error": "viz.plot_fd_error(np.sin, np.cos, 1.0)",
    "plot_field": "viz.plot_field(lambda a, b: a * b)",
    "plot_path": "viz.plot_path([(0.0, 0.0), (1.0, 1.0)])",
}


@pytest.mark.parametrize("hide", HIDE)
def test_without_matplotlib_the_layout_works_and_drawing_says_what_to_install(hide):
    result = run(f"""
        import numpy as np
        import ad
        from ad import viz
        x = ad.tensor(2.0, requires_grad=True, name='x')
        y = ad.sin(x * x)
        layout = viz.graph_layout(y, grads='all', edge_labels='local')
        assert len(layout.nodes) == 3 and layout.crossings() == 0
        for name, call in {DRAWINGS!r}.items():
            try:
                eval(call)
            except ImportError as error:
                assert type(error) is ImportError, (name, type(error))
                assert isinstance(error.__cause__, ModuleNotFoundError), (name, error.__cause__)
                assert error.__cause__.name.partition('.')[0] == 'matplotlib'
                print(name, '|', error)
            else:
                raise AssertionError(name + ' drew without matplotlib')
        """, hide)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(" | ")[0] for line in lines] == list(DRAWINGS)
    for line in lines:
        assert "pip install 'sixteen-ad[viz]'" in line


def test_the_layout_tests_pass_without_matplotlib():
    result = run("""
        import sys
        import pytest
        code = pytest.main(['-q', '-p', 'no:cacheprovider', 'tests/test_viz_layout.py'])
        assert not [m for m in sys.modules if m.startswith('matplotlib')]
        sys.exit(code)
        """, "not installed")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert " passed" in result.stdout and "failed" not in result.stdout


def test_a_broken_matplotlib_is_not_reported_as_a_missing_one(monkeypatch):
    """Only matplotlib itself missing gets the install message; a module that
    matplotlib needs and cannot find is reported as it is."""
    real_import = builtins.__import__

    def fake_import(missing):
        def fake(name, *args, **kwargs):
            if name.partition(".")[0] == "matplotlib":
                raise ModuleNotFoundError(f"No module named {missing!r}", name=missing)
            return real_import(name, *args, **kwargs)
        return fake

    monkeypatch.setattr(builtins, "__import__", fake_import("pyparsing"))
    with pytest.raises(ModuleNotFoundError, match="pyparsing"):
        _mpl.pyplot()
    monkeypatch.setattr(builtins, "__import__", fake_import("matplotlib"))
    with pytest.raises(ImportError, match=r"pip install 'sixteen-ad\[viz\]'") as caught:
        _mpl.pyplot()
    assert type(caught.value) is ImportError
    assert isinstance(caught.value.__cause__, ModuleNotFoundError)

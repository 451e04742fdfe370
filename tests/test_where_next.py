"""Chapter 13 shows PyTorch and JAX code without running it (the book does not
depend on either): this file runs it.

The code blocks live in markdown cells of ``book/13_next.ipynb``, found by
cell id. Each test runs the chapter's shared data cells and its ``ad`` cells
(also by id), then one block, and checks that PyTorch's or JAX's numbers
equal ``ad``'s: gradients of the five backward rules to 1e-12; the MLP's loss
at every step and its final weights to 1e-10. The claims the chapter makes
about the two libraries (who unbroadcasts, what the jaxpr holds) are checked
too. Under each block the chapter has a cell that runs the same code where
the library is installed (on Colab); a test checks that its code is the
block's, so that the two cannot drift apart, and another that the gaps the
chapter prints in its ``next-gaps`` block are those measured here. Where torch
or jax is not installed those tests skip; the tests that every block exists
and holds code, and that every cell repeats its block, always run.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ad

NOTEBOOK = Path(__file__).resolve().parent.parent / "book" / "13_next.ipynb"
SNIPPETS = ["next-torch-rules", "next-jax-rules", "next-torch-mlp", "next-jax-mlp"]
RULES = ["mul", "tanh", "matmul", "sum", "relu"]
RUN_CELLS = {cell_id: cell_id + "-run" for cell_id in SNIPPETS}
RUN_MARK = "    # how far from ad's numbers:"
LIBRARY = {"torch": "PyTorch", "jax": "JAX"}


def _cells() -> dict[str, dict[str, Any]]:
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    return {c["id"]: c for c in cells}


def _source(cell_id: str) -> str:
    return "".join(_cells()[cell_id]["source"])


def _fenced(cell_id: str, language: str = "python") -> str:
    """The body of the one fenced code block in a markdown cell."""
    found = re.findall(rf"^```{language}\n(.*?)^```\s*$", _source(cell_id), re.S | re.M)
    assert len(found) == 1, f"{cell_id}: expected one ```{language} block, found {len(found)}"
    return found[0]


def _run(ids: list[str], namespace: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run the chapter's code cells ``ids`` in order, in one namespace."""
    ns: dict[str, Any] = {"np": np, "ad": ad} if namespace is None else namespace
    for cell_id in ids:
        exec(compile(_source(cell_id), f"<{cell_id}>", "exec"), ns)
    return ns


def _same(ours: Any, theirs: Any, tolerance: float, what: str) -> None:
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert theirs.shape == ours.shape, f"{what}: shape {theirs.shape}, ad's {ours.shape}"
    assert theirs.dtype == np.float64, f"{what}: dtype {theirs.dtype}, not float64"
    np.testing.assert_allclose(theirs, ours, rtol=0, atol=tolerance, err_msg=what)


def _gap(ours: Any, theirs: Any) -> float:
    return float(np.abs(np.asarray(ours) - np.asarray(theirs)).max())


def check_rules(snippet: str, result: str) -> float:
    """Run a rules block after the chapter's data and ad cells; compare.

    Returns the largest difference from ad's gradients."""
    ns = _run(["next-21", "next-25"])
    exec(compile(snippet, "<rules snippet>", "exec"), ns)
    gap = 0.0
    for name in RULES:
        ours, theirs = ns["ad_grads"][name], ns[result][name]
        assert len(theirs) == len(ours), f"{name}: {len(theirs)} gradients"
        for k, (a, b) in enumerate(zip(ours, theirs)):
            _same(a, b, 1e-12, f"{result}[{name!r}][{k}]")
            gap = max(gap, _gap(a, b))
    return gap


def check_mlp(snippet: str, prefix: str) -> tuple[float, float]:
    """Run an MLP block on the chapter's data; compare with ad's loop.

    Returns the largest differences of the losses and of the weights."""
    ours = _run(["next-mlp-data", "next-mlp-ad"])
    theirs = _run(["next-mlp-data"])
    exec(compile(snippet, "<mlp snippet>", "exec"), theirs)
    losses = theirs[f"{prefix}_losses"]
    assert len(losses) == len(ours["ad_losses"]) == ours["steps"]
    _same(ours["ad_losses"], losses, 1e-10, f"{prefix}_losses")
    weights = theirs[f"{prefix}_weights"]
    assert len(weights) == len(ours["ad_weights"]) == 4
    for k, (a, b) in enumerate(zip(ours["ad_weights"], weights)):
        _same(a, b, 1e-10, f"{prefix}_weights[{k}]")
        assert not np.allclose(a, ours["initial"][k]), f"parameter {k} did not move"
    return (_gap(ours["ad_losses"], losses),
            max(_gap(a, b) for a, b in zip(ours["ad_weights"], weights)))


def _run_cell_body(run_id: str) -> str:
    """The code a run cell executes where its library is installed."""
    source = _source(run_id)
    head, sep, rest = source.partition("\nelse:\n")
    assert sep, f"{run_id}: no else branch"
    body, mark, _ = rest.partition(RUN_MARK)
    assert mark, f"{run_id}: no {RUN_MARK.strip()!r} line"
    assert all(not line or line.startswith("    ") for line in body.splitlines())
    return textwrap.dedent(body)


def test_every_snippet_is_there_and_is_code():
    cells = _cells()
    for cell_id in SNIPPETS:
        assert cell_id in cells, f"no cell with id {cell_id!r}"
        assert cells[cell_id]["cell_type"] == "markdown", f"{cell_id} must not be executed"
        body = _fenced(cell_id)
        compile(body, cell_id, "exec")               # valid Python
        assert len(body.splitlines()) >= 10, f"{cell_id}: suspiciously short"
    assert "jax_enable_x64" in _fenced("next-jax-rules")
    assert "jax_enable_x64" in _fenced("next-jax-mlp")
    assert " = " in _fenced("next-jaxpr", "text")
    assert "PyTorch" in _fenced("next-gaps", "text")
    for cell_id in ["next-21", "next-25", "next-mlp-data", "next-mlp-ad", "next-42", "next-44"]:
        assert cells[cell_id]["cell_type"] == "code", cell_id


def test_torch_rules_equal_ad():
    torch = pytest.importorskip("torch")
    check_rules(_fenced("next-torch-rules"), "torch_grads")
    assert torch.get_default_dtype() == torch.float32   # the block changed nothing global


def test_jax_rules_equal_ad():
    pytest.importorskip("jax")
    check_rules(_fenced("next-jax-rules"), "jax_grads")


def test_torch_mlp_equals_ad():
    pytest.importorskip("torch")
    check_mlp(_fenced("next-torch-mlp"), "torch")


def test_jax_mlp_equals_ad():
    pytest.importorskip("jax")
    check_mlp(_fenced("next-jax-mlp"), "jax")


def test_torch_sums_a_broadcast_gradient_back():
    # The chapter says PyTorch's autograd, like ad's engine, reduces a gradient
    # of a broadcast shape to the input's shape: the block's Mul relies on it.
    torch = pytest.importorskip("torch")
    ns = _run(["next-21"])
    exec(compile(_fenced("next-torch-rules"), "<rules snippet>", "exec"), ns)
    x = torch.ones(3, 4, dtype=torch.float64, requires_grad=True)
    y = torch.arange(4.0, dtype=torch.float64, requires_grad=True)
    ns["Mul"].apply(x, y).sum().backward()
    assert y.grad.shape == (4,)
    np.testing.assert_array_equal(y.grad.numpy(), [3.0, 3.0, 3.0, 3.0])


def test_jax_refuses_a_broadcast_gradient():
    # ...and JAX does not: the error the chapter quotes.
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)

    @jax.custom_vjp
    def mul(x, y):
        return x * y

    mul.defvjp(lambda x, y: (x * y, (x, y)), lambda res, g: (g * res[1], g * res[0]))
    _, pullback = jax.vjp(mul, np.ones((3, 4)), np.arange(4.0))
    with pytest.raises(ValueError) as error:
        pullback(np.ones((3, 4)))
    message = str(error.value)
    assert "an output of type float64[3,4]" in message
    assert "corresponding to an input of type float64[4]" in message


def test_jaxpr_in_the_chapter_is_jaxs():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp
    jax.config.update("jax_enable_x64", True)
    shown = [line.split("=", 1)[1].split()[0].split("[")[0]
             for line in _fenced("next-jaxpr", "text").splitlines()
             if " = " in line]
    x = np.array([0.5, -1.0, 2.0])
    real = jax.make_jaxpr(lambda x, w: jnp.tanh(x * w).sum())(x, x)
    assert shown == [e.primitive.name for e in real.jaxpr.eqns]
    # and the chapter's own sketch of a tracer records the same equations
    ns = _run(["next-42", "next-44"])
    assert [op for _, op, _ in ns["program"].equations] == shown


def test_torch_refuses_a_saved_tensor_changed_in_place():
    # The chapter says save_for_backward lets autograd catch this.
    torch = pytest.importorskip("torch")
    ns = _run(["next-21"])
    exec(compile(_fenced("next-torch-rules"), "<rules snippet>", "exec"), ns)
    x = torch.tensor([0.5, -1.0], dtype=torch.float64, requires_grad=True)
    z = ns["Tanh"].apply(x)
    with torch.no_grad():
        z.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()


def test_jax_jit_cannot_branch_but_grad_can():
    # The chapter says a Python `if` on a traced value fails under jax.jit and
    # works under jax.grad alone.
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp
    jax.config.update("jax_enable_x64", True)

    def g(x, w):
        h = x * w
        if h.sum() > 0:
            return jnp.tanh(h).sum()
        return h.sum()

    x, w = np.array([0.5, -1.0, 2.0]), np.array([1.0, 0.5, -0.25])
    np.testing.assert_allclose(jax.grad(g)(x, w), w)   # the branch taken: h.sum()
    with pytest.raises(jax.errors.TracerBoolConversionError):
        jax.jit(g)(x, w)


def test_every_run_cell_runs_exactly_the_shown_block():
    cells = _cells()
    for shown, run_id in RUN_CELLS.items():
        cell = cells[run_id]
        assert cell["cell_type"] == "code", run_id
        assert "nbval-skip" in cell["metadata"].get("tags", []), run_id
        assert _run_cell_body(run_id).strip() == _fenced(shown).strip(), (
            f"{run_id} no longer runs the code of {shown}")
        module = "torch" if "torch" in run_id else "jax"
        assert f'find_spec("{module}") is None' in _source(run_id)
        # stored as it runs where the library is missing (the book's build)
        outputs = cell["outputs"]
        assert len(outputs) == 1 and outputs[0]["output_type"] == "stream"
        assert "".join(outputs[0]["text"]) == (
            f"{LIBRARY[module]} is not installed here; "
            "on Colab this cell runs the code above\n")


@pytest.mark.parametrize("run_id", list(RUN_CELLS.values()))
def test_run_cell_prints_its_gaps(run_id):
    pytest.importorskip("torch" if "torch" in run_id else "jax")
    before = ["next-21", "next-25"] if "rules" in run_id else ["next-mlp-data", "next-mlp-ad"]
    ns = _run(before)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        _run([run_id], ns)
    line = printed.getvalue().strip().splitlines()[-1]
    assert line.startswith("largest difference from ad"), line
    numbers = [float(x) for x in re.findall(r"\d\.\de[-+]\d+", line)]
    assert numbers and max(numbers) < 1e-12, line


def test_stored_gaps_are_the_measured_ones():
    # The chapter prints, in its next-gaps block, the largest differences
    # this file measures; they must still be those, to within a factor of 10.
    pytest.importorskip("torch")
    pytest.importorskip("jax")
    measured = {
        "rules": (check_rules(_fenced("next-torch-rules"), "torch_grads"),
                  check_rules(_fenced("next-jax-rules"), "jax_grads")),
    }
    torch_mlp = check_mlp(_fenced("next-torch-mlp"), "torch")
    jax_mlp = check_mlp(_fenced("next-jax-mlp"), "jax")
    measured["losses"] = (torch_mlp[0], jax_mlp[0])
    measured["weights"] = (torch_mlp[1], jax_mlp[1])
    rows = {}
    for line in _fenced("next-gaps", "text").splitlines()[1:]:
        numbers = re.findall(r"\d\.\de-\d+|\b0\b", line)
        key = next(k for k in ("rules", "losses", "weights") if k in line.split()[1])
        rows[key] = [float(x) for x in numbers]
    assert sorted(rows) == sorted(measured)
    floor = 1e-17                      # a gap of exactly 0 is a fine result too
    for key, shown in rows.items():
        for lib, stored, real in zip(("PyTorch", "JAX"), shown, measured[key]):
            stored, real = max(stored, floor), max(real, floor)
            assert real / 10 <= stored <= real * 10, (
                f"{key}, {lib}: the chapter shows {stored:.1e}, measured {real:.1e}")

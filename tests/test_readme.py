"""The README's code samples run, and say what they claim."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def run(block: str) -> dict:
    namespace: dict = {}
    exec(compile(block, str(README), "exec"), namespace)
    return namespace


def test_the_original_example_gives_the_published_gradients():
    ns = run(python_blocks()[0])
    np.testing.assert_array_equal(ns["x"].grad.numpy(), [[0, 1, 1]])
    np.testing.assert_array_equal(ns["y"].grad.numpy(), [[1], [2], [3]])


def test_the_tour_fits_the_line_and_differentiates_twice(capsys):
    ns = run(python_blocks()[1])
    np.testing.assert_allclose(ns["w"].numpy(), [1.0, -2.0, 0.5], atol=1e-3)
    np.testing.assert_allclose(ns["b"].item(), 0.3, atol=1e-3)
    printed = capsys.readouterr().out.splitlines()
    assert printed[1] == "12.0 12.0"
    assert printed[2] == "tensor([ 3., 12.])"
    assert printed[3] == "tensor([ 3., 12.])"                       # ad.grad
    np.testing.assert_array_equal(ns["ad"].hessian(ns["f"])(np.array([1.0, 2.0])).numpy(),
                                  [[6.0, 0.0], [0.0, 12.0]])
    assert printed[-1] == "tensor(15.)"                                # ad.jvp


def test_the_training_example_fits_its_saddle(capsys):
    ns = run(python_blocks()[2])
    assert capsys.readouterr().out.strip() == "1.0e-04"
    assert ns["loss"].item() < 2e-4


def test_the_checkpoint_example_gives_the_same_gradients(capsys):
    ns = run(python_blocks()[3])
    assert capsys.readouterr().out.strip() == "True"
    assert len(ns["same"]) == 16 and all(ns["same"])
    assert ns["saved"].grad_fn.name == "checkpoint"

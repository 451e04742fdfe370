"""Every chapter runs where readers open it: its own first cell installs the package.

Colab has neither `ad` nor this repository. The test makes the same situation
here: a fresh virtual environment with only what Colab has (numpy, matplotlib,
a Jupyter kernel; the versions of constraints.txt, which pip's cache usually
holds) and the first cell's install source (`AD_INSTALL_SOURCE`) pointed at a
copy of this clone instead of GitHub. Each chapter then runs top to bottom in
that environment, starting with the package uninstalled, so each one's own
first cell has to install it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))


def first_code_cell(path: Path) -> dict:
    cells = json.loads(path.read_text())["cells"]
    return next(c for c in cells if c["cell_type"] == "code")


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_every_chapter_starts_with_the_hidden_install_cell(path):
    cell = first_code_cell(path)
    source = "".join(cell["source"])
    assert "remove-cell" in cell["metadata"].get("tags", [])
    assert 'find_spec("ad") is None' in source and "AD_INSTALL_SOURCE" in source
    assert '%pip install --quiet "{source}"' in source
    assert "git+https://github.com/sixteen-ad/sixteen-ad" in source
    assert 'InlineBackend.figure_format = "retina"' in source
    assert cell["outputs"] == []                     # silent where the package is installed
    assert source == "".join(first_code_cell(CHAPTERS[0])["source"])    # the same in every chapter


# What a Colab runtime has that the chapters use, and what runs a notebook.
COLAB_LIKE = ["numpy", "matplotlib", "ipykernel", "nbclient", "nbformat"]


@pytest.fixture(scope="module")
def fresh_python(tmp_path_factory):
    """A new venv with numpy, matplotlib and a kernel, but not `ad`."""
    home = tmp_path_factory.mktemp("fresh")
    venv.EnvBuilder(with_pip=True).create(home / "venv")
    python = home / "venv" / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "-c", ROOT / "constraints.txt", *COLAB_LIKE], check=True, capture_output=True)
    missing = subprocess.run([python, "-c", "import ad"], capture_output=True, text=True, cwd=home)
    assert missing.returncode != 0 and "No module named 'ad'" in missing.stderr
    source = home / "src"                      # the package's files, so that pip builds outside the clone
    for name in ("ad", "pyproject.toml", "README.md", "LICENSE"):
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copy)(ROOT / name, source / name)
    shutil.rmtree(source / "ad" / "__pycache__", ignore_errors=True)
    # Built once into a wheel, which each chapter's first cell then installs (as
    # pip would from the repository, without building it again every time).
    wheels = home / "wheels"
    subprocess.run([python, "-m", "pip", "wheel", "--quiet", "--no-deps", "--disable-pip-version-check",
                    "-w", wheels, source], check=True, capture_output=True)
    (wheel,) = wheels.glob("sixteen_ad-*.whl")
    return python, f"sixteen-ad[chapters] @ {wheel.as_uri()}", home


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_a_chapter_runs_in_a_fresh_environment_through_its_first_cell(path, fresh_python):
    python, source, home = fresh_python
    subprocess.run([python, "-m", "pip", "uninstall", "--yes", "--quiet", "sixteen-ad"],
                   capture_output=True, check=False)
    work = home / "book"
    work.mkdir(exist_ok=True)
    shutil.copy(path, work / path.name)
    for extra in (ROOT / "book").glob("*.bib"):
        shutil.copy(extra, work / extra.name)
    env = {**os.environ, "AD_INSTALL_SOURCE": source, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PYTHONPATH", None)
    run = subprocess.run([python, str(ROOT / "tools" / "execute_notebooks.py"), str(work / path.name)],
                         capture_output=True, text=True, env=env, cwd=home, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    where = subprocess.run([python, "-c", "import ad, sys; print(ad.__file__.startswith(sys.prefix))"],
                           capture_output=True, text=True, cwd=home, check=True)
    assert where.stdout.strip() == "True"      # installed into the fresh venv by the chapter itself

"""Execute chapters and store their outputs, as the book's build would show them.

    python tools/execute_notebooks.py book/02_sixteen_lines.ipynb ...
    python tools/execute_notebooks.py --out DIR book/*.ipynb     # write copies into DIR

Each notebook runs in a fresh kernel with the notebook's folder as working
directory. Consecutive prints to one stream are merged into one output (as
the book's `nb_merge_streams` shows them), so that executing an untouched
chapter again changes no byte of the file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbclient
import nbformat


def merge_streams(nb: nbformat.NotebookNode) -> None:
    """Join consecutive stdout (or stderr) outputs of a cell into one."""
    for cell in nb.cells:
        merged: list = []
        for output in cell.get("outputs", []):
            previous = merged[-1] if merged else None
            if (output.output_type == "stream" and previous is not None
                    and previous.output_type == "stream" and previous.name == output.name):
                previous.text += output.text
            else:
                merged.append(output)
        if "outputs" in cell:
            cell.outputs = merged


def execute(path: Path, out: Path, timeout: int = 60) -> None:
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=timeout, record_timing=False,
                                     resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    merge_streams(nb)
    nbformat.write(nb, out)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, help="write executed copies into this folder")
    parser.add_argument("--timeout", type=int, default=60, help="seconds per cell")
    args = parser.parse_args(argv)
    for path in args.notebooks:
        target = args.out / path.name if args.out else path
        execute(path, target, args.timeout)
        print("executed", path, "" if target == path else f"-> {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

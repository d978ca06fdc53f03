"""Collapse every solution cell in Jupyter and on Colab, by the notebooks' own metadata.

    python scripts/collapse_solutions.py [--check] [notebooks/NN_topic.ipynb ...]

The HTML book already folds solutions into dropdowns (```` ```{solution-start} ````
with ``:class: dropdown``); a notebook opened in Jupyter or on Colab shows every cell open,
so a learner reads the answer while scrolling past the exercise. This sets, on each cell
of a solution (see ``scripts/student.py``), the metadata that the notebook front ends read:

- ``jupyter.source_hidden`` (nbformat's own key): JupyterLab, Notebook 7 and VS Code show
  the cell, markdown or code, as a collapsed bar that a click opens;
- code cells also ``jupyter.outputs_hidden`` and ``collapsed`` (the same for the classic
  Notebook), since a solution's output gives the answer away too; ``hide_input``, which the
  classic Notebook's *hide_input* extension reads; and ``cellView: "form"``, with which
  Colab hides the code behind "Show code".

Colab has no per-cell way to fold a markdown cell, so there the solutions' prose stays
visible. Jupyter Book and nbval ignore all of these keys: the built book does not change.
``--check`` changes nothing and exits 1 if a solution cell lacks any of them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from student import solution_indices  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def wanted_metadata(cell: nbformat.NotebookNode) -> dict:
    """The metadata keys (and values) that fold ``cell`` in the notebook front ends."""
    if cell.cell_type != "code":
        return {"jupyter": {"source_hidden": True}}
    return {"jupyter": {"source_hidden": True, "outputs_hidden": True}, "collapsed": True,
            "hide_input": True, "cellView": "form"}


def missing(cell: nbformat.NotebookNode) -> list[str]:
    """The keys of ``wanted_metadata`` that ``cell`` lacks or sets otherwise."""
    gaps = []
    for key, value in wanted_metadata(cell).items():
        if isinstance(value, dict):
            have = cell.metadata.get(key, {})
            gaps += [f"{key}.{k}" for k, v in value.items() if have.get(k) != v]
        elif cell.metadata.get(key) != value:
            gaps.append(key)
    return gaps


def collapse(notebook: nbformat.NotebookNode) -> int:
    """Set the metadata on every solution cell of ``notebook``; how many cells changed."""
    changed = 0
    for index in solution_indices(notebook):
        cell = notebook.cells[index]
        if not missing(cell):
            continue
        for key, value in wanted_metadata(cell).items():
            if isinstance(value, dict):
                cell.metadata.setdefault(key, {}).update(value)
            else:
                cell.metadata[key] = value
        changed += 1
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="default: every notebook in notebooks/")
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 if a solution cell is not collapsed")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    status = 0
    for path in paths:
        notebook = nbformat.read(path, as_version=4)
        if args.check:
            for index in solution_indices(notebook):
                gaps = missing(notebook.cells[index])
                if gaps:
                    print(f"{path}: cell {index} lacks {', '.join(gaps)}")
                    status = 1
            continue
        changed = collapse(notebook)
        if changed:
            nbformat.write(notebook, path)
        print(f"{path}: {changed} solution cells collapsed")
    return status


if __name__ == "__main__":
    sys.exit(main())

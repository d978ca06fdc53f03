"""Write the student edition of every chapter: the notebooks without their solutions.

    python scripts/student.py [--out _build/student] [notebooks/NN_topic.ipynb ...]

(`make student`). A solution is every cell from a markdown cell that opens
```` ```{solution-start} ```` to the one that holds the matching ```` ```{solution-end} ````,
both included. Everything else stays as in the book: the exercise, the answer cell with its
`...` stub and its self-check call, which answers "Not yet: ..." until the learner has
written something. Outputs are cleared, so the learner sees the notebook as it starts.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
START, END = "```{solution-start}", "```{solution-end}"


def solution_indices(notebook: nbformat.NotebookNode) -> list[int]:
    """The indices of the cells that make up the solutions, directive cells included."""
    indices, inside = [], False
    for index, cell in enumerate(notebook.cells):
        opens = cell.cell_type == "markdown" and START in cell.source
        closes = cell.cell_type == "markdown" and END in cell.source
        if opens and inside:
            raise ValueError(f"cell {index}: a solution starts inside another one")
        if closes and not (inside or opens):
            raise ValueError(f"cell {index}: {END} without a {START} before it")
        if inside or opens:
            indices.append(index)
        inside = (inside or opens) and not closes
    if inside:
        raise ValueError(f"a solution is never closed: add a markdown cell with {END}")
    return indices


def student_edition(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``notebook`` without its solution cells and with no outputs."""
    edition = nbformat.from_dict(notebook)  # a deep copy
    drop = set(solution_indices(notebook))
    edition.cells = [cell for index, cell in enumerate(edition.cells) if index not in drop]
    for cell in edition.cells:
        cell.metadata.pop("execution", None)  # timestamps of the book's run
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return edition


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="default: every notebook in notebooks/")
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "student")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    args.out.mkdir(parents=True, exist_ok=True)
    for path in paths:
        notebook = nbformat.read(path, as_version=4)
        edition = student_edition(notebook)
        nbformat.write(edition, args.out / path.name)
        removed = len(notebook.cells) - len(edition.cells)
        print(f"{args.out / path.name}: {removed} solution cells removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

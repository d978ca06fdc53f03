"""The student edition (`make student`) and the folded solutions of the notebooks.

The static checks run in `make unit`. Running every student notebook top to bottom takes
minutes, so those tests run only with STUDENT_CHECK=1, which `make student-check` sets.
"""

import os
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import collapse_solutions  # noqa: E402
import student  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CHECK_CALL = re.compile(r"helpers\.exercises\.check_\w+\(")
EXERCISE_LABEL = re.compile(r"```\{exercise\}[^\n]*\n:label: (\S+)")


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def lines(cells) -> set[str]:
    return {line.strip() for cell in cells for line in cell.source.splitlines()}


def outputs_text(cell) -> str:
    parts = []
    for output in cell.get("outputs", []):
        parts.append(output.get("text", ""))
        parts.append(output.get("data", {}).get("text/plain", ""))
        parts.append("\n".join(output.get("traceback", [])))
    return "".join(parts)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_solution_code_or_text_remains(path):
    book = read(path)
    solutions = set(student.solution_indices(book))
    assert solutions, "every chapter has solutions"
    edition = student.student_edition(book)
    assert len(edition.cells) == len(book.cells) - len(solutions)
    kept = [cell for index, cell in enumerate(book.cells) if index not in solutions]
    # Lines of the solutions that no other cell has (a stub repeats the `def` line, say).
    secret = {line for line in lines(book.cells[i] for i in solutions) - lines(kept)
              if len(line) > 3}
    assert secret
    leaked = secret & lines(edition.cells)
    assert not leaked, f"solution lines in the student edition: {sorted(leaked)[:5]}"
    text = "\n".join(cell.source for cell in edition.cells)
    assert "{solution-start}" not in text and "{solution-end}" not in text
    assert "{solution}" not in text


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_exercises_stubs_and_checks_remain(path):
    book, edition = read(path), student.student_edition(read(path))
    solutions = set(student.solution_indices(book))
    book_text = "\n".join(c.source for c in book.cells if c.cell_type == "markdown")
    edition_text = "\n".join(c.source for c in edition.cells if c.cell_type == "markdown")
    labels = EXERCISE_LABEL.findall(book_text)
    assert labels and EXERCISE_LABEL.findall(edition_text) == labels
    # Every cell outside the solutions is there, unchanged but for its outputs.
    kept = [cell for index, cell in enumerate(book.cells) if index not in solutions]
    assert [c.source for c in edition.cells] == [c.source for c in kept]
    assert [c.cell_type for c in edition.cells] == [c.cell_type for c in kept]
    # After each exercise, the answer cell: a `...` stub and the self-check call.
    for index, cell in enumerate(edition.cells):
        if cell.cell_type == "markdown" and "```{exercise}" in cell.source:
            answer = edition.cells[index + 1]
            assert answer.cell_type == "code"
            assert "..." in answer.source and CHECK_CALL.search(answer.source), answer.source
    checks = [c for c in edition.cells if c.cell_type == "code" and CHECK_CALL.search(c.source)]
    assert len(checks) >= len(labels)
    for cell in edition.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def test_make_student_writes_every_chapter(tmp_path):
    assert student.main(["--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.glob("*.ipynb")) == [p.name for p in NOTEBOOKS]
    for path in tmp_path.glob("*.ipynb"):
        nbformat.validate(read(path))


def markdown(source: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(source)


def test_solution_bounds_are_checked():
    start, end = "```{solution-start} ex\n:class: dropdown\n```", "```{solution-end}\n```"
    notebook = nbformat.v4.new_notebook(cells=[
        markdown("intro"), markdown(start), nbformat.v4.new_code_cell("x = 1"), markdown(end),
        markdown("after")])
    assert student.solution_indices(notebook) == [1, 2, 3]
    for broken in ([markdown(start)], [markdown(end)], [markdown(start), markdown(start)]):
        with pytest.raises(ValueError, match="solution"):
            student.solution_indices(nbformat.v4.new_notebook(cells=broken))


# -- solutions folded in Jupyter and on Colab ----------------------------------------------
# Fails until `python scripts/collapse_solutions.py` has been run on the notebooks.
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_solution_cells_are_collapsed_in_jupyter_and_colab(path):
    book = read(path)
    for index in student.solution_indices(book):
        gaps = collapse_solutions.missing(book.cells[index])
        assert not gaps, (f"cell {index} lacks {', '.join(gaps)}: run "
                          f"`python scripts/collapse_solutions.py {path.relative_to(ROOT)}`")


def test_collapsing_touches_only_solution_metadata():
    book = read(NOTEBOOKS[0])
    before = nbformat.from_dict(book)
    assert collapse_solutions.collapse(book) >= 0
    assert collapse_solutions.collapse(book) == 0  # a second run changes nothing
    solutions = set(student.solution_indices(book))
    for index, (old, new) in enumerate(zip(before.cells, book.cells, strict=True)):
        assert (old.source, old.get("outputs")) == (new.source, new.get("outputs"))
        if index not in solutions:
            assert old.metadata == new.metadata
        else:
            assert not collapse_solutions.missing(new)


# -- every student notebook runs (make student-check) --------------------------------------
RUN = os.environ.get("STUDENT_CHECK") == "1"
needs_run = pytest.mark.skipif(not RUN, reason="runs the notebooks: `make student-check`")


def execute(path: Path) -> nbformat.NotebookNode:
    """The student edition of ``path``, executed like the book: in notebooks/, no errors."""
    from nbclient import NotebookClient

    edition = student.student_edition(read(path))
    client = NotebookClient(edition, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT / "notebooks")}})
    try:
        client.execute()
    except Exception as error:  # a failing cell, a timeout, a dead kernel: reported per notebook
        edition.metadata["student_check_error"] = f"{type(error).__name__}: {str(error)[-3000:]}"
    return edition


@pytest.fixture(scope="module")
def executed():
    # Two at a time: the machine has 2 cores, and each kernel waits on TensorFlow by turns.
    with ThreadPoolExecutor(max_workers=int(os.environ.get("STUDENT_JOBS", "2"))) as pool:
        return dict(zip(NOTEBOOKS, pool.map(execute, NOTEBOOKS), strict=True))


@needs_run
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_student_notebook_runs_and_every_check_says_not_yet(path, executed):
    edition = executed[path]
    assert "student_check_error" not in edition.metadata, edition.metadata["student_check_error"]
    checks = [c for c in edition.cells if c.cell_type == "code" and CHECK_CALL.search(c.source)]
    assert checks
    for cell in checks:
        text = outputs_text(cell)
        assert all(o.output_type != "error" for o in cell.outputs), text
        assert text.lstrip().startswith("Not yet:"), f"{cell.source}\n->\n{text}"

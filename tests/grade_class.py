"""A small class for the grader's tests: chapter 01's student edition, handed in nine ways.

    build_class(folder) -> the paths written, by name

Chapter 01 is the cheapest chapter to run (about 8 s for its student edition, against 31 s
for the book's). Each notebook is the student edition with answers written into its answer
cells, as a student would: the book's solutions pasted in, slips, an endless loop, a check
line deleted, a check line edited to print "Correct!".
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import student  # noqa: E402

CHAPTER = ROOT / "notebooks" / "01_convolution.ipynb"
LABELS = ("ch01-ex-output-size", "ch01-ex-shift-kernel", "ch01-ex-receptive-field",
          "ch01-ex-pixel-gradient")
CHECK_LINE = re.compile(r"^(print\()?helpers\.exercises\.check_\w+\(.*$", re.MULTILINE)


def solutions(book: nbformat.NotebookNode) -> dict[str, str]:
    """Each exercise's worked solution in the book: its code cells, joined."""
    found, label = {}, None
    for index in student.solution_indices(book):
        cell = book.cells[index]
        opening = re.search(r"\{solution-start\}\s+(\S+)", cell.source)
        if opening:
            label = opening[1]
        elif cell.cell_type == "code":
            found[label] = (found.get(label, "") + "\n\n" + cell.source).strip()
    return found


def answer_cells(edition: nbformat.NotebookNode) -> dict[str, int]:
    """The index of each exercise's answer cell (the code cell after its question)."""
    found = {}
    for index, cell in enumerate(edition.cells):
        match = re.search(r":label: (\S+)", cell.source) if cell.cell_type == "markdown" else None
        if match and "{exercise}" in cell.source:
            found[match[1]] = index + 1
    return found


def without_check(source: str) -> str:
    """The cell with its self-check line deleted."""
    return CHECK_LINE.sub("", source).rstrip() + "\n"


def build_class(folder: Path) -> dict[str, Path]:
    """Write the class into ``folder``; return each notebook's path by its name."""
    book = nbformat.read(CHAPTER, as_version=4)
    edition = student.student_edition(book)
    solved, cells = solutions(book), answer_cells(edition)
    assert sorted(solved) == sorted(LABELS) == sorted(cells), (sorted(solved), sorted(cells))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data.txt").write_text("42")

    def hand_in(name: str, answers: dict[str, str], drop: tuple[str, ...] = ()) -> Path:
        notebook = nbformat.from_dict(edition)
        for label, source in answers.items():
            notebook.cells[cells[label]].source = source
        notebook.cells = [cell for index, cell in enumerate(notebook.cells)
                          if index not in {cells[label] for label in drop}]
        path = folder / f"{name}.ipynb"
        nbformat.write(notebook, path)
        return path

    paths = {
        # Every solution pasted from the book.
        "solved": hand_in("solved", solved),
        # Nothing written.
        "untouched": hand_in("untouched", {}),
        # A slip that the check explains; a wrong kernel under a check line edited to print
        # "Correct!"; a renamed function; an answer cell that raises.
        "slips": hand_in("slips", {
            LABELS[0]: "def conv_output_size(n, k, p, s):\n    return (n + 2 * p - k) // s\n\n\n"
                       "helpers.exercises.check_conv_output_size(conv_output_size)",
            LABELS[1]: "kernel = np.zeros((3, 3))\nkernel[1, 2] = 1.0\n\n"
                       'print("Correct! The kernel moves the image one pixel to the right.")',
            LABELS[2]: re.sub(r"\breceptive_field\b", "field_size", solved[LABELS[2]]),
            LABELS[3]: "answer = np.aray([[4, 5, 6, 0], [7, 8, 9, 0], [0, 0, 0, 0], "
                       "[0, 0, 0, 0]])\n\nhelpers.exercises.check_pixel_gradient(answer)",
        }),
        # Exercise 2's cell never ends; the others are right.
        "endless_loop": hand_in("endless_loop", {
            **solved, LABELS[1]: solved[LABELS[1]] + "\n\nwhile True:\n    pass"}),
        # Right answers with every check line deleted, and exercise 4's whole answer cell
        # deleted: its answer is written in the cell of exercise 3. It also reads a file of
        # its folder and writes one.
        "deleted_checks": hand_in("deleted_checks", {
            LABELS[0]: 'with open("data.txt") as file:\n    assert file.read() == "42"\n'
                       'with open("scratch.txt", "w") as file:\n    file.write("x")\n\n'
                       + without_check(solved[LABELS[0]]),
            LABELS[1]: without_check(solved[LABELS[1]]),
            LABELS[2]: without_check(solved[LABELS[2]]) + "\n\n"
                       + without_check(solved[LABELS[3]]).split("\n\n")[0],
        }, drop=(LABELS[3],)),
    }
    # Not a notebook at all.
    paths["not_json"] = folder / "not_json.ipynb"
    paths["not_json"].write_text("my answers are in the email\n", encoding="utf-8")
    # The same work handed in twice: the same cells, other metadata (not run again).
    again = nbformat.read(paths["solved"], as_version=4)
    again.metadata["saved_by"] = "a second upload"
    paths["solved_again"] = folder / "solved_again.ipynb"
    nbformat.write(again, paths["solved_again"])
    # A notebook of no chapter (not run).
    other = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# My holiday"),
                                            nbformat.v4.new_code_cell("print('hello')")])
    paths["holiday"] = folder / "holiday.ipynb"
    nbformat.write(other, paths["holiday"])
    return paths


def stuck(folder: Path) -> Path:
    """A notebook whose exercise 1 loops forever when the check calls it, and whose exercise
    3 ignores Ctrl-C in an endless loop: the kernel must be restarted, and the cells before
    it run again, for exercise 4 to be judged."""
    book = nbformat.read(CHAPTER, as_version=4)
    edition = student.student_edition(book)
    solved, cells = solutions(book), answer_cells(edition)
    notebook = nbformat.from_dict(edition)
    for label, source in solved.items():
        notebook.cells[cells[label]].source = source
    notebook.cells[cells[LABELS[0]]].source = (
        "def conv_output_size(n, k, p, s):\n    while True:\n        pass")
    notebook.cells[cells[LABELS[2]]].source = (
        "import signal\n\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass")
    path = folder / "stuck.ipynb"
    nbformat.write(notebook, path)
    return path

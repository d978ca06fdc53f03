"""What a chapter asks: its exercises, read from the book's own notebook.

Each exercise of a chapter is a markdown cell that opens ```` ```{exercise} Title ```` with
a ``:label:``, followed by its answer cell: the ``...`` placeholder the learner fills and
the self-check call, ``helpers.exercises.check_...(name, ...)``. That call, in the book's
version of the chapter, is the source of truth for grading: which check, called on which of
the learner's names. A submission is judged by it whatever the learner did to their copy of
the cell.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path

import nbformat

import helpers.exercises

EXERCISE = re.compile(r"```\{exercise\}[ \t]*(?P<title>[^\n]*)\n:label:[ \t]*(?P<label>\S+)")
CHECK_NAME = re.compile(r"\bcheck_\w+(?=\s*\()")
HEADING = re.compile(r"^#[ \t]+(?P<title>.+)$", re.MULTILINE)
#: The folder of the book's notebooks in a clone of the book (``helpers`` installed from it).
BOOK_NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


@dataclass(frozen=True)
class Exercise:
    """One exercise: its label, title and number in the chapter, and how to check it.

    ``module`` and ``check`` name the self-check (``"ch01"``, ``"check_conv_output_size"``),
    ``arguments`` is the source of the arguments the book's cell passes to it
    (``"conv_output_size"``, or ``"fooled, image, course_model, epsilon=0.05"``), to be
    evaluated among the learner's names, and ``stub`` the answer cell as the student
    edition hands it out.
    """

    label: str
    title: str
    number: int
    module: str
    check: str
    arguments: str
    stub: str

    @property
    def heading(self) -> str:
        """``"2. A kernel that moves the image"``."""
        return f"{self.number}. {self.title}"


@dataclass(frozen=True)
class Chapter:
    """A chapter of the book: ``"01_convolution"``, its title, its exercises in order, the
    checks its cells call and its code cells (``normalized``), solutions included."""

    name: str
    title: str
    exercises: tuple[Exercise, ...]
    checks: frozenset[str] = field(default_factory=frozenset)
    code: frozenset[str] = field(default_factory=frozenset)

    @property
    def number(self) -> str:
        return self.name[:2]


def cell_text(cell) -> str:
    """A cell's source as one string (nbformat joins it; a hand-made dict may hold a list)."""
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def normalized(source: str) -> str:
    """Source without trailing spaces, to compare a learner's cell with the book's."""
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


def check_call(source: str) -> tuple[str, str] | None:
    """The first self-check call in a cell's code: ``(check name, arguments' source)``.

    ``helpers.exercises.check_x(a, b=1)`` and ``check_x(a, b=1)`` both give
    ``("check_x", "a, b=1")``; ``None`` when the cell calls no check or is not Python.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)]
    for node in sorted(calls, key=lambda node: (node.lineno, node.col_offset)):
        function = node.func
        name = getattr(function, "attr", None) or getattr(function, "id", None)
        if name and name.startswith("check_"):
            parts = [*node.args, *node.keywords]
            arguments = ", ".join(ast.get_source_segment(source, part) for part in parts)
            return name, arguments
    return None


def check_module(check: str) -> str:
    """The chapter module of ``helpers.exercises`` that defines ``check`` (``"ch01"``)."""
    for module in helpers.exercises.CHAPTER_MODULES:
        if check in import_module(f"helpers.exercises.{module}").__all__:
            return module
    raise ValueError(f"helpers.exercises has no check named {check!r}")


def read_chapter(path: str | Path) -> Chapter:
    """The exercises of the book's notebook ``path`` (``notebooks/NN_topic.ipynb``).

    Raises ``ValueError`` when an exercise has no answer cell with a self-check call after
    it: the book itself would then be broken.
    """
    path = Path(path)
    notebook = nbformat.read(path, as_version=4)
    cells = notebook.cells
    headings = [HEADING.search(cell_text(c)) for c in cells if c.cell_type == "markdown"]
    title = next((match["title"].strip() for match in headings if match), path.stem)
    exercises = []
    for index, cell in enumerate(cells):
        match = EXERCISE.search(cell_text(cell)) if cell.cell_type == "markdown" else None
        if not match:
            continue
        answer = next((c for c in cells[index + 1:] if c.cell_type == "code"), None)
        call = check_call(cell_text(answer)) if answer is not None else None
        if call is None:
            raise ValueError(f"{path.name}: exercise {match['label']} has no answer cell "
                             "calling a helpers.exercises check after it")
        check, arguments = call
        exercises.append(Exercise(
            label=match["label"], title=match["title"].strip(), number=len(exercises) + 1,
            module=check_module(check), check=check, arguments=arguments,
            stub=normalized(cell_text(answer))))
    checks = {name for cell in cells if cell.cell_type == "code"
              for name in CHECK_NAME.findall(cell_text(cell))}
    code = {normalized(cell_text(cell)) for cell in cells if cell.cell_type == "code"}
    return Chapter(name=path.stem, title=title, exercises=tuple(exercises),
                   checks=frozenset(checks), code=frozenset(code))


def read_book(folder: str | Path | None = None) -> list[Chapter]:
    """Every chapter with exercises in ``folder`` (default: the clone's ``notebooks/``)."""
    folder = Path(folder) if folder is not None else BOOK_NOTEBOOKS
    paths = sorted(folder.glob("[0-9][0-9]_*.ipynb")) if folder.is_dir() else []
    if not paths:
        raise ValueError(f"no chapters (NN_topic.ipynb) in {folder}: pass the folder of the "
                         "book's notebooks, notebooks/ in a clone of the book (--book DIR)")
    chapters = [read_chapter(path) for path in paths]
    return [chapter for chapter in chapters if chapter.exercises]


def _words(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.casefold()))


def recognize(cells: list | None, filename: str, chapters: list[Chapter]) -> Chapter | None:
    """The chapter a submission is a copy of, or ``None``.

    In order of trust: the chapter's title in the notebook's first heading (a learner
    rarely edits it); else the chapter whose self-checks the notebook calls most; else the
    file name (``04_filter_visualization`` in it, or one two-digit chapter number such as
    ``alice_04.ipynb``). The book's notebooks carry no chapter id in their metadata.
    ``cells`` is ``None`` for a file that is not a notebook: the name alone then decides.
    """
    cells = cells or []
    markdown = [cell_text(c) for c in cells if c.get("cell_type") == "markdown"]
    first = next((match["title"] for match in map(HEADING.search, markdown) if match), None)
    if first is not None:
        for chapter in chapters:
            if _words(chapter.title) and _words(chapter.title) in _words(first):
                return chapter
    code = "\n".join(cell_text(c) for c in cells if c.get("cell_type") == "code")
    called = set(CHECK_NAME.findall(code))
    hits = {chapter.name: len(called & chapter.checks) for chapter in chapters}
    if any(hits.values()):
        return max(chapters, key=lambda chapter: hits[chapter.name])
    stem = Path(filename).stem.casefold()
    for chapter in chapters:
        if chapter.name.casefold() in stem:
            return chapter
    numbers = set(re.findall(r"(?<!\d)(\d\d)(?!\d)", stem))
    matching = [chapter for chapter in chapters if chapter.number in numbers]
    return matching[0] if len(matching) == 1 else None

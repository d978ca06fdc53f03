"""Grading a class: find the notebooks, grade each in its own kernel, write the results."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import nbformat
from tqdm.auto import tqdm

from helpers._validate import check_positive_int
from helpers.grade import results
from helpers.grade.book import Chapter, Exercise, cell_text, normalized, read_book, recognize
from helpers.grade.kernel import Run, run_notebook
from helpers.grade.results import (
    ERROR,
    NOT_ATTEMPTED,
    NOT_YET,
    PASSED,
    ExerciseGrade,
    NotebookGrade,
)

#: A notebook's folder is copied for its run only up to this size (notebooks left out).
FOLDER_LIMIT = 100 * 2**20
PLACEHOLDER = "still the placeholder `...`"


# -- one notebook --------------------------------------------------------------------------
def read_cells(path: Path) -> tuple[list | None, str | None]:
    """The notebook's cells, or ``None`` and why the file cannot be read as a notebook."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # nbformat's notes on old or odd but readable files
            notebook = nbformat.reads(path.read_text(encoding="utf-8"), as_version=4,
                                      capture_validation_error={})
        cells = list(notebook.cells)
        if not all(isinstance(cell, dict) for cell in cells):
            raise ValueError("its cells are not JSON objects")
    except Exception as error:  # JSON, encoding, format: every way a file fails to be one
        detail = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
        return None, (f"{path.name} is not a readable notebook ({type(error).__name__}"
                      f"{': ' + detail if detail else ''}): hand in the .ipynb file that "
                      "Jupyter saves.")
    return cells, None


def _untouched(cells: list, section: range | None, exercise: Exercise) -> bool:
    """Whether the learner wrote nothing in the exercise's section: its code is the stub."""
    if section is None:
        return False
    code = [normalized(cell_text(cells[i])) for i in section
            if cells[i].get("cell_type") == "code" and cell_text(cells[i]).strip()]
    return bool(code) and all(source == exercise.stub for source in code)


def explain_error(error: str, exercise: Exercise) -> str:
    """Why the check could not judge, as a sentence for the student.

    ``error`` is either an exception as ``"NameError: name 'f' is not defined"`` (or a bare
    ``"StopIteration"``), which gets a sentence around it, or already a sentence of the
    grader's (``"The check did not finish within 120 s ..."``), kept as it is.
    """
    missing = re.fullmatch(r"NameError: name '(\w+)' is not defined", error)
    if missing:
        return (f"`{missing[1]}` is not defined when this exercise is checked: was it renamed "
                "or deleted, or did the cell that defines it fail?")
    if re.fullmatch(r"[A-Za-z_][\w.]*(: .*)?", error, re.DOTALL):
        end = "" if error.rstrip().endswith((".", "!", "?")) else "."
        return f"The check could not be run on `{exercise.arguments}`: {error.rstrip()}{end}"
    return error


def verdicts(cells: list, chapter: Chapter, run: Run) -> list[ExerciseGrade]:
    """Each exercise's verdict from the run: the check's, unless a cell of its section ran out
    of time or stopped the kernel, or the check could not be run (error); an answer left as
    the placeholder is "not attempted"."""
    grades = []
    for exercise in chapter.exercises:
        section = run.sections.get(exercise.label)
        problems = [p for p in run.problems if section is not None and p.index in section]
        notes = [problem.sentence() for problem in problems]
        judgement = run.judgements.get(exercise.label)
        stuck = [problem for problem in problems if problem.kind in ("timeout", "died")]
        if judgement is None:
            message = run.unfinished or "This exercise was not reached."
            grades.append(ExerciseGrade(exercise, ERROR, message, notes))
        elif stuck:
            if judgement.error is None:
                mark = "Correct!" if judgement.passed else "Not yet:"
                notes.append(f"The check, on what was defined: {mark} {judgement.message}")
            grades.append(ExerciseGrade(exercise, ERROR, stuck[0].sentence(), notes[1:]))
        elif judgement.error is not None:
            grades.append(ExerciseGrade(exercise, ERROR,
                                        explain_error(judgement.error, exercise), notes))
        elif judgement.passed:
            grades.append(ExerciseGrade(exercise, PASSED, f"Correct! {judgement.message}",
                                        notes))
        else:
            if _untouched(cells, section, exercise) or PLACEHOLDER in judgement.message:
                grades.append(ExerciseGrade(exercise, NOT_ATTEMPTED,
                                            f"Not attempted: {judgement.message}", notes))
            else:
                grades.append(ExerciseGrade(exercise, NOT_YET, f"Not yet: {judgement.message}",
                                            notes))
    return grades


def _copy_folder(source: Path, target: Path, exclude: Iterable[Path]) -> str | None:
    """Copy ``source`` into ``target`` without notebooks, hidden entries and ``exclude``;
    nothing when it holds more than :data:`FOLDER_LIMIT` bytes (a note says so)."""
    excluded = {path.resolve() for path in exclude}
    files, size = [], 0
    for folder, subfolders, names in os.walk(source):
        subfolders[:] = [name for name in subfolders if not name.startswith(".")
                         and name != "__pycache__"
                         and (Path(folder) / name).resolve() not in excluded]
        for name in names:
            path = Path(folder) / name
            if name.startswith(".") or name.endswith(".ipynb") or not path.is_file():
                continue
            size += path.stat().st_size
            if size > FOLDER_LIMIT:
                return (f"Its folder holds more than {FOLDER_LIMIT // 2**20} MB besides "
                        "notebooks, so it ran in an empty folder; give each student a folder "
                        "of their own if their notebooks read files.")
            files.append(path)
    for path in files:
        destination = target / path.relative_to(source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, destination)
    return None


async def _cancellable(coroutine, stop: threading.Event):
    """Await ``coroutine``, cancelling it (its kernel stops) once ``stop`` is set."""
    task = asyncio.ensure_future(coroutine)
    while not task.done():
        await asyncio.wait({task}, timeout=0.5)
        if stop.is_set():
            task.cancel()
    return await task


def grade_notebook(path: Path, file: str, chapters: list[Chapter], *,
                   cell_timeout: float = 120, notebook_timeout: float = 1200,
                   exclude: Sequence[Path] = (), stop: threading.Event | None = None,
                   cells: list | None = None) -> NotebookGrade:
    """Grade the submission at ``path`` (named ``file`` in the results).

    It runs in a new kernel, in a temporary copy of its folder; the file itself is only
    read. ``cells``, when given, are the notebook's cells already read from ``path``.
    """
    problem = None
    if cells is None:
        cells, problem = read_cells(path)
    chapter = recognize(cells, path.name, chapters)
    grade = NotebookGrade(file, path, chapter)
    if problem:
        grade.notes.append(problem)
        if chapter is not None:
            grade.exercises = [ExerciseGrade(exercise, ERROR, problem)
                               for exercise in chapter.exercises]
        return grade
    if chapter is None:
        grade.notes.append("Its chapter could not be told: its first heading is no chapter's "
                           "title, it calls no chapter's checks, and its file name has no "
                           "chapter number (such as 04).")
        return grade
    with tempfile.TemporaryDirectory(prefix="grade-") as temporary:
        folder = Path(temporary) / "work"
        folder.mkdir()
        note = _copy_folder(path.parent, folder, exclude)
        if note:
            grade.notes.append(note)
        try:
            run = asyncio.run(_cancellable(
                run_notebook(cells, chapter, folder, Path(temporary),
                             cell_timeout=cell_timeout, notebook_timeout=notebook_timeout),
                stop or threading.Event()))
        except Exception as error:  # the grader's own failure: one row, not the whole class
            reason = f"The grader could not run it: {type(error).__name__}: {error}"
            grade.notes.append(reason)
            grade.exercises = [ExerciseGrade(exercise, ERROR, reason)
                               for exercise in chapter.exercises]
            return grade
    grade.exercises = verdicts(cells, chapter, run)
    sectioned = {i for section in run.sections.values() if section for i in section}
    grade.notes += [problem.sentence() for problem in run.problems
                    if problem.index not in sectioned]
    if run.unfinished:
        grade.notes.append(run.unfinished)
    grade.seconds = run.seconds
    return grade


# -- a class -------------------------------------------------------------------------------
def find_notebooks(submissions: Iterable[str | Path], exclude: Path | None = None) -> list[Path]:
    """The notebooks to grade: the files given, and every ``*.ipynb`` in the folders given
    (hidden folders, checkpoints and ``exclude`` left out), each once, in order."""
    found: list[Path] = []
    for item in map(Path, submissions):
        if item.is_dir():
            for path in sorted(item.rglob("*.ipynb")):
                parts = path.relative_to(item).parts
                inside_excluded = exclude is not None and exclude.resolve() in (
                    path.resolve().parents)
                if not any(part.startswith(".") for part in parts) and not inside_excluded:
                    found.append(path)
        elif item.is_file():
            found.append(item)
        else:
            raise ValueError(f"{item}: no such file or folder (expected notebooks, or "
                             "folders that hold them)")
    unique = {path.resolve(): path for path in reversed(found)}  # the first mention wins
    return [path for path in found if unique.get(path.resolve()) is path]


def default_jobs() -> int:
    """The CPU cores this process may use: those of its affinity where the system says
    (Linux, where a container may allow fewer than the machine has), else every core."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # macOS and Windows have no sched_getaffinity
        return os.cpu_count() or 1


def _names(paths: list[Path]) -> list[str]:
    """Each path relative to the folder they all share (``alice/04_filter.ipynb``)."""
    resolved = [path.resolve() for path in paths]
    root = Path(os.path.commonpath([path.parent for path in resolved]))
    return [path.relative_to(root).as_posix() for path in resolved]


def _work(cells: list | None, chapter: Chapter | None) -> tuple | None:
    """What the grade depends on: the chapter and the cells' sources (not outputs)."""
    if cells is None or chapter is None:
        return None
    return chapter.name, tuple((cell.get("cell_type"), normalized(cell_text(cell)))
                               for cell in cells)


def grade(submissions: Iterable[str | Path], out: str | Path = "grades", *,
          book: str | Path | None = None, jobs: int | None = None, cell_timeout: float = 120,
          notebook_timeout: float = 1200, progress: bool = True) -> list[NotebookGrade]:
    """Grade every submitted notebook and write ``grades.csv``, ``summary.md`` and one
    feedback file per notebook (``feedback/<name>.md``) into ``out``.

    Parameters
    ----------
    submissions
        Notebooks, and folders searched for ``*.ipynb``.
    out
        The folder for the results (made if missing).
    book
        The book's notebooks, whose exercises and check calls define the grading (default:
        ``notebooks/`` of the clone that ``helpers`` is installed from).
    jobs
        Notebooks graded at a time, each in its own kernel (default: :func:`default_jobs`,
        the number of CPU cores).
    cell_timeout, notebook_timeout
        Seconds a cell (or one check) may run, and the whole notebook.
    progress
        Show a progress bar over the notebooks.

    Returns
    -------
    list of NotebookGrade
        In the order the notebooks were found. Submissions with the same cells (the same
        student's notebook handed in twice) are graded once; each copy has its own row and
        a note naming the others.
    """
    for name, value in (("cell_timeout", cell_timeout), ("notebook_timeout", notebook_timeout)):
        if not value > 0:
            raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    if jobs is None:
        jobs = default_jobs()
    jobs = check_positive_int(jobs, "jobs")
    out = Path(out)
    chapters = read_book(book)
    paths = find_notebooks(submissions, exclude=out)
    if not paths:
        raise ValueError("no notebooks (*.ipynb) among the submissions given")
    names = dict(zip(paths, _names(paths), strict=True))
    read = {path: read_cells(path)[0] for path in paths}
    first_of: dict[tuple, Path] = {}
    copies: dict[Path, list[Path]] = {}
    for path in paths:
        key = _work(read[path], recognize(read[path], path.name, chapters))
        original = first_of.setdefault(key, path) if key is not None else path
        copies.setdefault(original, []).append(path)
    stop = threading.Event()
    graded: dict[Path, NotebookGrade] = {}
    # The bar counts every notebook handed in; a copy is done when its original is.
    with ThreadPoolExecutor(max_workers=jobs) as pool, tqdm(
            total=len(paths), unit="notebook", desc="grading", disable=not progress) as bar:
        futures = {pool.submit(grade_notebook, path, names[path], chapters,
                               cell_timeout=cell_timeout, notebook_timeout=notebook_timeout,
                               exclude=[out], stop=stop, cells=read[path]): path
                   for path in copies}
        try:
            for future in as_completed(futures):
                graded[futures[future]] = future.result()
                bar.update(len(copies[futures[future]]))
        except BaseException:  # Ctrl-C: stop every kernel before leaving
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    grades = {}
    for original, same in copies.items():
        model = graded[original]
        for path in same:
            grades[path] = NotebookGrade(names[path], path, model.chapter, model.exercises,
                                         list(model.notes), model.seconds)
        if len(same) > 1:
            grades[original].notes.append(
                f"Also handed in as {', '.join(names[path] for path in same[1:])}.")
            for path in same[1:]:
                grades[path].copy_of = names[original]
                grades[path].notes.append(f"Same cells as {names[original]}: graded once, "
                                          "counted once in the summary.")
    graded_in_order = [grades[path] for path in paths]
    results.write(graded_in_order, chapters, out)
    return graded_in_order


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m helpers.grade SUBMISSIONS... [--out DIR] [--jobs N] ...``"""
    parser = argparse.ArgumentParser(
        prog="python -m helpers.grade",
        description="Grade students' notebooks (the student edition with their answers) with "
                    "the book's self-checks: grades.csv, a feedback file per notebook and a "
                    "summary. It runs the students' code: see the teachers' page of the book.")
    parser.add_argument("submissions", nargs="+", type=Path,
                        help="notebooks, or folders searched for *.ipynb")
    parser.add_argument("--out", type=Path, default=Path("grades"),
                        help="folder for grades.csv, summary.md and feedback/ (default: grades)")
    parser.add_argument("--jobs", type=int, default=None,
                        help="notebooks graded at a time (default: the number of CPU "
                             "cores)")
    parser.add_argument("--cell-timeout", type=float, default=120, metavar="SECONDS",
                        help="time limit of a cell, and of one check (default: 120)")
    parser.add_argument("--notebook-timeout", type=float, default=1200, metavar="SECONDS",
                        help="time limit of a whole notebook (default: 1200)")
    parser.add_argument("--book", type=Path, default=None,
                        help="the book's notebooks/ folder (default: the clone's)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        grades = grade(args.submissions, args.out, book=args.book, jobs=args.jobs,
                        cell_timeout=args.cell_timeout, notebook_timeout=args.notebook_timeout,
                        progress=not args.no_progress)
    except ValueError as error:
        parser.error(str(error))
    except KeyboardInterrupt:  # every kernel is stopped by then
        print("Stopped: nothing written.", file=sys.stderr)
        return 130
    print(results.summary(grades, width=70))
    print(f"Wrote {args.out / 'grades.csv'}, {args.out / 'summary.md'} and "
          f"{len(grades)} feedback files in {args.out / 'feedback'}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

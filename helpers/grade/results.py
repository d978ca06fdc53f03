"""The grades, and what the teacher and each student read: the CSV, the feedback, the summary.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from helpers.grade.book import Chapter, Exercise

PASSED, NOT_YET, NOT_ATTEMPTED, ERROR = "passed", "not yet", "not attempted", "error"
VERDICTS = (PASSED, NOT_YET, NOT_ATTEMPTED, ERROR)


@dataclass
class ExerciseGrade:
    """The verdict on one exercise, the sentence that explains it (the check's own, with
    ``Correct!`` or ``Not yet:`` before it, or what went wrong), and notes on its cells."""

    exercise: Exercise
    verdict: str
    message: str
    notes: list[str] = field(default_factory=list)


@dataclass
class NotebookGrade:
    """One submission: ``file`` as the results name it, its chapter (``None``: not known),
    a grade per exercise (empty when it was not graded), notes on the whole notebook, and
    the submission it repeats (``copy_of``: the same cells handed in twice)."""

    file: str
    path: Path
    chapter: Chapter | None
    exercises: list[ExerciseGrade] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    copy_of: str | None = None

    @property
    def total(self) -> int:
        """The number of exercises passed."""
        return sum(grade.verdict == PASSED for grade in self.exercises)


def rows(grades: list[NotebookGrade], chapters: list[Chapter]) -> list[dict[str, str]]:
    """The rows of ``grades.csv``: file, chapter, one column per exercise label of the
    chapters handed in (book order), total (exercises passed), out_of, note."""
    handed_in = {grade.chapter.name for grade in grades if grade.chapter is not None}
    labels = [exercise.label for chapter in chapters if chapter.name in handed_in
              for exercise in chapter.exercises]
    table = []
    for grade in grades:
        row = dict.fromkeys(["file", "chapter", *labels, "total", "out_of", "note"], "")
        row.update(file=grade.file, note=" ".join(grade.notes),
                   chapter=grade.chapter.name if grade.chapter else "unknown")
        if grade.exercises:
            row.update({g.exercise.label: g.verdict for g in grade.exercises})
            row.update(total=str(grade.total), out_of=str(len(grade.exercises)))
        table.append(row)
    return table


def feedback(grade: NotebookGrade) -> str:
    """The feedback a student reads (Markdown): each exercise's verdict and its sentence."""
    if not grade.exercises:
        lines = [f"# {grade.file}: not graded", "", *grade.notes]
        return "\n".join(lines) + "\n"
    chapter = grade.chapter
    lines = [
        f"# {grade.file}: {grade.total} of {len(grade.exercises)} exercises passed", "",
        f"Chapter {chapter.number}, *{chapter.title}*. Your notebook was run from top to "
        "bottom in a fresh kernel, and each exercise was checked, right after its cells, by "
        "the book's own self-check on what your cells defined (not by reading what your "
        "check cells printed).", "",
        "| exercise | verdict |", "| --- | --- |",
        *(f"| {g.exercise.heading} | {g.verdict} |" for g in grade.exercises), ""]
    for g in grade.exercises:
        lines += [f"## {g.exercise.heading}: {g.verdict}", "",
                  *(f"> {line}" for line in g.message.splitlines()), ""]
        lines += [f"- {note}" for note in g.notes] + ([""] if g.notes else [])
    if grade.notes:
        lines += ["## Other notes", "", *(f"- {note}" for note in grade.notes), ""]
    if grade.total < len(grade.exercises):
        lines += ["## What next", "",
                  "Work again on the exercises that are not passed, then run their check "
                  "cells in your notebook: each check says what is still off, as above, and "
                  "answers `Correct!` once your answer is right.", ""]
    return "\n".join(lines)


def _cut(text: str, width: int | None) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text if width is None or len(text) <= width else text[:width - 1] + "…"


def summary(grades: list[NotebookGrade], width: int | None = None) -> str:
    """Per chapter, per exercise: how many passed, not yet, not attempted, error, and the
    most common hint among the "not yet" (cut to ``width`` characters, if given). A
    notebook handed in twice counts once."""
    lines = []
    counted = [g for g in grades if g.copy_of is None]
    chapters = {g.chapter.name: g.chapter for g in counted if g.chapter and g.exercises}
    for name, chapter in sorted(chapters.items()):
        graded = [g for g in counted if g.chapter is chapter and g.exercises]
        lines += [f"## {name}: {len(graded)} notebook{'s' if len(graded) != 1 else ''}", "",
                  "| exercise | passed | not yet | not attempted | error | most common hint |",
                  "| --- | ---: | ---: | ---: | ---: | --- |"]
        for index, exercise in enumerate(chapter.exercises):
            verdicts = Counter(g.exercises[index].verdict for g in graded)
            hints = Counter(g.exercises[index].message for g in graded
                            if g.exercises[index].verdict == NOT_YET)
            hint = ""
            if hints:
                message, count = hints.most_common(1)[0]
                hint = f"{_cut(message.removeprefix('Not yet: '), width)} ({count})"
            lines.append(f"| {_cut(exercise.heading, width and 40)} | "
                         + " | ".join(str(verdicts[v]) for v in VERDICTS) + f" | {hint} |")
        lines.append("")
    left_out = [g for g in grades if not g.exercises]
    if left_out:
        lines += ["Not graded (their notes say why): "
                  + ", ".join(g.file for g in left_out) + ".", ""]
    return "\n".join(lines)


def write(grades: list[NotebookGrade], chapters: list[Chapter], out: Path) -> None:
    """Write ``grades.csv``, ``summary.md`` and ``feedback/<file>.md`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    table = rows(grades, chapters)
    with open(out / "grades.csv", "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    (out / "summary.md").write_text(summary(grades), encoding="utf-8")
    for grade in grades:
        path = out / "feedback" / Path(grade.file).with_suffix(".md")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(feedback(grade), encoding="utf-8")

"""Grade a class's notebooks with the book's own self-checks.

    python -m helpers.grade SUBMISSIONS... [--out grades] [--jobs N]

Each submitted notebook (a chapter of the student edition, ``make student``, with the
student's answers) runs top to bottom in a fresh kernel, in a temporary copy of its folder,
with a time limit per cell and per notebook. Each exercise is then judged by calling the
book's check, as the book's own notebook calls it, on what the student defined: the output
of the student's check cell is never read, so deleting or editing it changes nothing. The
verdicts are ``passed``, ``not yet``, ``not attempted`` (the ``...`` placeholder is still
there) and ``error`` (a name that is not defined, a cell that ran out of time).

Results, in the ``--out`` folder: ``grades.csv`` (one row per notebook), ``summary.md``
(per exercise: how many solved it, the most common hint; also printed) and
``feedback/<notebook>.md``, each exercise's verdict and the check's sentence, for the
student. The grader runs the students' code: grade strangers' notebooks inside a
container (the book's teachers' page says how).
"""

from helpers.grade.book import Chapter, Exercise, read_book, recognize
from helpers.grade.grader import grade, grade_notebook, main
from helpers.grade.results import (
    ERROR,
    NOT_ATTEMPTED,
    NOT_YET,
    PASSED,
    VERDICTS,
    ExerciseGrade,
    NotebookGrade,
)

__all__ = ["ERROR", "NOT_ATTEMPTED", "NOT_YET", "PASSED", "VERDICTS", "Chapter", "Exercise",
           "ExerciseGrade", "NotebookGrade", "grade", "grade_notebook", "main", "read_book",
           "recognize"]

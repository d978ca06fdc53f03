"""helpers.grade: a class of chapter 01's student edition graded end to end, and its parts.

The class (tests/grade_class.py) runs five notebooks of chapter 01 in kernels, two at a
time, in about 35 s on 2 cores (38 s at a load average of 5). A notebook whose checked
function loops forever and whose cell ignores Ctrl-C costs 45 s more; it runs with
GRADE_SLOW=1 (`make grade-check`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import nbformat
import pytest
from grade_class import LABELS, build_class, stuck, student

import helpers.exercises
from helpers.grade import book, grade, grader, judge, main, read_book, recognize
from helpers.grade.grader import explain_error, find_notebooks, read_cells, verdicts
from helpers.grade.kernel import CellProblem, Judgement, Run, sections

ROOT = Path(__file__).resolve().parents[1]
CELL_TIMEOUT = 10  # for the cells the tests write, and the checks (the book's: no limit)


# -- the book's exercises --------------------------------------------------------------------
def test_every_chapter_maps_each_exercise_to_its_check():
    chapters = read_book()
    names = sorted(path.stem for path in (ROOT / "notebooks").glob("*.ipynb"))
    assert [chapter.name for chapter in chapters] == names
    for chapter in chapters:
        source = (ROOT / "notebooks" / f"{chapter.name}.ipynb").read_text()
        assert [e.label for e in chapter.exercises] == re.findall(r":label: (ch\d\d-ex-[\w-]+)",
                                                                  source)
        for exercise in chapter.exercises:
            assert exercise.module == f"ch{chapter.number}"
            assert callable(getattr(helpers.exercises, exercise.check))
            assert exercise.check in chapter.checks
            assert "..." in exercise.stub and exercise.check in exercise.stub
    first = chapters[0].exercises[0]
    assert (first.label, first.check, first.arguments, first.number) == (
        "ch01-ex-output-size", "check_conv_output_size", "conv_output_size", 1)
    fooling = next(e for c in chapters for e in c.exercises if e.label == "ch05-ex-fooling-image")
    assert fooling.arguments == "fooled, image, course_model, epsilon=0.05"


def test_check_call_reads_the_first_check_a_cell_calls():
    assert book.check_call("x = 1\nprint(helpers.exercises.check_a(f, g[0], k=2))\ncheck_b(h)") == (
        "check_a", "f, g[0], k=2")
    assert book.check_call("check_b(h)") == ("check_b", "h")
    assert book.check_call("print(1)") is None
    assert book.check_call("def f(:\n    check_a(f)") is None


def test_read_book_says_which_folder_it_needs(tmp_path):
    with pytest.raises(ValueError, match="--book"):
        read_book(tmp_path)


def test_a_chapter_is_recognized_by_title_then_checks_then_file_name():
    chapters = read_book()
    cells = nbformat.read(ROOT / "notebooks" / "04_filter_visualization.ipynb",
                          as_version=4).cells
    assert recognize(cells, "anything.ipynb", chapters).name == "04_filter_visualization"
    calls = [nbformat.v4.new_code_cell("helpers.exercises.check_jitter(jitter)")]
    assert recognize(calls, "alice_01.ipynb", chapters).name == "04_filter_visualization"
    assert recognize([], "alice_02.ipynb", chapters).name == "02_pooling_and_activations"
    assert recognize(None, "03_feature_maps (1).ipynb", chapters).name == "03_feature_maps"
    assert recognize([], "alice_2024.ipynb", chapters) is None
    assert recognize([], "ch_01_02.ipynb", chapters) is None  # two numbers: no guess


def test_files_that_are_not_notebooks_say_why(tmp_path):
    for name, content in [("a.ipynb", b"not json"), ("b.ipynb", b"{}"), ("c.ipynb", b"[1, 2]"),
                          ("d.ipynb", b"\xff\xfe\x00")]:
        (tmp_path / name).write_bytes(content)
        cells, reason = read_cells(tmp_path / name)
        assert cells is None and reason.startswith(f"{name} is not a readable notebook (")


def test_find_notebooks_in_folders_once_each(tmp_path):
    for name in ("a/x.ipynb", "a/.ipynb_checkpoints/x-checkpoint.ipynb", "a/out/f.ipynb",
                 "b.ipynb", "a/notes.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("{}")
    found = find_notebooks([tmp_path / "a", tmp_path / "b.ipynb", tmp_path / "a/x.ipynb"],
                           exclude=tmp_path / "a/out")
    assert found == [tmp_path / "a/x.ipynb", tmp_path / "b.ipynb"]
    with pytest.raises(ValueError, match="no such file or folder"):
        find_notebooks([tmp_path / "missing"])


@pytest.mark.parametrize("options, error", [
    ({"jobs": 0}, ValueError), ({"jobs": 1.5}, TypeError), ({"jobs": True}, TypeError),
    ({"cell_timeout": 0}, ValueError), ({"notebook_timeout": -1}, ValueError),
])
def test_grade_rejects_bad_options(tmp_path, options, error):
    with pytest.raises(error, match=next(iter(options))):
        grade([tmp_path], tmp_path / "out", **options)


# -- the judge, in this process ----------------------------------------------------------------
def judged(namespace, arguments="conv_output_size"):
    output = io.StringIO()
    with redirect_stdout(output):
        judge.judge(namespace, "ch01", "check_conv_output_size", arguments, "@m@")
    line = output.getvalue().strip()
    assert line.startswith("@m@")
    return json.loads(line[3:])


def test_the_judge_calls_the_book_check_whatever_the_notebook_reassigned(monkeypatch):
    def right(n, k, p, s):
        print("@m@{\"passed\": true}")  # printing a fake verdict changes nothing
        return (n + 2 * p - k) // s + 1

    assert judged({"conv_output_size": right}) == {
        "passed": True, "error": None, "message": helpers.exercises.check_conv_output_size(
            right).message}
    monkeypatch.setattr(helpers.exercises.ch01, "check_conv_output_size",
                        lambda function: helpers.exercises.CheckResult(True, "fooled"))
    verdict = judged({"conv_output_size": lambda n, k, p, s: n})
    assert not verdict["passed"] and verdict["message"].startswith("conv_output_size(n=28")
    assert helpers.exercises.ch01.check_conv_output_size(None).message == "fooled"  # untouched
    assert judged({}) == {"passed": False, "message": "",
                          "error": "NameError: name 'conv_output_size' is not defined"}


# -- verdicts from a run, without a kernel ----------------------------------------------------
def chapter_01_edition():
    chapter = read_book()[0]
    cells = student.student_edition(nbformat.read(ROOT / "notebooks" / f"{chapter.name}.ipynb",
                                                  as_version=4)).cells
    return chapter, cells


def test_each_exercise_section_runs_from_its_question_to_the_next():
    chapter, cells = chapter_01_edition()
    found = sections(cells, chapter)
    starts = [found[label].start for label in LABELS]
    assert [found[label].stop for label in LABELS] == [*starts[1:], len(cells)]
    assert all("{exercise}" in cells[start].source for start in starts)
    del cells[starts[1]]  # a question deleted: judged after the last cell
    found = sections(cells, chapter)
    assert found[LABELS[1]] is None and found[LABELS[0]].stop == starts[2] - 1


def test_verdicts_follow_the_check_unless_the_run_says_otherwise():
    chapter, cells = chapter_01_edition()
    run = Run(sections=sections(cells, chapter), unfinished="The time ran out.")
    first, second, third = (run.sections[label] for label in LABELS[:3])
    run.judgements = {
        LABELS[0]: Judgement(False, "conv_output_size(n=28, k=3, p=1, s=1) returned None: "
                                    "replace the `...` placeholder"),
        LABELS[1]: Judgement(True, "right", None),
        LABELS[2]: Judgement(error="NameError: name 'receptive_field' is not defined")}
    run.problems = [CellProblem(second.start + 1, "kernel = 1", "timeout", "did not finish."),
                    CellProblem(third.start + 1, "def f(", "error", "raised SyntaxError.")]
    grades = verdicts(cells, chapter, run)
    assert [g.verdict for g in grades] == ["not attempted", "error", "error", "error"]
    assert grades[0].message.startswith("Not attempted: conv_output_size(n=28")
    assert grades[1].message == "The cell that starts `kernel = 1` did not finish."
    assert grades[1].notes == ["The check, on what was defined: Correct! right"]
    assert grades[2].message.startswith("`receptive_field` is not defined")
    assert grades[2].notes == ["The cell that starts `def f(` raised SyntaxError."]
    assert grades[3].message == "The time ran out."
    # The same "returned None" after the learner wrote something is "not yet".
    cells[first.start + 1].source = "def conv_output_size(n, k, p, s):\n    n + 1"
    assert verdicts(cells, chapter, run)[0].verdict == "not yet"


def test_an_error_reads_as_a_sentence_whatever_raised_it():
    exercise = read_book()[0].exercises[0]
    assert explain_error("StopIteration", exercise) == (
        "The check could not be run on `conv_output_size`: StopIteration.")
    assert explain_error("MyOops: the value is bad.", exercise) == (
        "The check could not be run on `conv_output_size`: MyOops: the value is bad.")
    assert explain_error("NameError: name 'f' is not defined", exercise).startswith(
        "`f` is not defined when this exercise is checked")
    sentence = "The kernel stopped while the check ran on `conv_output_size`."
    assert explain_error(sentence, exercise) == sentence


# -- a class, end to end -----------------------------------------------------------------------
def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("class")
    build_class(folder)
    before = digest(folder)
    out = tmp_path_factory.mktemp("out")
    with redirect_stderr(io.StringIO()) as bar:
        grades = grade([folder], out, jobs=2, cell_timeout=CELL_TIMEOUT, progress=True)
    return {"folder": folder, "before": before, "out": out, "grades": grades,
            "bar": bar.getvalue()}


def rows(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "grades.csv", newline="") as file:
        return {row["file"]: row for row in csv.DictReader(file)}


def feedback(out: Path, name: str) -> str:
    return " ".join((out / "feedback" / f"{name}.md").read_text().split())


NEXT_STEP = ("## What next Work again on the exercises that are not passed, then run their "
             "check cells in your notebook")
EXPECTED = {  # file: the verdict of each of chapter 01's four exercises, and the total
    "solved.ipynb": (["passed"] * 4, "4"),
    "solved_again.ipynb": (["passed"] * 4, "4"),
    "untouched.ipynb": (["not attempted"] * 4, "0"),
    "slips.ipynb": (["not yet", "not yet", "error", "error"], "0"),
    "endless_loop.ipynb": (["passed", "error", "passed", "passed"], "3"),
    "deleted_checks.ipynb": (["passed"] * 4, "4"),
}


def test_each_notebook_gets_its_row(graded):
    table = rows(graded["out"])
    assert list(next(iter(table.values()))) == ["file", "chapter", *LABELS, "total", "out_of",
                                                "note"]
    assert sorted(table) == sorted([*EXPECTED, "not_json.ipynb", "holiday.ipynb"])
    for name, (expected, total) in EXPECTED.items():
        row = table[name]
        assert (row["chapter"], [row[label] for label in LABELS], row["total"],
                row["out_of"]) == ("01_convolution", expected, total, "4"), name
    for name in ("not_json.ipynb", "holiday.ipynb"):
        row = table[name]
        assert row["chapter"] == "unknown" and row["total"] == "" and row["note"]
        assert all(row[label] == "" for label in LABELS)
    assert "not a readable notebook (NotJSONError" in table["not_json.ipynb"]["note"]
    assert "chapter could not be told" in table["holiday.ipynb"]["note"]
    assert table["solved_again.ipynb"]["note"] == (
        "Same cells as solved.ipynb: graded once, counted once in the summary.")
    assert table["solved.ipynb"]["note"] == "Also handed in as solved_again.ipynb."
    assert [g.file for g in graded["grades"]] == sorted(table)  # found in order


def test_the_feedback_gives_each_verdict_and_the_check_sentence(graded):
    out = graded["out"]
    text = feedback(out, "slips")
    assert text.startswith("# slips.ipynb: 0 of 4 exercises passed")
    assert ("## 1. The output size of a convolution: not yet > Not yet: conv_output_size(n=28, "
            "k=3, p=1, s=1) returned 27, expected 28. You forgot the `+ 1`") in text
    # The check cell was edited to print "Correct!": the book's check still says not yet.
    assert "## 2. A kernel that moves the image: not yet > Not yet: your kernel moves the " \
           "image to the left." in text
    assert ("## 3. The receptive field of a stack of layers: error > `receptive_field` is not "
            "defined when this exercise is checked: was it renamed or deleted") in text
    assert ("- The cell that starts `answer = np.aray([[4, 5, 6, 0], [7, 8, 9, 0], [0, 0, 0, "
            "0...` raised AttributeError: module 'numpy' has no attribute 'aray'.") in text
    loop = feedback(out, "endless_loop")
    assert (f"## 2. A kernel that moves the image: error > The cell that starts `kernel = "
            f"np.zeros((3, 3))` did not finish within {CELL_TIMEOUT} s (an endless loop?) and "
            "was stopped. - The check, on what was defined: Correct!") in loop
    assert "## 3. The receptive field of a stack of layers: passed > Correct!" in loop
    untouched = feedback(out, "untouched")
    assert ("## 1. The output size of a convolution: not attempted > Not attempted: "
            "conv_output_size(n=28, k=3, p=1, s=1) returned None") in untouched
    assert ("## 2. A kernel that moves the image: not attempted > Not attempted: kernel is "
            "still the "
            "placeholder `...`") in untouched
    deleted = feedback(out, "deleted_checks")
    assert deleted.count(": passed > Correct!") == 4 and "raised" not in deleted
    # What to do next, for those with something left, and for them only.
    assert NEXT_STEP in text and NEXT_STEP in untouched and NEXT_STEP not in deleted
    assert feedback(out, "not_json").startswith("# not_json.ipynb: not graded")


def test_the_summary_counts_each_exercise_and_its_most_common_hint(graded):
    text = (graded["out"] / "summary.md").read_text()
    assert "## 01_convolution: 5 notebooks" in text  # solved_again counted once
    assert ("| 1. The output size of a convolution | 3 | 1 | 1 | 0 | conv_output_size(n=28, "
            "k=3, p=1, s=1) returned 27, expected 28. You forgot the `+ 1`") in text
    assert "| 2. A kernel that moves the image | 2 | 1 | 1 | 1 | your kernel moves" in text
    assert "| 4. Predict a gradient | 3 | 0 | 1 | 1 |  |" in text
    assert "Not graded (their notes say why): holiday.ipynb, not_json.ipynb." in text


def test_a_progress_bar_counts_every_notebook_handed_in(graded):
    assert "grading: 100%" in graded["bar"] and "8/8 [" in graded["bar"]


def test_submissions_are_never_modified_and_their_files_stay_in_the_copy(graded):
    folder = graded["folder"]
    assert digest(folder) == graded["before"]
    assert not (folder / "scratch.txt").exists()  # deleted_checks wrote it in its copy


def test_the_command_line_prints_the_summary(tmp_path, capsys):
    (tmp_path / "class").mkdir()
    (tmp_path / "class" / "02_pooling.ipynb").write_text("{")
    assert main([str(tmp_path / "class"), "--out", str(tmp_path / "out"), "--no-progress"]) == 0
    printed = capsys.readouterr()
    assert "## 02_pooling_and_activations: 1 notebook\n" in printed.out
    assert "| 1. ReLU, then average pooling, by hand | 0 | 0 | 0 | 1 |  |" in printed.out
    assert printed.err == ""
    row = rows(tmp_path / "out")["02_pooling.ipynb"]
    assert row["chapter"] == "02_pooling_and_activations" and row["total"] == "0"
    assert {row[label] for label in row if label.startswith("ch02-")} == {"error"}
    with pytest.raises(SystemExit):
        main([str(tmp_path / "missing")])
    assert "no such file or folder" in capsys.readouterr().err


def test_jobs_default_to_the_cores_this_process_may_use(tmp_path, monkeypatch, capsys):
    workers = []

    class Pool(grader.ThreadPoolExecutor):
        def __init__(self, max_workers):
            workers.append(max_workers)
            super().__init__(max_workers)

    monkeypatch.setattr(grader, "ThreadPoolExecutor", Pool)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 2, 5}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    (tmp_path / "04.ipynb").write_text("{")
    assert main([str(tmp_path / "04.ipynb"), "--out", str(tmp_path / "out"), "--no-progress"]) == 0
    assert main([str(tmp_path / "04.ipynb"), "--out", str(tmp_path / "out"), "--no-progress",
                 "--jobs", "2"]) == 0
    monkeypatch.delattr(os, "sched_getaffinity")  # macOS, Windows: every core
    grade([tmp_path / "04.ipynb"], tmp_path / "out", progress=False)
    assert workers == [3, 2, 64]


@pytest.mark.skipif(os.environ.get("GRADE_SLOW") != "1",
                    reason="45 s more: GRADE_SLOW=1 (make grade-check)")
def test_a_kernel_that_ignores_ctrl_c_is_restarted_and_the_rest_judged(tmp_path):
    (tmp_path / "class").mkdir()
    path = stuck(tmp_path / "class")
    [result] = grade([path], tmp_path / "out", jobs=1, cell_timeout=CELL_TIMEOUT,
                     progress=False)
    assert [g.verdict for g in result.exercises] == ["error", "passed", "error", "passed"]
    assert result.exercises[0].message == (
        f"The check did not finish within {CELL_TIMEOUT} s on `conv_output_size`: an endless "
        "loop in it?")
    assert result.exercises[2].message == (
        f"The cell that starts `import signal` did not finish within {CELL_TIMEOUT} s (an "
        "endless loop?) and was stopped.")


def test_the_teachers_page_lists_every_option_of_the_command(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    options = set(re.findall(r"--[a-z][a-z-]+", capsys.readouterr().out)) - {"--help"}
    page = (ROOT / "book" / "teachers.md").read_text()
    assert options and {option for option in options if f"`{option}" not in page} == set()
    assert "python -m helpers.grade class/ --out grades" in page and "bwrap" in page

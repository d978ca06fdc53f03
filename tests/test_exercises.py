"""What every chapter's self-checks promise: listed, reachable by name, and never raising,
whatever a learner passes them."""

from importlib import import_module

import numpy as np
import pytest
from checking import assert_checks_listed, assert_not_yet

import helpers.exercises

MODULES = [import_module(f"helpers.exercises.{name}")
           for name in helpers.exercises.CHAPTER_MODULES]
CHECKS = {f"{module.__name__.rsplit('.', 1)[-1]}.{name}": getattr(module, name)
          for module in MODULES for name in module.__all__}
BROKEN_ANSWERS = {
    "None": None, "Ellipsis": ..., "int": 3, "str": "abc", "object": object(),
    "array": np.zeros((2, 2)), "raises": lambda *args: 1 / 0,
    "returns-None": lambda *args: None, "returns-str": lambda *args: "text",
    "returns-ragged": lambda *args: [[1, 2], [3]],
    "returns-nan": lambda *args: np.full(3, np.nan), "returns-object": lambda *args: object(),
}


def test_every_chapter_with_exercises_has_a_module():
    assert [m.__name__.rsplit(".", 1)[-1] for m in MODULES][:2] == ["ch01", "ch02"]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_checks_are_listed_and_reachable_from_the_package(module):
    assert_checks_listed(module)


@pytest.mark.parametrize("check", list(CHECKS.values()), ids=list(CHECKS))
@pytest.mark.parametrize("answer", list(BROKEN_ANSWERS.values()), ids=list(BROKEN_ANSWERS))
def test_no_check_ever_raises(check, answer):
    assert_not_yet(check(answer))


def test_an_answer_is_judged_as_a_function_result_is():
    """check_answer and check_function share one loop: the same case gives the same hint, the
    answer's standing alone; a reader's problem and the placeholder come first."""
    from helpers.exercises._common import Case, array_of, check_answer, check_function

    def case(call):
        return Case((), call, np.eye(2), [(np.zeros((2, 2)), "all zero.")])

    read = array_of((2, 2), "a 2x2 array")
    assert check_function(lambda: np.zeros((2, 2)), "f", [case("f()")], "").message == (
        "f(): all zero.")
    assert check_answer(np.zeros((1, 2, 2, 1)), "answer", [case("")], "", read).message == (
        "all zero.")
    assert check_answer(np.eye(2) * 2, "answer", [case("")], "", read).message.startswith(
        "answer differs at 2 of 4 positions")
    assert check_answer(None, "answer", [case("")], "", read).message == (
        "answer is None: write a 2x2 array.")
    assert_not_yet(check_answer(..., "answer", [case("")], "", read), "placeholder")
    assert check_answer([[1, 0], [0, 1]], "answer", [case("")], "right", read).message == "right"

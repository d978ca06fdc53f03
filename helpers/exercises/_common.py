"""What every self-check shares: calling a learner's code safely and explaining misses.

A self-check never lets a traceback from deep inside TensorFlow reach the learner: it
catches the error, names it in one line, and says what was expected instead.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from typing import Any

import numpy as np


class CheckResult:
    """The verdict of a self-check: truthy when the answer is right, shown as a sentence."""

    def __init__(self, passed: bool, message: str):
        self.passed = bool(passed)
        self.message = message

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        mark = "Correct!" if self.passed else "Not yet:"
        # Wrapped so that it reads without scrolling, in Jupyter and in the book.
        return textwrap.fill(f"{mark} {self.message}", width=88, break_long_words=False)


def passed(message: str) -> CheckResult:
    return CheckResult(True, message)


def failed(message: str) -> CheckResult:
    return CheckResult(False, message)


def not_attempted(what: str) -> CheckResult | None:
    return failed(f"{what} is still the placeholder `...`; replace it with your answer.")


def call_safely(function: Callable, *args: Any, name: str | None = None) -> tuple[Any, str | None]:
    """Call a learner's function; return ``(result, None)`` or ``(None, explanation)``."""
    name = name or getattr(function, "__name__", "your function")
    if not callable(function):
        return None, f"expected a function, got {type(function).__name__}."
    try:
        return function(*args), None
    except Exception as err:  # the learner's code may raise anything
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else ""
        return None, (f"{name} raised {type(err).__name__}: {first_line[:300]}. "
                      f"It was called with {describe(*args)}.")


def describe(*values: Any) -> str:
    """A short description of the arguments, for messages ('an array of shape (4, 4)')."""
    parts = []
    for value in values:
        shape = getattr(value, "shape", None)
        if shape is not None:
            parts.append(f"an array of shape {tuple(shape)}")
        else:
            parts.append(repr(value)[:60])
    return ", ".join(parts) if parts else "no arguments"


def compare_arrays(got: Any, expected: np.ndarray, what: str, atol: float = 1e-4,
                   rtol: float = 1e-4) -> str | None:
    """Explain how ``got`` differs from ``expected``; ``None`` when they agree."""
    if got is None:
        return f"{what} is None: did you forget to `return` it?"
    if got is Ellipsis:
        return f"{what} is still the placeholder `...`."
    try:
        got = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return f"{what} should be an array of numbers, got {type(got).__name__}."
    expected = np.asarray(expected, dtype=np.float64)
    if got.shape != expected.shape:
        squeezed = got.squeeze().shape == expected.squeeze().shape
        hint = " (the same values with extra axes of size 1?)" if squeezed else ""
        return f"{what} has shape {got.shape}, expected {expected.shape}{hint}."
    if not np.all(np.isfinite(got)):
        return f"{what} contains NaN or infinity."
    close = np.isclose(got, expected, atol=atol, rtol=rtol)
    if not close.all():
        index = tuple(int(i) for i in np.argwhere(~close)[0])
        return (f"{what} differs at {int((~close).sum())} of {close.size} positions; "
                f"the first is index {index}: got {got[index]:.4g}, expected "
                f"{expected[index]:.4g}.")
    return None


# -- judging an array a learner's function returned (chapters 03 to 06) ----------------------
def as_numbers(got: Any) -> np.ndarray | None:
    """``got`` as a float64 array, or ``None`` when it is not an array of numbers."""
    if got is None or got is Ellipsis or isinstance(got, str | bytes):
        return None
    try:
        return np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return None


def same(got: Any, expected: Any) -> bool:
    """Whether ``got`` is an array of the expected shape and values (never raises)."""
    array = as_numbers(got)
    expected = np.asarray(expected, dtype=np.float64)
    return (array is not None and array.shape == expected.shape
            and bool(np.allclose(array, expected, atol=1e-4, rtol=1e-4)))


def first_slip(got: Any, slips: list[tuple[Any, str]]) -> str | None:
    """The hint of the first known wrong answer that ``got`` equals, if any."""
    return next((hint for wrong, hint in slips if same(got, wrong)), None)


def returned_none(call: str) -> CheckResult:
    return failed(f"{call} returned None: replace the `...` placeholder with your code, and "
                  "make sure the function ends with `return`.")


def not_numbers(call: str, got: Any) -> CheckResult | None:
    """A verdict when ``got`` is not an array of numbers (a str, a dict, a ragged list)."""
    if as_numbers(got) is None:
        return failed(f"{call} returned a {type(got).__name__}; expected an array of "
                      "numbers.")
    return None


def unusable(call: str, got: Any) -> CheckResult | None:
    """A verdict when ``got`` is None or not an array of numbers; ``None`` otherwise."""
    return returned_none(call) if got is None else not_numbers(call, got)


def judge(call: str, got: Any, expected: np.ndarray,
          slips: list[tuple[Any, str]]) -> CheckResult | None:
    """``None`` when ``got`` is right; otherwise the most specific explanation: unusable,
    one of the known ``slips`` (wrong answer, hint), or where it differs."""
    if got is None:
        return returned_none(call)
    if same(got, expected):
        return None
    bad = not_numbers(call, got)
    if bad is not None:
        return bad
    hint = first_slip(got, slips)
    if hint:
        return failed(f"{call}: {hint}")
    return failed(f"{call}: {compare_arrays(got, expected, 'the result')}")

"""What every self-check shares: calling a learner's code safely and explaining misses.

A self-check never lets a traceback from deep inside TensorFlow reach the learner: it
catches the error, names it in one line, and says what was expected instead.

A check is data for one driver: the :class:`Case` s to judge, each with its expected answer
and its known slips (a wrong answer and the hint for it). :func:`check_function` calls the
learner's function on each case; :func:`check_answer` judges an answer the learner wrote
(an array, a dict), once it is read into numbers. Both turn the first miss into a sentence:
not attempted yet, an error, no answer, not numbers, the hint of the first slip it matches,
or where it differs. :func:`check_numbers` does the same for a function that returns one
number, where a slip is a wrong formula that must explain every answer.
"""

from __future__ import annotations

import copy
import math
import textwrap
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
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


# -- judging an array a learner's code gave ---------------------------------------------
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


def shown(array: np.ndarray) -> str:
    """A learner's number, or tuple of numbers, as they would write it: ``3``, ``(7, 7, 128)``."""
    values = [int(v) if float(v).is_integer() else float(v) for v in array.ravel().tolist()]
    return str(values[0]) if array.ndim == 0 else str(tuple(values))


def returned(call: str, expected: Any, hint: str = "") -> Callable[[np.ndarray], str]:
    """A slip's hint that quotes the answer: ``"{call} returned 3, expected 4. {hint}"``."""
    return lambda array: " ".join(
        [f"{call} returned {shown(array)}, expected {expected}.", *([hint] if hint else [])])


_NONE = ("{call} returned None: replace the `...` placeholder with your code, and make sure "
         "the function ends with `return`.")


# -- the drivers: every check runs through check_function or check_answer ----------------
#: A known slip: the wrong answer it gives (an array), or a test on the learner's answer (a
#: function of the answer as a float array); and its hint, a sentence that follows the call
#: ("{call}: {hint}"), or a function of the answer that writes the whole message.
Slip = tuple[Any, str | Callable[[np.ndarray], str]]


@dataclass
class Case:
    """One call of the learner's function, or one reading of their answer, and what to say.

    ``args`` are what the function is called with (a fresh copy each time, unless
    ``copy_args`` is False: for a case whose slips look at the arguments themselves, say
    whether the function changed them); ``call`` how the call reads in a message (empty for
    an answer: its hints stand alone); ``expected`` the right answer (an array, or a test on
    the answer); ``slips`` the known wrong answers, tried in order, the first match wins;
    ``expects`` what the answer should be, for an answer that is not an array of numbers.
    When ``expected`` is a test, the last slip must catch every answer that fails it.
    """

    args: tuple
    call: str
    expected: Any
    slips: Sequence[Slip] = ()
    expects: str = "an array of numbers"
    copy_args: bool = True


def explain(got: Any, case: Case, what: str = "the result") -> str | None:
    """``None`` when ``got`` is right; otherwise the most specific explanation: no answer,
    not numbers, the first of ``case.slips`` it matches, or where it differs."""
    if got is None:
        return _NONE.format(call=case.call)
    array = as_numbers(got)
    if array is None:
        return f"{case.call} returned a {type(got).__name__}; expected {case.expects}."
    right = case.expected
    if right(array) if callable(right) else same(array, right):
        return None
    hint = next((hint for wrong, hint in case.slips
                 if (wrong(array) if callable(wrong) else same(array, wrong))), None)
    if callable(hint):
        return hint(array)
    hint = hint or compare_arrays(array, right, what)
    return f"{case.call}: {hint}" if case.call else hint


def _verdict(cases: Iterable[Case], result: Callable[[Case], tuple[Any, str | None]],
             success: str | Callable[[], str], what: str) -> CheckResult:
    """The loop both drivers share: ``result(case)`` gives the answer to judge, or what went
    wrong in getting it; the first case with a problem gives the verdict. A numerical warning
    (0 / 0) in the learner's code is not printed: the check explains the NaN it gives."""
    for case in cases:
        with np.errstate(all="ignore"):
            got, problem = result(case)
            problem = problem or explain(got, case, what)
        if problem:
            return failed(problem)
    return passed(success() if callable(success) else success)


def check_function(function: Any, name: str, cases: Iterable[Case],
                   success: str | Callable[[], str], what: str = "the result") -> CheckResult:
    """Run the learner's ``function`` on every case; the first miss becomes the verdict.

    ``name`` is the function's name in the exercise (``...``: not attempted yet), and
    ``success`` the message of a right answer (or a function that writes it, after the
    run).
    """
    if function is Ellipsis:
        return not_attempted(name)

    def call(case: Case) -> tuple[Any, str | None]:
        args = copy.deepcopy(case.args) if case.copy_args else case.args
        return call_safely(function, *args, name=name)

    return _verdict(cases, call, success, what)


#: Reads a learner's answer into what the cases judge: ``(value, None)``, or ``(None, why
#: it cannot be read)``. It is given the answer and its name.
Reader = Callable[[Any, str], tuple[Any, str | None]]


def check_answer(answer: Any, name: str, cases: Iterable[Case],
                 success: str | Callable[[], str], read: Reader) -> CheckResult:
    """Judge an answer the learner wrote (an array, a dict) instead of a function.

    ``read`` turns it into what the cases judge (see :func:`array_of`), or says why it
    cannot; then each case judges it as :func:`check_function` judges a result, its hints
    standing alone (``case.call`` is empty) and its differences named after ``name``.
    """
    if answer is Ellipsis:
        return not_attempted(name)
    with np.errstate(all="ignore"):
        got = read(answer, name)
    return _verdict(cases, lambda case: got, success, name)


def array_of(shape: tuple[int, ...], example: str) -> Reader:
    """A reader of an array the learner typed or computed: a nested list, a NumPy array or
    a tensor; its axes of size 1 are dropped when the values fit ``shape`` (a ``(1, 4, 4,
    1)`` gradient from ``tape.gradient`` is a 4x4 answer). ``example`` says what to write
    instead of ``None``."""
    expects = f"a {'x'.join(map(str, shape))} array of numbers"

    def read(answer: Any, name: str) -> tuple[np.ndarray | None, str | None]:
        if answer is None:
            return None, f"{name} is None: write {example}."
        array = as_numbers(answer)
        if array is None or array.ndim == 0:
            return None, f"{name} should be {expects}, got {describe(answer)}."
        fits = array.squeeze().shape == tuple(n for n in shape if n != 1)
        return (array.reshape(shape) if fits else array), None

    return read


def check_numbers(function: Any, name: str, cases: Sequence[tuple],
                  show: Callable[[tuple], str], reference: Callable, success: str,
                  slips: Sequence[tuple[Callable, str]] = (),
                  odd: Callable[[float], bool] = lambda number: False,
                  odd_hint: str = "") -> CheckResult:
    """The driver for a function that returns one number: run it on every case (``show``
    writes a case's arguments), compare with ``reference``, and name the first case that is
    off; the hint is that of the first slip, a wrong formula, that explains every answer.
    An answer for which ``odd`` holds gets ``odd_hint`` whatever the other answers are."""
    if function is Ellipsis:
        return not_attempted(name)
    numbers = []
    for args in cases:
        call = f"{name}({show(args)})"
        got, error = call_safely(function, *copy.deepcopy(args), name=name)
        if error:
            return failed(error)
        if got is None:
            return failed(_NONE.format(call=call))
        number = _as_number(got)
        if number is None:
            return failed(f"{call} returned {got!r:.60}; expected a number.")
        numbers.append(number)
    expected = [reference(*args) for args in cases]
    if numbers == expected:
        return passed(success() if callable(success) else success)
    odd_one = next((i for i, number in enumerate(numbers) if odd(number)), None)
    if odd_one is not None:
        return failed(f"{name}({show(cases[odd_one])}) returned {numbers[odd_one]:g}, "
                      f"{odd_hint}")
    index = next(i for i, (got, want) in enumerate(zip(numbers, expected, strict=True))
                 if got != want)
    got = numbers[index]
    shown = int(got) if got.is_integer() else got
    message = f"{name}({show(cases[index])}) returned {shown}, expected {expected[index]}."
    for slip, hint in slips:
        if all(got == slip(*args) for got, args in zip(numbers, cases, strict=True)):
            return failed(f"{message} {hint}")
    return failed(message)


def _as_number(value: Any) -> float | None:
    """``value`` as a float if it is a single finite real number (not a bool or a string)."""
    if isinstance(value, bool | np.bool_ | str | bytes):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


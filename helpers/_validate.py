"""The argument checks every module of ``helpers`` shares, written once.

Each check returns the value in a plain form (a Python ``int``, a ``(height, width)`` tuple)
or raises a ``TypeError`` (wrong kind of value) or ``ValueError`` (right kind, out of
range) whose message names the argument and says what was expected. NumPy only, so that
``helpers.data`` and ``helpers.conv`` can use it without loading TensorFlow.
"""

from __future__ import annotations

import numbers

import numpy as np


def is_int(value) -> bool:
    """True for Python and NumPy integers; False for bools, which Python counts as ints."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _int_range(minimum: int | None, maximum: int | None) -> str:
    if minimum is not None and maximum is not None:
        return f"an int from {minimum} to {maximum}"
    if minimum == 1:
        return "a positive int"
    if minimum == 0:
        return "a non-negative int"
    if minimum is not None:
        return f"an int of at least {minimum}"
    return "an int"


def check_int(value, name: str, *, minimum: int | None = None, maximum: int | None = None,
              hint: str = "") -> int:
    """``value`` as an ``int`` (NumPy ints accepted, bools refused), within
    ``[minimum, maximum]`` where given; ``hint`` is added to the out-of-range message."""
    expected = _int_range(minimum, maximum)
    if not is_int(value):
        raise TypeError(f"{name} must be {expected}, got {type(value).__name__}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be {expected}{hint}, got {value}")
    return int(value)


def check_positive_int(value, name: str) -> int:
    """``value`` as an ``int`` of at least 1: a count of steps, samples, images."""
    return check_int(value, name, minimum=1)


def check_pair(value, name: str, *, minimum: int | None = None,
               expected: str = "an int or a pair of ints") -> tuple[int, int]:
    """``3`` -> ``(3, 3)``; a pair ``(2, 1)`` (tuple, list or 1-D array) stays; every int
    at least ``minimum`` where given."""
    pair = (value, value) if is_int(value) else value
    sequence = (isinstance(pair, (tuple, list))
                or isinstance(pair, np.ndarray) and pair.ndim == 1)
    if not sequence or len(pair) != 2 or not all(is_int(v) for v in pair):
        raise TypeError(f"{name} must be {expected}, got {value!r}")
    if minimum is not None and min(pair) < minimum:
        bound = ("positive" if minimum == 1 else "non-negative" if minimum == 0
                 else f"at least {minimum}")
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    return int(pair[0]), int(pair[1])


def check_size(size, name: str = "size") -> tuple[int, int]:
    """An image size, ``size`` (a square) or ``(height, width)``, as ``(height, width)``."""
    return check_pair(size, name, minimum=1, expected="an int or a (height, width) pair of ints")


def check_index(value, count: int, name: str, *, of: str, expected: str = "an int") -> int:
    """``value`` as an ``int`` in ``range(count)``; ``of`` says what is counted, for the
    message (for example ``"the model has 10 classes"``)."""
    if not is_int(value):
        raise TypeError(f"{name} must be {expected}, got {type(value).__name__}")
    if not 0 <= value < count:
        raise ValueError(f"{name} {value} is out of range: {of}, 0 to {count - 1}")
    return int(value)


def check_choice(value, name: str, choices: tuple[str, ...], what: str | None = None) -> str:
    """``value`` if it is one of the strings ``choices``; ``what`` names the kind of thing
    chosen in the message (``"photo"``), ``name`` by default."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, one of {choices}; got {type(value).__name__}")
    if value not in choices:
        raise ValueError(f"unknown {what or name} {value!r}; expected one of {choices}")
    return value


def check_finite(array, what: str) -> None:
    """A ``ValueError`` if ``array`` holds a NaN or an infinity; ``what`` names it."""
    if not np.isfinite(array).all():
        raise ValueError(f"{what} must be finite, got NaN or infinite values")


def check_non_negative(value, name: str, what: str = "number") -> None:
    """A ``ValueError`` unless ``value`` is a finite number of at least 0 (for example a
    standard deviation); ``what`` says in which unit, for the message."""
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a non-negative {what}, got {value}")

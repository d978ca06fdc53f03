"""Self-checks for the exercises at the end of each chapter.

Call one with your answer (an array, a dict, or the function you wrote); it returns a
:class:`CheckResult` that says ``Correct!``, or ``Not yet:`` and what is off. For example,
``helpers.exercises.check_conv_output_size(conv_output_size)`` in chapter 01. A check runs
your code only inside the call you make, turns any error your code raises into one readable
sentence, and never raises itself, whatever it is given.

Each chapter keeps its checks in its own module (``ch01``, ``ch02``, ...: every module of
this package named ``chNN``), listed in that module's ``__all__``; every one of them is
reachable from here by name.
"""

from __future__ import annotations

import pkgutil
import re
from importlib import import_module

from helpers.exercises._common import CheckResult as CheckResult

#: The chapters' modules, in reading order: ("ch01", "ch02", ...).
CHAPTER_MODULES = tuple(sorted(module.name for module in pkgutil.iter_modules(__path__)
                               if re.fullmatch(r"ch\d\d", module.name)))


def _chapter_modules():
    return [import_module(f"helpers.exercises.{name}") for name in CHAPTER_MODULES]


def __getattr__(name: str):
    for module in _chapter_modules():
        if name in module.__all__:
            return getattr(module, name)
    raise AttributeError(f"helpers.exercises has no check named {name!r}; "
                         f"available: {', '.join(__dir__())}")


def __dir__() -> list[str]:
    return sorted(["CheckResult", *(n for m in _chapter_modules() for n in m.__all__)])

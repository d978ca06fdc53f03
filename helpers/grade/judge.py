"""The grader's one call inside a learner's kernel: run a self-check on what they defined.

The grader sends, after the cells of an exercise have run, a cell that calls :func:`judge`
with the learner's namespace. It prints one line, a marker that the learner's code cannot
know followed by JSON, which the grader reads back. Nothing the learner printed or changed
in their own check cell counts.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import sys
from collections.abc import Callable
from typing import Any


def source(module: str, check: str, arguments: str, marker: str) -> str:
    """The code of the cell that judges one exercise in the learner's kernel."""
    return (f"__import__('helpers.grade.judge', fromlist=['judge']).judge(globals(), "
            f"{module!r}, {check!r}, {arguments!r}, {marker!r})")


def judge(namespace: dict[str, Any], module: str, check: str, arguments: str,
          marker: str) -> None:
    """Call ``helpers.exercises.<module>.<check>(<arguments>)`` and print the verdict.

    Parameters
    ----------
    namespace
        The learner's global names, in which ``arguments`` is evaluated.
    module, check
        The self-check, ``"ch01"`` and ``"check_conv_output_size"``, loaded afresh from the
        package's files (:func:`fresh_check`).
    arguments
        The arguments of the book's call, as source: ``"conv_output_size"``.
    marker
        Printed before the JSON verdict: ``{"passed": bool, "message": str, "error": str
        or null}``; ``error`` says why no check could be run (a name that is not defined).
    """
    verdict: dict[str, Any] = {"passed": False, "message": "", "error": None}
    try:
        args, kwargs = eval(f"(lambda *args, **kwargs: (args, kwargs))({arguments})", namespace)
    except Exception as error:  # a learner's name, property or __getattr__ may raise anything
        verdict["error"] = f"{type(error).__name__}: {error}"
    else:
        # What the learner's code prints while the check runs it is not part of the verdict.
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            try:
                result = fresh_check(module, check)(*args, **kwargs)
                verdict.update(passed=bool(result), message=str(result.message))
            except Exception as error:  # a check never raises; say so if one ever does
                verdict["error"] = f"The check itself raised {type(error).__name__}: {error}"
    print(marker + json.dumps(verdict))


def fresh_check(module: str, check: str) -> Callable:
    """``helpers.exercises.<module>.<check>`` from a new copy of its module and of the shared
    drivers, so that a notebook that reassigned ``helpers.exercises.check_...`` or patched
    the drivers is still judged by the book's code. The modules the notebook sees stay as
    they were."""
    names = ("helpers.exercises._common", f"helpers.exercises.{module}")
    package = importlib.import_module("helpers.exercises")
    saved = {name: sys.modules.pop(name, None) for name in names}
    try:
        return getattr(importlib.import_module(names[1]), check)
    finally:
        for name, original in saved.items():
            if original is not None:
                sys.modules[name] = original
                setattr(package, name.rpartition(".")[2], original)

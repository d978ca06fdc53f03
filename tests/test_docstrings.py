"""The helpers' docstrings: written out in the source as ``help()`` shows them, and their
examples run.

An editor's hover shows a docstring as the source spells it, not what a decorator writes
into ``__doc__`` at import; so no docstring is a template, and none is rewritten at import.
The ``Examples`` sections are doctests, run here with the standard library's ``doctest``, so
that what a reader copies from a docstring gives what it says.
"""

from __future__ import annotations

import ast
import doctest
import importlib
import inspect
import re
from pathlib import Path

# First: importing helpers quiets TensorFlow's C++ log lines, before keras loads TensorFlow.
import helpers

# isort: split
import keras
import numpy as np
import pytest

from helpers import explain

ROOT = Path(__file__).resolve().parents[1]
HELPERS = ROOT / "helpers"
SOURCES = sorted(HELPERS.rglob("*.py"))


def module_name(path: Path) -> str:
    """``helpers/explain/cam.py`` -> ``"helpers.explain.cam"``; a package's ``__init__.py``
    is the package."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 1)}"


# -- No templates -------------------------------------------------------------------------

#: A template placeholder: ``{name}`` standing alone. Not one glued to a word, a backslash,
#: a closing brace or a backtick before it: ``block{N}_add`` (a pattern of layer names),
#: LaTeX's ``\frac{a}{b}``, MyST's ```{exercise}``.
PLACEHOLDER = re.compile(r"(?<![\w\\}`])\{[A-Za-z_]\w*\}")
#: What is code, not prose, in a docstring, removed before looking for placeholders: inline
#: literals (````"{layer}/{index}"````, ````{"conv2": ...}````), roles (``:math:`...```)
#: and doctest examples with their expected output (a set literal ``{x}`` is code).
INLINE_LITERAL = re.compile(r"``.+?``", re.DOTALL)
ROLE = re.compile(r":[\w:]+:`[^`]*`")
DOCTEST_BLOCK = re.compile(r"^[ \t]*>>>.*?(?=^[ \t]*$|\Z)", re.DOTALL | re.MULTILINE)
#: Methods on ``__doc__`` that fill in a template.
TEMPLATE_METHODS = {"replace", "format", "format_map"}


def is_public(name: str) -> bool:
    """Public: no leading underscore; a dunder method (``__call__``) is public too."""
    return not name.startswith("_") or (name.startswith("__") and name.endswith("__"))


def public_docstrings(path: Path):
    """``(node, docstring)`` for the public docstrings of one source file.

    Public: the module's own docstring and those of its public functions and classes and
    of the public methods of its public classes (nested classes likewise), when no part of
    the module's dotted name starts with ``_`` (``helpers._validate``,
    ``helpers.explain._graph``, ``helpers.grade.__main__`` are private; a package's
    ``__init__`` is the package). Definitions under a module-level ``if`` or ``try`` count;
    functions defined inside functions do not.
    """
    if any(part.startswith("_") for part in module_name(path).split(".")):
        return
    tree = ast.parse(path.read_text(), filename=str(path))
    if ast.get_docstring(tree, clean=False):
        yield tree, ast.get_docstring(tree, clean=False)

    def visit(body):
        for node in body:
            if isinstance(node, (ast.If, ast.Try)):
                yield from visit(node.body + node.orelse + getattr(node, "finalbody", []) +
                                 [s for h in getattr(node, "handlers", []) for s in h.body])
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                if not is_public(node.name):
                    continue
                docstring = ast.get_docstring(node, clean=False)
                if docstring:
                    yield node, docstring
                if isinstance(node, ast.ClassDef):
                    yield from visit(node.body)

    yield from visit(tree.body)


def placeholders(docstring: str) -> list[str]:
    """The ``{name}`` template placeholders in a docstring's prose."""
    prose = DOCTEST_BLOCK.sub("", docstring)
    prose = INLINE_LITERAL.sub("", prose)
    prose = ROLE.sub("", prose)
    return PLACEHOLDER.findall(prose)


def docstring_rewrites(path: Path) -> list[str]:
    """Where a source file writes a docstring at import: an assignment to ``__doc__``
    (``function.__doc__ = ...``, or a module's ``__doc__ = ...``), ``setattr(x, "__doc__",
    ...)``, or a template method on a docstring (``.__doc__.replace(...)``,
    ``.format(...)``, ``% ...``). Reading ``__doc__`` (``__doc__.splitlines()[0]``) is
    fine."""
    found = []

    def is_doc(node):
        return ((isinstance(node, ast.Attribute) and node.attr == "__doc__") or
                (isinstance(node, ast.Name) and node.id == "__doc__"))

    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        targets = (node.targets if isinstance(node, ast.Assign) else
                   [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else [])
        if any(is_doc(target) for target in targets):
            found.append(f"{where(path, node)}: assigns to __doc__")
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id == "setattr" and len(node.args) > 1
              and isinstance(node.args[1], ast.Constant) and node.args[1].value == "__doc__"):
            found.append(f"{where(path, node)}: setattr(..., '__doc__', ...)")
        elif (isinstance(node, ast.Attribute) and node.attr in TEMPLATE_METHODS
              and is_doc(node.value)):
            found.append(f"{where(path, node)}: __doc__.{node.attr}(...)")
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and is_doc(node.left):
            found.append(f"{where(path, node)}: __doc__ % ...")
    return found


def test_placeholder_rule_tells_templates_from_braces():
    assert placeholders("Parameters\n----------\n{titles}\n{ncols}") == ["{titles}", "{ncols}"]
    assert placeholders("Step k uses {baseline} here.") == ["{baseline}"]
    legitimate = ["``conv{k}``", "``\"{layer name}/{index}\"``", "``{\"conv2\": ...}``",
                  ":math:`\\frac{a}{b}`", "\\frac{a}{b}", "block{N}_add", "```{exercise} T```",
                  ">>> {x} | {y}\n{...}\n", "``[f\"filter {f}\" for f in filters]``"]
    for text in legitimate:
        assert placeholders(text) == [], text


def test_no_template_placeholders_in_public_docstrings():
    """No public docstring in ``helpers/`` says ``{name}`` where a template would fill in
    text: the source must read as ``help()`` shows it."""
    found = [f"{where(path, node)} {getattr(node, 'name', '<module>')}: {', '.join(names)}"
             for path in SOURCES for node, docstring in public_docstrings(path)
             if (names := placeholders(docstring))]
    assert not found, ("docstrings with template placeholders (write the text out in the "
                       "source):\n" + "\n".join(found))


def test_no_module_rewrites_a_docstring():
    """No module in ``helpers/`` (private ones included) writes a docstring at import: that
    is how a template gets filled, and an editor's hover would show the template."""
    found = [line for path in SOURCES for line in docstring_rewrites(path)]
    assert not found, "docstrings rewritten at import:\n" + "\n".join(found)


# -- The examples run ---------------------------------------------------------------------

#: Never imported here: running the module is running the program.
NEVER_IMPORTED = {"helpers.grade.__main__": "importing it runs the grader"}
#: Modules that need an optional extra of the package, and the extra's packages: their
#: docstrings are skipped (with this reason, shown by ``pytest -rs``) only when one of these
#: packages is missing; any other import error fails the collection.
OPTIONAL = {
    name: ("grade", {"nbformat", "nbclient", "jupyter_core", "traitlets"})
    for name in ("helpers.grade", "helpers.grade.book", "helpers.grade.grader",
                 "helpers.grade.judge", "helpers.grade.kernel", "helpers.grade.results")
}
#: What every example may use without importing it: ``np`` as in NumPy's own docstrings,
#: and the package the reader has imported. Anything else an example imports itself.
EXTRAGLOBS = {"np": np, "helpers": helpers}
OPTIONFLAGS = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS
#: NumPy's default print options: the examples print the same whatever a notebook or an
#: earlier test set (``helpers.setup()`` sets ``precision=3, suppress=True``).
NUMPY_PRINT_DEFAULTS = dict(precision=8, threshold=1000, edgeitems=3, linewidth=75,
                            suppress=False, nanstr="nan", infstr="inf", sign="-",
                            floatmode="maxprec", legacy=False)
SEED = 0


def collect_doctests():
    """One ``pytest.param`` per docstring with examples, in every module of ``helpers/``."""
    params = []
    finder = doctest.DocTestFinder(exclude_empty=True)
    for path in SOURCES:
        name = module_name(path)
        if name in NEVER_IMPORTED:
            continue
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as error:
            extra, packages = OPTIONAL.get(name, (None, set()))
            if (error.name or "").split(".")[0] not in packages:
                raise
            params.append(pytest.param(None, id=name, marks=pytest.mark.skip(
                reason=f"{name} needs the [{extra}] extra: {error}")))
            continue
        for test in finder.find(module, name, extraglobs=EXTRAGLOBS):
            if test.examples:
                params.append(pytest.param(test, id=test.name))
    return sorted(params, key=lambda param: param.id)


DOCTESTS = collect_doctests()


def test_the_lists_of_modules_name_real_modules():
    names = {module_name(path) for path in SOURCES}
    assert set(NEVER_IMPORTED) <= names and set(OPTIONAL) <= names


@pytest.mark.parametrize("test", DOCTESTS)
def test_docstring_examples(test):
    """The docstring's examples print what they say, each docstring from a fresh seed
    (``keras.utils.set_random_seed(0)``: Python, NumPy and TensorFlow) under NumPy's default
    print options; whitespace is normalized and ``...`` matches anything."""
    runner = doctest.DocTestRunner(optionflags=OPTIONFLAGS)
    report = []
    keras.utils.set_random_seed(SEED)
    with np.printoptions(**NUMPY_PRINT_DEFAULTS):
        result = runner.run(test, out=report.append)
    if result.failed:
        pytest.fail("".join(report), pytrace=False)


def runs_an_example(function) -> bool:
    """Whether ``function``'s docstring has an ``Examples`` section with an example that
    the doctests run (not all marked ``+SKIP``)."""
    docstring = inspect.getdoc(function) or ""
    if not re.search(r"^Examples\n--------$", docstring, re.MULTILINE):
        return False
    tests = doctest.DocTestFinder(recurse=False).find(function, function.__name__,
                                                     globs={})
    return any(not example.options.get(doctest.SKIP)
               for test in tests for example in test.examples)


def test_public_explain_functions_have_examples():
    """Every function in ``helpers.explain.__all__`` shows how it is called, in an
    ``Examples`` section that the doctests above run."""
    functions = [getattr(explain, name) for name in explain.__all__
                 if inspect.isfunction(getattr(explain, name))]
    lacking = [f"{function.__module__}.{function.__name__}" for function in functions
               if not runs_an_example(function)]
    assert not lacking, ("public helpers.explain functions without an Examples section that "
                         "runs:\n" + "\n".join(lacking))

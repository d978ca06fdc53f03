"""The helpers as a package: what `pip install` asks for, and what `import helpers` checks."""

from __future__ import annotations

import ast
import importlib.metadata
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
from packaging.requirements import Requirement
from packaging.version import Version

from helpers._setup import OLDEST_TENSORFLOW, check_tensorflow_version

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def requirement_name(requirement: str) -> str:
    """``"scikit-image>=0.25"`` -> ``"scikit-image"``, normalized as pip compares names."""
    for mark in "<>=!~;[ ":
        requirement = requirement.split(mark)[0]
    return requirement.lower().replace("_", "-")


def third_party_imports() -> set[str]:
    """The top-level modules that the helpers' code imports, outside the standard library."""
    names = set()
    for path in (ROOT / "helpers").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {name for name in names
            if name not in sys.stdlib_module_names and name not in {"helpers", "__future__"}}


def test_every_module_the_helpers_import_is_declared():
    """A module imported but not declared works here (something else installed it) and fails
    for a reader who installs the helpers alone (as scipy would have, through evaluate)."""
    declared = {requirement_name(r) for r in PROJECT["dependencies"]}
    declared |= {requirement_name(r) for extra in PROJECT["optional-dependencies"].values()
                 for r in extra}
    distributions = importlib.metadata.packages_distributions()
    imported = third_party_imports()
    assert {"tensorflow", "keras", "numpy", "scipy"} <= imported
    for module in sorted(imported):
        names = {requirement_name(d) for d in distributions.get(module, [module])}
        # tensorflow-cpu installs the module `tensorflow` that the extra's `tensorflow` names
        names |= {name.removesuffix("-cpu") for name in names}
        assert names & declared, f"helpers import {module}, which pyproject.toml does not list"


def test_tensorflow_is_an_extra_so_tensorflow_cpu_serves():
    """pip does not count tensorflow-cpu as tensorflow: a hard requirement would install the
    second beside the first. The extra states the same floor as the check on import."""
    assert "tensorflow" not in {requirement_name(r) for r in PROJECT["dependencies"]}
    floor = ".".join(map(str, OLDEST_TENSORFLOW))
    assert PROJECT["optional-dependencies"]["tensorflow"] == [f"tensorflow>={floor}"]


def test_keras_has_a_floor_and_no_upper_bound():
    """A bound above would make pip downgrade the Keras a learner's Colab has (`make newest`
    tests the newest release instead); the floor is the Keras `make compat` tests."""
    keras = [Requirement(r) for r in PROJECT["dependencies"] if requirement_name(r) == "keras"]
    assert len(keras) == 1
    compat = (ROOT / "requirements-compat.txt").read_text()
    (oldest,) = [line.split("==")[1] for line in compat.splitlines()
                 if line.startswith("keras==")]
    bounds = [(specifier.operator, Version(specifier.version)) for specifier in keras[0].specifier]
    assert bounds == [(">=", Version(oldest))], f"pyproject.toml asks for {keras[0]}"


@pytest.mark.parametrize("version", ["2.19.0", "2.21.0", "2.22.0-dev20261101", "3.0.0"])
def test_a_supported_tensorflow_passes(version):
    check_tensorflow_version(version)


@pytest.mark.parametrize("version", ["2.18.1", "2.15.0", "1.15.5"])
def test_an_older_tensorflow_is_named_with_what_to_install(version):
    with pytest.raises(ImportError, match=rf"2\.19 or newer; this Python has TensorFlow "
                                          rf"{version}\. Install it with `pip install"):
        check_tensorflow_version(version)


def test_import_without_tensorflow_says_what_to_install():
    """In a Python where `import tensorflow` fails, `import helpers` raises one ImportError
    that says what to install, not a ModuleNotFoundError from deep inside."""
    code = """if True:
        import sys
        class NoTensorFlow:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "tensorflow":
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        sys.meta_path.insert(0, NoTensorFlow())
        try:
            import helpers
        except ImportError as error:
            print(type(error).__name__, error)
    """
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ImportError The course helpers need TensorFlow 2.19 or "
                                    "newer, and this Python has none. Install it with `pip "
                                    "install tensorflow`"), result.stdout
    assert "tensorflow-cpu" in result.stdout and "[tensorflow]" in result.stdout


def test_no_function_shadows_the_module_it_lives_beside():
    """``helpers.explain.X`` is the submodule ``X`` whenever one exists: a function of the
    same name exported in its place would hide the module (``helpers.explain.cam.GradCAM``
    was an AttributeError while ``cam.py`` held ``cam``)."""
    import pkgutil

    import helpers
    import helpers.explain

    shadowed = []
    for package in (helpers, helpers.explain):
        for info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            if getattr(package, info.name) is not module:
                shadowed.append(module.__name__)
    assert shadowed == []

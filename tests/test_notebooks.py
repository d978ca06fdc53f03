"""The notebooks' structure: what nbval's output comparison does not check by itself."""

import json
import re
from pathlib import Path

import pytest
import yaml
from nbval.plugin import find_comment_markers

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())


def cells(path: Path, kind: str | None = None) -> list[dict]:
    notebook = json.loads(path.read_text())
    return [c for c in notebook["cells"] if kind is None or c["cell_type"] == kind]


def source(cell: dict) -> str:
    return "".join(cell["source"])


def toc_files(entries) -> list[str]:
    found = []
    for entry in entries:
        if "file" in entry:
            found.append(entry["file"])
        for key in ("parts", "chapters", "sections"):
            found += toc_files(entry.get(key, []))
    return found


def test_every_notebook_is_in_the_toc_and_back():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    listed = [f for f in [toc["root"], *toc_files(toc["parts"])] if f.startswith("notebooks/")]
    assert sorted(listed) == [f"notebooks/{p.stem}" for p in NOTEBOOKS]
    assert NOTEBOOKS, "no notebooks found"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_named_in_reading_order(path):
    assert re.fullmatch(r"\d\d_[a-z0-9_]+", path.stem), "name notebooks NN_topic.ipynb"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_first_code_cell_is_the_setup_cell(path):
    first = source(cells(path, "code")[0])
    assert "helpers.setup()" in first
    # On Colab the cell installs the helpers from the repository the book names.
    assert f'"git+{CONFIG["repository"]["url"]}"' in first


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_saved_from_one_fresh_run_without_errors_or_stderr(path):
    code = [c for c in cells(path, "code") if source(c).strip()]
    assert [c["execution_count"] for c in code] == list(range(1, len(code) + 1))
    for cell in code:
        for output in cell["outputs"]:
            assert output["output_type"] != "error", source(cell)[:200]
            assert output.get("name") != "stderr", f"stderr in: {source(cell)[:200]}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_ignored_outputs_take_effect_and_say_why(path):
    for cell in cells(path, "code"):
        lines = source(cell).splitlines()
        for index, line in enumerate(lines):
            if "NBVAL_" not in line:
                continue
            # nbval only honours a marker alone in its comment: "# NBVAL_IGNORE_OUTPUT".
            assert dict(find_comment_markers(line)), (
                f"nbval ignores {line!r}: put the marker alone on its line, the reason in the "
                "comment on the next line")
            reason = lines[index + 1].strip() if index + 1 < len(lines) else ""
            assert reason.startswith("#") and len(reason.strip("#( ")) >= 10, (
                f"say why on the line after {line!r}")
        assert not {"nbval-ignore-output", "nbval-skip"} & set(cell["metadata"].get("tags", []))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_exercises_with_checks_and_collapsed_solutions(path):
    markdown = "\n".join(source(c) for c in cells(path, "markdown"))
    labels = re.findall(r"```\{exercise\}[^\n]*\n:label: (\S+)", markdown)
    assert len(labels) >= 3, "each chapter ends with at least 3 exercises"
    for label in labels:
        assert re.search(r"```\{solution-start\} " + re.escape(label) + r"\n:class: dropdown",
                         markdown), f"exercise {label} has no collapsed solution"
    code = "\n".join(source(c) for c in cells(path, "code"))
    assert code.count("helpers.exercises.check_") >= len(labels)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_legacy_tf1_code_is_quoted_never_run(path):
    code = "\n".join(source(c) for c in cells(path, "code"))
    for legacy in ("tf.Session", "K.gradients", "tf.gradients(", "tf.compat.v1"):
        assert legacy not in code

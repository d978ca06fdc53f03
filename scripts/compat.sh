#!/usr/bin/env bash
# `make compat`: the course on the oldest TensorFlow/Keras pair it supports (the floors in
# pyproject.toml, pinned with their companions in requirements-compat.txt).
#   1. a second virtual environment, $COMPAT_VENV (default .venv-compat), with
#      requirements-compat.txt and `helpers` (editable, no dependencies), made again only
#      when requirements-compat.txt changes;
#   2. the helpers' unit tests, $COMPAT_TESTS (the Makefile lists them);
#   3. every notebook top to bottom with nbclient, $COMPAT_JOBS (default 2) at a time.
#      Errors fail; outputs are not compared (the last digits may differ on other versions).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${COMPAT_VENV:-.venv-compat}
PYTHON=${PYTHON:-python3}
TESTS=${COMPAT_TESTS:-tests/test_explain.py tests/test_plot.py tests/test_conv.py tests/test_data.py tests/test_models.py}
export COMPAT_JOBS=${COMPAT_JOBS:-2}

say() { printf '[compat] %s\n' "$*"; }
clock() { date +%s; }

start=$(clock)
stamp="$VENV/.installed"
wanted=$(sha256sum < requirements-compat.txt | cut -c1-16)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
    say "creating $VENV with requirements-compat.txt"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -r requirements-compat.txt
    "$VENV/bin/python" -m pip install --quiet --no-deps -e .
    "$VENV/bin/python" -m ipykernel install --sys-prefix --name python3 >/dev/null
    echo "$wanted" > "$stamp"
fi
"$VENV/bin/python" -c 'import keras, tensorflow as tf; print(f"[compat] TensorFlow {tf.__version__}, Keras {keras.__version__}")' 2>/dev/null
ready=$(clock)
say "environment ready in $((ready - start)) s"

# shellcheck disable=SC2086  # a list of test files
"$VENV/bin/python" -m pytest -q -p no:cacheprovider $TESTS
tested=$(clock)
say "unit tests in $((tested - ready)) s"

"$VENV/bin/python" - <<'EOF'
"""Every notebook, run in notebooks/ like the book does; the first error fails."""
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
from nbclient import NotebookClient

folder = Path("notebooks").resolve()


def run(path):
    notebook = nbformat.read(path, as_version=4)
    began = time.monotonic()
    client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(folder)}})
    try:
        client.execute()
    except Exception as error:  # a failing cell, a timeout, a dead kernel
        return path, time.monotonic() - began, f"{type(error).__name__}: {str(error)[-3000:]}"
    return path, time.monotonic() - began, None


with ThreadPoolExecutor(max_workers=int(os.environ["COMPAT_JOBS"])) as pool:
    results = list(pool.map(run, sorted(folder.glob("*.ipynb"))))
for path, seconds, error in results:
    print(f"[compat] {path.name}: {'FAILED' if error else 'ok'} in {seconds:.0f} s")
    if error:
        print(error)
failed = sum(error is not None for _, _, error in results)
print(f"{len(results) - failed} passed, {failed} failed")
sys.exit(1 if failed else 0)
EOF
say "notebooks in $(($(clock) - tested)) s; all in $(($(clock) - start)) s"

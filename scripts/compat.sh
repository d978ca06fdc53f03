#!/usr/bin/env bash
# `make compat`: the course on the oldest TensorFlow/Keras pair it supports (the floors in
# pyproject.toml, pinned with their companions in requirements-compat.txt).
#   1. a second virtual environment, $COMPAT_VENV (default .venv-compat), with
#      requirements-compat.txt and `helpers` (editable, no dependencies), made again only
#      when requirements-compat.txt changes;
#   2. the helpers' unit tests, $COMPAT_TESTS (the Makefile lists them);
#   3. every notebook top to bottom, in its student edition, $COMPAT_JOBS (default 2) at a
#      time: errors fail, and every self-check must answer "Not yet"; outputs are not
#      compared (the last digits may differ on other versions).
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

# The student edition of every notebook (solutions out: scripts/student.py), top to bottom on
# this pair, two at a time: one run checks both that the chapters run on the oldest pair and
# that the student edition runs, every self-check answering "Not yet" (tests/test_student.py).
# (The solution cells themselves do not run here; the exercise tests above run every
# self-check on this pair, on right and on wrong answers.)
STUDENT_CHECK=1 STUDENT_JOBS="$COMPAT_JOBS" "$VENV/bin/python" -m pytest -q -p no:cacheprovider \
    tests/test_student.py -k notebook_runs
say "notebooks in $(($(clock) - tested)) s; all in $(($(clock) - start)) s"

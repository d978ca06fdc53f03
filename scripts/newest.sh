#!/usr/bin/env bash
# `make newest`: the helpers on the newest TensorFlow and Keras the registry offers, whatever
# requirements.txt pins. pyproject.toml leaves Keras unbounded above (a bound would make pip
# downgrade Colab's Keras), so learners get a new release the day it ships; this shows the
# same day whether the helpers still work on it.
#   1. ask the registry for the newest release of keras and of tensorflow-cpu (tensorflow
#      off Linux x86-64, as in requirements.txt);
#   2. a third virtual environment, $NEWEST_VENV (default .venv-newest), with requirements.txt,
#      then those two releases over it (pip moves a pin they conflict with, numpy say, and
#      nothing else), and `helpers` (editable, no dependencies); made again only when the
#      registry's newest or requirements.txt change. When the registry does not answer, the
#      one made before serves;
#   3. the helpers' unit tests, $NEWEST_TESTS (the Makefile passes compat's list).
# pip's download cache serves what `make setup` downloaded: only a new release is fetched.
# On any failure its last line says what failed, on which versions, and it exits 1: CI
# reports that and still passes (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${NEWEST_VENV:-.venv-newest}
PYTHON=${PYTHON:-python3}
TESTS=${NEWEST_TESTS:-tests/test_explain.py tests/test_plot.py tests/test_conv.py tests/test_data.py tests/test_models.py}

say() { printf '[newest] %s\n' "$*"; }
clock() { date +%s; }
venv_pip() { "$VENV/bin/python" -m pip "$@"; }
make_venv() {
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
}

step="create $VENV"
versions=""
report() {
    [ "$1" = 0 ] && return
    if [ "$step" = test ]; then
        say "FAILED on $versions: the helpers break on the newest release (the tests above)."
    else
        say "FAILED to $step${versions:+ ($versions)}: the helpers were not tested."
    fi
}
trap 'report $?' EXIT

start=$(clock)
# The same choice as requirements.txt's markers: tensorflow-cpu on Linux x86-64.
tensorflow=$("$PYTHON" -c 'import platform, sys
print("tensorflow-cpu" if sys.platform == "linux" and platform.machine() == "x86_64"
      else "tensorflow")')
stamp="$VENV/.installed"
fresh=""
if [ ! -x "$VENV/bin/python" ]; then
    make_venv
    fresh=1
fi

# Releases only, the ones pip installs for a learner (and Colab): a release candidate that
# breaks the helpers may be fixed before it ships, and would be an alarm about nothing.
# Asked through the environment's own pip, so that a release without a wheel for this Python
# and this machine does not count. Short timeouts: a registry that does not answer is
# reported, not waited for.
step="ask the registry for the newest releases (pip index versions keras)"
newest() {
    venv_pip index versions --timeout 15 --retries 1 "$1" 2>/dev/null \
        | sed -n "s/^$1 (\(.*\))\$/\1/p"
}
keras=$(newest keras) || keras=""
tf=$(newest "$tensorflow") || tf=""
if [ -z "$keras" ] || [ -z "$tf" ]; then
    [ -f "$stamp" ] || exit 1
else
    wanted="$(cat requirements.txt pyproject.toml | sha256sum | cut -c1-16)"
    wanted="$wanted keras==$keras $tensorflow==$tf"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
        step="install them into $VENV"
        versions="Keras $keras / TensorFlow $tf"
        say "creating $VENV: requirements.txt, then Keras $keras and $tensorflow $tf"
        [ -n "$fresh" ] || make_venv
        venv_pip install --quiet --upgrade pip
        venv_pip install --quiet -r requirements.txt
        # The versions just asked for, exactly (one released in between waits for the next
        # run); pip upgrades what else they need, and nothing more.
        venv_pip install --quiet "keras==$keras" "$tensorflow==$tf"
        venv_pip install --quiet --no-deps -e .
        "$VENV/bin/python" -m ipykernel install --sys-prefix --name python3 >/dev/null
        echo "$wanted" > "$stamp"
    fi
fi

# What is installed, as Python imports it, and what differs from requirements.txt.
step="import TensorFlow and Keras in $VENV"
read -r tf_installed keras_installed < <("$VENV/bin/python" -c 'import keras, tensorflow as tf
print(tf.__version__, keras.__version__)' 2>/dev/null)
[ -n "$keras_installed" ]
versions="Keras $keras_installed / TensorFlow $tf_installed"
if [ -n "$keras" ]; then
    say "TensorFlow $tf_installed, Keras $keras_installed (newest on the registry)"
else
    say "TensorFlow $tf_installed, Keras $keras_installed (installed before: the registry" \
        "did not answer)"
fi
"$VENV/bin/python" - <<'EOF'
import importlib.metadata
import re
from pathlib import Path

moved = []
for line in Path("requirements.txt").read_text().splitlines():
    pin = re.match(r"([A-Za-z0-9_.-]+)==([^;\s]+)", line)
    if pin:
        try:
            version = importlib.metadata.version(pin[1])
        except importlib.metadata.PackageNotFoundError:
            continue  # TensorFlow's name on other machines
        if version != pin[2]:
            moved.append(f"{pin[1]} {pin[2]} -> {version}")
print("[newest]", f"moved from requirements.txt: {', '.join(moved)}" if moved
      else "every package as requirements.txt pins it")
EOF
ready=$(clock)
say "environment ready in $((ready - start)) s"

step="test"
# shellcheck disable=SC2086  # a list of test files
"$VENV/bin/python" -m pytest -q -p no:cacheprovider $TESTS
say "passed on $versions: unit tests in $(($(clock) - ready)) s, all in $(($(clock) - start)) s"
# requirements.txt's pin is the newest Keras the book is tested with (`make test`).
pinned=$(sed -n 's/^keras==//p' requirements.txt)
if [ "$keras_installed" = "$pinned" ]; then
    say "requirements.txt pins keras==$pinned (the newest Keras tested): the same"
else
    say "requirements.txt pins keras==$pinned (the newest Keras tested): raise it to" \
        "$keras_installed once \`make test\` passes there"
fi

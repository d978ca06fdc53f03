#!/usr/bin/env bash
# Make this checkout ready to build the book and run the tests, on a fresh machine or an
# old one. Every step is skipped when already done, so `make book` and `make test` can
# call it every time.
#   1. a virtual environment in $VENV (default .venv) with requirements.txt and `helpers`
#   2. Fashion-MNIST from Debian's `dataset-fashion-mnist` (where apt-get runs as root)
#   3. Debian's `chromium`, which the tests use to open the built book like a reader
#   4. MathJax 3 from npm into .mathjax/, which the book ships so its math renders offline
#   5. TensorFlow.js from npm into .tfjs/, which the book ships for "Explain your own photo"
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

say() { printf '[setup] %s\n' "$*"; }

# 1. Python packages, reinstalled only when requirements.txt or pyproject.toml change.
stamp="$VENV/.installed"
wanted=$(cat requirements.txt pyproject.toml | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
    say "creating $VENV and installing requirements.txt (a few minutes the first time)"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -r requirements.txt
    "$VENV/bin/python" -m pip install --quiet --no-deps -e .
    "$VENV/bin/python" -m ipykernel install --sys-prefix --name python3 >/dev/null
    echo "$wanted" > "$stamp"
fi

# 2 and 3. System packages, where we are allowed to install them.
need=()
[ -f /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz ] || need+=(dataset-fashion-mnist)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v npm >/dev/null 2>&1 || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        say "installing Debian packages: ${need[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null
        apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    else
        say "not root or no apt-get: skipping ${need[*]}."
        say "Fashion-MNIST will be downloaded by Keras on first use; the browser check of the book is skipped."
    fi
fi

# 4. MathJax, copied into the built book (_config.yml: html_static_path, mathjax_path) so that
# _build/html typesets its formulas without a network. Jupyter Book 1.x uses MathJax 3.
MATHJAX_VERSION=3.2.2
if [ "$(cat .mathjax/.version 2>/dev/null)" != "$MATHJAX_VERSION" ]; then
    if command -v npm >/dev/null 2>&1; then
        say "installing MathJax $MATHJAX_VERSION from npm into .mathjax/"
        tmp=$(mktemp -d)
        (cd "$tmp" && npm pack --silent "mathjax@$MATHJAX_VERSION" >/dev/null && tar xzf mathjax-*.tgz)
        rm -rf .mathjax && mkdir .mathjax
        cp -r "$tmp/package/es5" .mathjax/mathjax
        cp "$tmp/package/LICENSE" .mathjax/mathjax/
        echo "$MATHJAX_VERSION" > .mathjax/.version
        rm -rf "$tmp"
    else
        say "npm not found: cannot install MathJax, so \`make book\` fails; install Node.js and npm."
    fi
fi

# 5. TensorFlow.js, copied into the built book (_config.yml: html_static_path) for the page
# "Explain your own photo" (book/explorer.md), which runs EfficientNet-Lite0 in the reader's
# browser without a network: the browser bundle tf.min.js (its first lines carry its
# Apache-2.0 licence notice) and the WebAssembly backend, whose SIMD binary is wrapped in a
# script (a page opened from file:// may not fetch a .wasm file; it may run a <script>).
TFJS_VERSION=4.22.0
if [ "$(cat .tfjs/.version 2>/dev/null)" != "$TFJS_VERSION" ] || [ ! -f .tfjs/static/tfjs/wasm-simd.js ]; then
    if command -v npm >/dev/null 2>&1; then
        say "installing TensorFlow.js $TFJS_VERSION from npm into .tfjs/"
        tmp=$(mktemp -d)
        (cd "$tmp" && npm pack --silent "@tensorflow/tfjs@$TFJS_VERSION" \
            "@tensorflow/tfjs-backend-wasm@$TFJS_VERSION" >/dev/null \
            && mkdir tfjs wasm && tar xzf tensorflow-tfjs-"$TFJS_VERSION".tgz -C tfjs \
            && tar xzf tensorflow-tfjs-backend-wasm-*.tgz -C wasm)
        rm -rf .tfjs && mkdir -p .tfjs/static/tfjs
        cp "$tmp/tfjs/package/dist/tf.min.js" "$tmp/wasm/package/dist/tf-backend-wasm.min.js" \
            .tfjs/static/tfjs/
        "$VENV/bin/python" scripts/export_tfjs.py --wasm \
            "$tmp/wasm/package/dist/tfjs-backend-wasm-simd.wasm" .tfjs/static/tfjs/wasm-simd.js
        echo "$TFJS_VERSION" > .tfjs/.version
        rm -rf "$tmp"
    else
        say "npm not found: cannot install TensorFlow.js, so \`make book\` fails; install Node.js and npm."
    fi
fi

"""One call that makes every notebook start the same way.

Introduced in chapter 01 (``notebooks/01_convolution.ipynb``), first code cell.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import warnings

# TensorFlow reads these once, when it is first imported, so they are set on
# ``import helpers``, before any notebook imports TensorFlow itself.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # C++ INFO and WARNING lines
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


#: The oldest TensorFlow the helpers are tested with (``make compat``). TensorFlow is not one
#: of the package's install requirements, so that ``tensorflow`` and ``tensorflow-cpu`` (a
#: different name to pip, the same module) both serve; it is the extra ``[tensorflow]``.
OLDEST_TENSORFLOW = (2, 19)

_INSTALL = ("Install it with `pip install tensorflow` (or `tensorflow-cpu`, the same without "
            "GPU support), or the helpers with their extra: `pip install "
            "\"inside-the-convnet-helpers[tensorflow] @ "
            "git+https://github.com/inside-the-convnet/inside-the-convnet\"`.")


def check_tensorflow_version(version: str) -> None:
    """Raise ImportError, saying what to install, if ``version`` is older than 2.19."""
    found = tuple(int(part) for part in re.findall(r"\d+", version)[:2])
    if found < OLDEST_TENSORFLOW:
        raise ImportError(f"The course helpers need TensorFlow 2.19 or newer; this Python has "
                          f"TensorFlow {version}. {_INSTALL}")


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow with the process's stderr (file descriptor 2) sent to /dev/null.

    On CPUs where TensorFlow turns on its oneDNN operations, its C++ code prints an
    information line (and absl's "All log messages before absl::InitializeLog()") while it
    loads, before ``TF_CPP_MIN_LOG_LEVEL`` is read; Jupyter would show them under the first
    cell, on some machines and not on others. Python errors are not affected: an exception
    raised by the import is reported after stderr is restored.
    """
    if "tensorflow" in sys.modules:
        return
    try:
        saved = os.dup(2)
    except OSError:  # no stderr to silence
        import tensorflow  # noqa: F401
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    if sys.stderr is not None:
        sys.stderr.flush()  # what Python has written so far still goes out
    try:
        os.dup2(devnull, 2)
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


try:
    _import_tensorflow_quietly()
except ModuleNotFoundError as error:
    if error.name != "tensorflow":
        raise
    raise ImportError(f"The course helpers need TensorFlow 2.19 or newer, and this Python has "
                      f"none. {_INSTALL}") from None
check_tensorflow_version(sys.modules["tensorflow"].__version__)

DEFAULT_SEED = 0


def setup(seed: int = DEFAULT_SEED, deterministic: bool = True) -> None:
    """Seed every random generator, make TensorFlow deterministic and quiet, style plots.

    Parameters
    ----------
    seed
        Seed for Python's ``random``, NumPy's global generator and TensorFlow.
    deterministic
        Turn on ``tf.config.experimental.enable_op_determinism`` so that training and
        gradients give bit-identical results from run to run (at some cost in speed).

    Notes
    -----
    Call it again to reset the generators to the same state, for example before a cell
    whose random output an exercise checks.
    """
    import matplotlib as mpl
    import numpy as np
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    tf.get_logger().setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="keras")
    np.set_printoptions(precision=3, suppress=True, linewidth=100)

    mpl.rcParams.update(
        {
            "figure.dpi": 100,
            "figure.figsize": (6.0, 4.0),
            "image.cmap": "gray",
            "image.interpolation": "nearest",
            "axes.titlesize": 10,
            "font.size": 9,
            "savefig.bbox": "tight",
        }
    )

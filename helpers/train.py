"""Train the course model once and save it: ``python -m helpers.train``.

The notebooks load the committed result (:func:`helpers.load_course_model`) instead of
training. Chapter 02 shows the same training loop on a subset. On 2 CPU cores the full run
takes about 25 minutes and is bit-for-bit reproducible (seeded, op determinism).
"""

from __future__ import annotations

import argparse
import inspect
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from helpers._setup import setup  # first: imports TensorFlow quietly
from helpers.data import load_fashion_mnist
from helpers.models import COURSE_MODEL_PATH, build_course_model, preprocess, save_weights

if TYPE_CHECKING:
    import keras


def fit(model: keras.Model, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
        y_test: np.ndarray, epochs: int, batch_size: int, learning_rate: float, out: Path,
        verbose: int = 2) -> float:
    """Train with Adam and a cosine schedule, save the weights to ``out``, return the test
    accuracy. The test set is only reported after each epoch, never used to choose anything
    (no early stopping, no checkpoint selection): the last epoch's model is saved. Used by
    the course model, and by chapter 07's models (``helpers.shapes``, ``helpers.clever_hans``)."""
    import keras

    steps = epochs * -(-len(x_train) // batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=steps,
                                                      alpha=0.02)
    model.compile(optimizer=keras.optimizers.Adam(schedule),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, shuffle=True,
              validation_data=(x_test, y_test), verbose=verbose)
    _, accuracy = model.evaluate(x_test, y_test, batch_size=500, verbose=0)
    print(f"test accuracy {accuracy:.4f} after {epochs} epochs "
          f"({time.perf_counter() - start:.0f} s)")
    # Weights only: the file loads on every Keras 3 version (see helpers.models).
    save_weights(model, out)
    print(f"saved {out} ({out.stat().st_size / 1e6:.2f} MB)")
    return accuracy


def train(epochs: int = 12, batch_size: int = 128, seed: int = 0, out: Path = COURSE_MODEL_PATH,
          verbose: int = 2) -> float:
    """Train on all 60,000 training images, save to ``out``, return the test accuracy."""
    setup(seed)
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist()
    return fit(build_course_model(seed), preprocess(x_train), y_train, preprocess(x_test),
               y_test, epochs, batch_size, 2e-3, Path(out), verbose)


def command_line(train: Callable[..., object], description: str) -> None:
    """Run ``train`` with its keyword arguments read from the command line.

    Every int or path parameter of ``train`` (``--epochs``, ``--batch-size``, ``--out``, ...)
    becomes an option with the function's own default, so a training script states its
    defaults once, in its signature.
    """
    parser = argparse.ArgumentParser(description=description)
    for name, parameter in inspect.signature(train).parameters.items():
        default = parameter.default
        if name != "verbose" and isinstance(default, (int, Path)):
            parser.add_argument("--" + name.replace("_", "-"), type=type(default) if
                                isinstance(default, int) else Path, default=default)
    train(**vars(parser.parse_args()))


if __name__ == "__main__":
    command_line(train, __doc__.splitlines()[0])

"""The shapes model: a small convnet for the data set whose right answers are known.

Chapter 07 (``notebooks/07_evaluating_explanations.ipynb``) scores every explanation method
of the book on :func:`helpers.data.make_shapes`, where each image's object mask says where
the evidence is. This module builds that chapter's classifier, trains it
(``python -m helpers.shapes``, or ``make models-ch07``; seeded and deterministic, about
two minutes on 2 CPU cores) and loads the committed weights (:func:`load_shapes_model`).

Like the course model, it ends with global average pooling and one Dense layer, so that
every method of chapters 05 and 06, CAM included, applies to it.
"""

from __future__ import annotations

from pathlib import Path

import keras

from helpers._setup import setup
from helpers.data import SHAPE_CLASSES, make_shapes
from helpers.models import build_convnet, load_trained
from helpers.train import command_line, fit

#: The trained model's weights, committed next to this file (about 0.5 MB).
SHAPES_MODEL_PATH = Path(__file__).with_name("shapes_model.weights.npz")
SHAPES_SIZE = 64
#: Seeds of the training and test images: the test images are never trained on.
TRAIN_SEED, TEST_SEED = 0, 1


def build_shapes_model(seed: int = 0) -> keras.Model:
    """The shapes model's architecture, untrained (:func:`helpers.models.build_convnet`).

    Five 3x3 convolutions with ReLU (16, 32, 64, 64, 128 channels) and three 2x2 max
    poolings, from 64 x 64 down to an 8 x 8 grid, then global average pooling and one Dense
    layer with 4 logits, one per class of :data:`helpers.data.SHAPE_CLASSES`.

    Returns
    -------
    keras.Model
        Input ``(64, 64, 1)`` float32 in [0, 1], as :func:`helpers.data.make_shapes`
        returns it; output 4 logits (no softmax).
    """
    return build_convnet((16, "pool", 32, "pool", 64, 64, "pool", 128),
                         (SHAPES_SIZE, SHAPES_SIZE, 1), len(SHAPE_CLASSES), seed, "shapes_model")


def load_shapes_model(path: str | Path | None = None) -> keras.Model:
    """The trained shapes model, built by :func:`build_shapes_model` with the committed
    weights (no training).

    Parameters
    ----------
    path
        A weights file written by :func:`helpers.models.save_weights`; ``None`` loads the
        one that ships with ``helpers``.

    Returns
    -------
    keras.Model
        Input ``(64, 64, 1)``, output 4 logits; test accuracy 0.98 on
        ``make_shapes(1000, seed=TEST_SEED)``.
    """
    return load_trained(build_shapes_model(), SHAPES_MODEL_PATH if path is None else path,
                        "helpers.shapes")


def train(images: int = 8000, epochs: int = 6, batch_size: int = 32, seed: int = 0,
          out: Path = SHAPES_MODEL_PATH, verbose: int = 2) -> float:
    """Train the shapes model on ``make_shapes(images, seed=TRAIN_SEED)``, save it to
    ``out`` and return its accuracy on ``make_shapes(1000, seed=TEST_SEED)``."""
    setup(seed)
    x_train, y_train, _ = make_shapes(images, SHAPES_SIZE, seed=TRAIN_SEED)
    x_test, y_test, _ = make_shapes(1000, SHAPES_SIZE, seed=TEST_SEED)
    return fit(build_shapes_model(seed), x_train, y_train, x_test, y_test, epochs, batch_size,
               2e-3, Path(out), verbose)


if __name__ == "__main__":
    command_line(train, "Train the shapes model of chapter 07.")

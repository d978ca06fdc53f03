"""A "Clever Hans" model: right answers for the wrong reason, for chapter 07 to catch.

Clever Hans was a horse that seemed to count; it read its trainer's posture. This module
trains the convnet counterpart: on Fashion-MNIST images that carry, in their top-left
corner, a small mark that encodes the label (:func:`add_mark`), a classifier learns the
mark, because it is the easiest way to be right. On marked test images its accuracy looks
excellent; without the mark it collapses; with the mark of another class it follows the
mark. Chapter 07 (``notebooks/07_evaluating_explanations.ipynb``) shows that its heatmaps
point at the corner and measures it (:func:`corner_share`).

``python -m helpers.clever_hans`` (or ``make models-ch07``) retrains the committed weights,
seeded and deterministic, in about a minute on 2 CPU cores.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from helpers._setup import setup
from helpers._validate import check_index
from helpers.data import load_fashion_mnist
from helpers.models import INPUT_SHAPE, NUM_CLASSES, build_convnet, load_trained, preprocess
from helpers.train import command_line, fit

#: The trained model's weights, committed next to this file (about 0.3 MB).
CLEVER_HANS_MODEL_PATH = Path(__file__).with_name("clever_hans_model.weights.npz")
#: The mark's side in pixels: a 2 x 2 grid of 3 x 3-pixel cells in the top-left corner.
MARK_SIZE = 6
#: The corner whose share of a heatmap :func:`corner_share` measures: 8 x 8 pixels, the
#: 2 x 2 positions of ``conv5``'s 7 x 7 grid that see the mark.
CORNER_SIZE = 8
#: Training images (the first ones of Fashion-MNIST's training set).
TRAIN_IMAGES = 20000


def mark_pattern(label: int) -> np.ndarray:
    """The mark of one class: bool ``(6, 6)``, the 2 x 2 cells lit by the bits of
    ``label + 1`` (cell ``(r, c)`` by bit ``2 r + c``), so that no class has a blank mark."""
    label = check_index(label, NUM_CLASSES, "label", of=f"there are {NUM_CLASSES} classes")
    bits = np.array([(label + 1) >> bit & 1 for bit in range(4)], bool).reshape(2, 2)
    cell = MARK_SIZE // 2
    return np.kron(bits, np.ones((cell, cell), bool))


def add_mark(images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Fashion-MNIST images with each label's mark in the top-left corner.

    Parameters
    ----------
    images
        uint8 ``(N, 28, 28)``, as :func:`helpers.load_fashion_mnist` returns them.
    labels
        ints ``(N,)``: the class whose mark each image gets (its own label, or another one
        to see whom the model follows).

    Returns
    -------
    numpy.ndarray
        uint8 ``(N, 28, 28)``, a copy: the corner's 6 x 6 pixels are 255 where the mark is
        lit and 0 elsewhere.
    """
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise TypeError(f"expected uint8 images (N, 28, 28), got {images.dtype} "
                        f"{images.shape}")
    if labels.shape != images.shape[:1]:
        raise ValueError(f"expected one label per image, ({len(images)},); got {labels.shape}")
    patterns = np.stack([mark_pattern(label) for label in range(NUM_CLASSES)])
    marked = images.copy()
    marked[:, :MARK_SIZE, :MARK_SIZE] = np.where(patterns[labels], 255, 0)
    return marked


def corner_share(heatmaps: np.ndarray, size: int = CORNER_SIZE) -> np.ndarray:
    """The share of each heatmap's mass in the top-left ``size`` x ``size`` corner.

    On a 28 x 28 image the default corner (:data:`CORNER_SIZE`) is 64 of 784 pixels, 8% of
    the area: a map that ignores the corner puts about that share there or less.

    Parameters
    ----------
    heatmaps
        Non-negative ``(N, H, W)``.
    size
        Side of the corner, in pixels.

    Returns
    -------
    numpy.ndarray
        float64 ``(N,)`` in [0, 1]; 0 for an all-zero map.
    """
    heatmaps = np.asarray(heatmaps, dtype=np.float64)
    if heatmaps.ndim != 3:
        raise ValueError(f"expected heatmaps (N, H, W), got shape {heatmaps.shape}")
    total = heatmaps.sum(axis=(1, 2))
    corner = heatmaps[:, :size, :size].sum(axis=(1, 2))
    return np.divide(corner, total, out=np.zeros_like(total), where=total > 0)


def build_clever_hans_model(seed: int = 0) -> keras.Model:
    """A smaller course model: the same layer names and global average pooling, half the
    channels (16, 16, 32, 32, 64). Input ``(28, 28, 1)`` in [0, 1]; output 10 logits."""
    return build_convnet((16, 16, "pool", 32, 32, "pool", 64), INPUT_SHAPE, NUM_CLASSES, seed,
                         "clever_hans_model")


def load_clever_hans_model(path: str | Path | None = None) -> keras.Model:
    """The trained Clever Hans model with the committed weights (no training).

    Parameters
    ----------
    path
        A weights file written by :func:`helpers.models.save_weights`; ``None`` loads the
        one that ships with ``helpers``.

    Returns
    -------
    keras.Model
        Input ``(28, 28, 1)`` float32 in [0, 1] (``preprocess(add_mark(...))``), output
        10 logits.
    """
    return load_trained(build_clever_hans_model(),
                        CLEVER_HANS_MODEL_PATH if path is None else path, "helpers.clever_hans")


def accuracies(model: keras.Model, images: np.ndarray, labels: np.ndarray,
               seed: int = 0) -> dict[str, float]:
    """Accuracy on the images with their own mark, without a mark, and with the mark of
    another class (chosen at random, seeded)."""
    shift = np.random.default_rng(seed).integers(1, NUM_CLASSES, len(labels))
    other = (labels + shift) % NUM_CLASSES

    def accuracy(x):
        x = preprocess(x)
        logits = np.concatenate([np.asarray(model(x[start:start + 500]))
                                 for start in range(0, len(x), 500)])
        return float(np.mean(logits.argmax(axis=1) == labels))

    return {"marked": accuracy(add_mark(images, labels)), "unmarked": accuracy(images),
            "wrong mark": accuracy(add_mark(images, other))}


def train(images: int = TRAIN_IMAGES, epochs: int = 2, batch_size: int = 64, seed: int = 0,
          out: Path = CLEVER_HANS_MODEL_PATH, verbose: int = 2) -> dict[str, float]:
    """Train on the first ``images`` marked training images, save, and return the test
    accuracies of :func:`accuracies`."""
    setup(seed)
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist()
    x_train, y_train = x_train[:images], y_train[:images]
    model = build_clever_hans_model(seed)
    fit(model, preprocess(add_mark(x_train, y_train)), y_train,
        preprocess(add_mark(x_test, y_test)), y_test, epochs, batch_size, 2e-3, Path(out),
        verbose)
    scores = accuracies(model, x_test, y_test)
    print("test accuracy:", ", ".join(f"{k} {v:.4f}" for k, v in scores.items()))
    return scores


if __name__ == "__main__":
    command_line(train, "Train the Clever Hans model of chapter 07.")

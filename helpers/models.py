"""The course model: the small Fashion-MNIST classifier that every chapter explains.

Built and trained in chapter 02 (``notebooks/02_pooling_and_activations.ipynb``);
``python -m helpers.train`` retrains the committed copy.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

#: The trained model, committed next to this file (about 0.6 MB).
COURSE_MODEL_PATH = Path(__file__).with_name("course_model.keras")
INPUT_SHAPE = (28, 28, 1)
NUM_CLASSES = 10


def build_course_model(seed: int = 0) -> keras.Model:
    """The course model's architecture, untrained.

    Three blocks of 3x3 convolutions with ReLU, the first two followed by 2x2 max pooling,
    then global average pooling and one Dense layer that outputs 10 logits. Global average
    pooling right before the last Dense layer is what makes the class activation map of
    chapter 06 (CAM) exact for this model.

    Parameters
    ----------
    seed
        Seed of the weight initializers, so that two builds start from the same weights.

    Returns
    -------
    keras.Model
        Input ``(28, 28, 1)`` float32 in [0, 1]; output 10 logits (no softmax).
    """
    init = keras.initializers.HeNormal

    def conv(filters: int, name: str, index: int) -> keras.layers.Conv2D:
        return keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=name,
                                   kernel_initializer=init(seed=seed + index))

    return keras.Sequential(
        [
            keras.Input(INPUT_SHAPE, name="image"),
            conv(32, "conv1", 1),
            conv(32, "conv2", 2),
            keras.layers.MaxPooling2D(2, name="pool1"),
            conv(64, "conv3", 3),
            conv(64, "conv4", 4),
            keras.layers.MaxPooling2D(2, name="pool2"),
            conv(128, "conv5", 5),
            keras.layers.GlobalAveragePooling2D(name="gap"),
            keras.layers.Dense(NUM_CLASSES, name="logits",
                               kernel_initializer=keras.initializers.GlorotUniform(seed=seed)),
        ],
        name="course_model",
    )


def preprocess(images: np.ndarray) -> np.ndarray:
    """Fashion-MNIST images as the course model takes them.

    Parameters
    ----------
    images
        uint8 images ``(N, 28, 28)`` or ``(28, 28)``, as :func:`helpers.load_fashion_mnist`
        returns them.

    Returns
    -------
    numpy.ndarray
        float32 in [0, 1] with a channel axis: ``(N, 28, 28, 1)`` or ``(28, 28, 1)``.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError(f"expected uint8 images (0-255), got {images.dtype}")
    if images.shape[-2:] != INPUT_SHAPE[:2]:
        raise ValueError(f"expected images of shape (N, 28, 28) or (28, 28), got {images.shape}")
    return (images.astype(np.float32) / 255.0)[..., None]


def load_course_model(path: str | Path | None = None) -> keras.Model:
    """The trained course model, loaded from the committed file (no training).

    Parameters
    ----------
    path
        A ``.keras`` file; ``None`` loads the one that ships with ``helpers``.

    Returns
    -------
    keras.Model
        Input ``(28, 28, 1)`` float32 in [0, 1], output 10 logits; test accuracy 0.924 (>= 0.91).
    """
    path = Path(path) if path is not None else COURSE_MODEL_PATH
    if not path.is_file():
        raise FileNotFoundError(
            f"no course model at {path}; run `python -m helpers.train` to train one"
        )
    return keras.models.load_model(path, compile=False)

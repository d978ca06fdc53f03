"""The course model: the small Fashion-MNIST classifier that every chapter explains.

Built and trained in chapter 02 (``notebooks/02_pooling_and_activations.ipynb``);
``python -m helpers.train`` retrains the committed copy.

Committed models are stored as their weights only (:func:`save_weights`, a NumPy ``.npz``
file), never as a ``.keras`` file: a ``.keras`` file holds Keras' own configuration of each
layer, which an older Keras may not read (Keras 3.8 refuses the initializer configs that
3.15 writes), while an array of numbers loads anywhere. The architecture comes from the
code that builds it (:func:`build_course_model`).
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

#: The trained model's weights, committed next to this file (about 0.6 MB).
COURSE_MODEL_PATH = Path(__file__).with_name("course_model.weights.npz")
INPUT_SHAPE = (28, 28, 1)
NUM_CLASSES = 10


def build_convnet(layout: tuple[int | str, ...], input_shape: tuple[int, int, int],
                  num_classes: int, seed: int = 0, name: str = "convnet") -> keras.Model:
    """The book's small convnets, untrained: the course model and chapter 07's two.

    Parameters
    ----------
    layout
        The layers in order: an int is a 3x3 convolution with ReLU and that many channels
        (``conv1``, ``conv2``, ...), ``"pool"`` a 2x2 max pooling (``pool1``, ...); global
        average pooling (``gap``) and a Dense layer of logits (``logits``) follow.
    input_shape, num_classes, name
        The input ``(H, W, C)``, the number of logits (no softmax), the model's name.
    seed
        Seed of the initializers (He for ``conv{k}``: ``seed + k``; Glorot for the logits:
        ``seed``), so that two builds start from the same weights.
    """
    layers = [keras.Input(input_shape, name="image")]
    convs = pools = 0
    for part in layout:
        if part == "pool":
            pools += 1
            layers.append(keras.layers.MaxPooling2D(2, name=f"pool{pools}"))
        else:
            convs += 1
            layers.append(keras.layers.Conv2D(
                part, 3, padding="same", activation="relu", name=f"conv{convs}",
                kernel_initializer=keras.initializers.HeNormal(seed=seed + convs)))
    layers += [keras.layers.GlobalAveragePooling2D(name="gap"),
               keras.layers.Dense(num_classes, name="logits",
                                  kernel_initializer=keras.initializers.GlorotUniform(seed=seed))]
    return keras.Sequential(layers, name=name)


def build_course_model(seed: int = 0) -> keras.Model:
    """The course model's architecture, untrained: 3x3 convolutions with ReLU of 32, 32, 64,
    64 and 128 channels, a 2x2 max pooling after the second and the fourth, global average
    pooling and 10 logits (:func:`build_convnet`). Global average pooling right before the
    last Dense layer is what makes chapter 06's class activation map (CAM) exact for it.

    Returns
    -------
    keras.Model
        Input ``(28, 28, 1)`` float32 in [0, 1]; output 10 logits (no softmax).
    """
    return build_convnet((32, 32, "pool", 64, 64, "pool", 128), INPUT_SHAPE, NUM_CLASSES,
                         seed, "course_model")


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


def weight_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers that own weights, nested models opened, in the model's own order."""
    leaves = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            leaves += weight_layers(layer)
        elif layer.weights:
            leaves.append(layer)
    return leaves


def save_weights(model: keras.Model, path: str | Path) -> Path:
    """Save a model's weights as a NumPy ``.npz`` file that any Keras 3 version can load.

    Each array is stored under ``"{layer name}/{index}"``, in the order of
    ``layer.get_weights()`` (for ``Conv2D``: kernel, bias; for ``BatchNormalization``:
    gamma, beta, moving mean, moving variance).

    Parameters
    ----------
    model
        A built Keras model whose weight-owning layers have unique names.
    path
        Where to write; should end in ``.npz``.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    path = Path(path)
    arrays = {}
    for layer in weight_layers(model):
        for index, weight in enumerate(layer.get_weights()):
            key = f"{layer.name}/{index}"
            if key in arrays:
                raise ValueError(f"two layers are named {layer.name!r}; weights are stored by "
                                 "layer name, so names must be unique")
            arrays[key] = weight
    with path.open("wb") as file:  # a file object: np.savez would append ".npz" to a str
        np.savez(file, **arrays)
    return path


def load_weights(model: keras.Model, path: str | Path) -> keras.Model:
    """Load weights saved by :func:`save_weights` into a model of the same architecture.

    Parameters
    ----------
    model
        A built model with the same layer names and weight shapes as the saved one.
    path
        A ``.npz`` file written by :func:`save_weights`.

    Returns
    -------
    keras.Model
        ``model``, with its weights replaced.

    Raises
    ------
    ValueError
        If a layer's weights are missing from the file, have another shape, or the file
        holds weights for layers the model does not have.
    """
    path = Path(path)
    with np.load(path, allow_pickle=False) as stored:
        arrays = dict(stored)
    used = set()
    for layer in weight_layers(model):
        current = layer.get_weights()
        new = []
        for index, weight in enumerate(current):
            key = f"{layer.name}/{index}"
            if key not in arrays:
                raise ValueError(f"{path.name} has no weight {key!r}: was it saved from another "
                                 "architecture?")
            if arrays[key].shape != weight.shape:
                raise ValueError(f"{path.name}: weight {key!r} has shape {arrays[key].shape}, "
                                 f"the model expects {weight.shape}")
            new.append(arrays[key])
            used.add(key)
        layer.set_weights(new)
    unused = sorted(set(arrays) - used)
    if unused:
        raise ValueError(f"{path.name} holds weights the model has no place for: "
                         f"{', '.join(unused[:5])}{' ...' if len(unused) > 5 else ''}")
    return model


def load_trained(model: keras.Model, path: str | Path, script: str) -> keras.Model:
    """``model`` with the committed weights at ``path`` (:func:`load_weights`); when the
    file is missing, the error names the ``python -m`` script that trains them."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no {model.name} weights at {path}; run `python -m {script}` "
                                "to train them")
    return load_weights(model, path)


def load_course_model(path: str | Path | None = None) -> keras.Model:
    """The trained course model, built by :func:`build_course_model` and loaded with the
    committed weights (no training).

    Parameters
    ----------
    path
        A weights file written by :func:`save_weights`; ``None`` loads the one that ships
        with ``helpers``.

    Returns
    -------
    keras.Model
        Input ``(28, 28, 1)`` float32 in [0, 1], output 10 logits; test accuracy 0.924 (>= 0.91).
    """
    return load_trained(build_course_model(), COURSE_MODEL_PATH if path is None else path,
                        "helpers.train")

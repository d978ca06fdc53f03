"""Checking the arguments the methods share, once, before any graph code runs: each
message says what was expected. The checks the whole package shares (ints, sizes, indices,
finite arrays) are in :mod:`helpers._validate`; this module adds those that need a model."""

from __future__ import annotations

import re
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from helpers._validate import check_finite, check_index, check_size, is_int

#: ``None`` (each image's predicted class), one class for every image, or one per image.
ClassIndex = int | Sequence[int] | None


def check_model(model) -> None:
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model, got {type(model).__name__}")
    inputs = getattr(model, "inputs", None) if model.built else None
    if inputs is not None and len(inputs) != 1:
        raise ValueError(f"expected a model with one image input, {model.name!r} has "
                         f"{len(inputs)} inputs")


def as_image_batch(images, model: keras.Model, *, fixed_size: bool = True
                   ) -> tuple[np.ndarray, bool]:
    """``images`` as a float32 batch ``(N, H, W, C)``, and whether it was one image.

    With ``fixed_size=False`` only the channels must be those the model takes: the height
    and width may differ from its input size, for a caller that runs only a fully
    convolutional part of the model and says itself when a layer needs the model's size.
    """
    check_model(model)
    array = np.asarray(images)  # NumPy arrays, lists, eager tensors and variables alike
    if not (np.issubdtype(array.dtype, np.floating)):
        raise TypeError(f"images must be floating point, already preprocessed for the model "
                        f"(float32, e.g. uint8 / 255); got dtype {array.dtype}")
    if array.ndim not in (3, 4):
        raise ValueError(f"images must be one image (H, W, C) or a batch (N, H, W, C); got "
                         f"shape {array.shape}")
    single = array.ndim == 3
    if single:
        array = array[None]
    if array.shape[0] == 0:
        raise ValueError("expected at least one image, got an empty batch")
    expected = _model_image_shape(model)
    checked = slice(None) if fixed_size else slice(2, None)  # all of (H, W, C), or C
    if expected is not None and any(e is not None and e != a for e, a in zip(
            expected[checked], array.shape[1:][checked], strict=True)):
        if not fixed_size:
            raise ValueError(f"model {model.name!r} takes images with {expected[2]} channels "
                             f"(its input shape is {tuple(expected)}), got {array.shape[1:]}")
        raise ValueError(f"model {model.name!r} expects images of shape "
                         f"{tuple(expected)} (None = any), got {array.shape[1:]}")
    check_finite(array, "images")
    return np.ascontiguousarray(array, dtype=np.float32), single


def _model_image_shape(model) -> tuple | None:
    """``(H, W, C)`` the model takes (``None`` where any), or ``None`` if not known yet."""
    try:
        shape = model.input_shape
    except (AttributeError, ValueError):  # a model that has not been built yet
        return None
    if not isinstance(shape, tuple):  # several inputs: check_model reports it
        return None
    if len(shape) != 4:
        raise ValueError(f"expected a model that takes images (N, H, W, C); {model.name!r} "
                         f"takes {shape}")
    return tuple(shape[1:])


def image_shape_for(model: keras.Model, size) -> tuple[int, int, int]:
    """``(H, W, C)`` of the images to make for ``model``: its input size, or ``size``
    (``(H, W)`` or an int for a square) where it accepts any size."""
    shape = _model_image_shape(model)
    if shape is None or shape[-1] is None:
        raise ValueError(f"model {model.name!r} has no known input shape; build it first "
                         "(give it a keras.Input)")
    if size is None:
        if shape[0] is None or shape[1] is None:
            raise ValueError(f"model {model.name!r} accepts any image size; pass size=(H, W)")
        return tuple(int(d) for d in shape)
    return (*check_size(size), int(shape[2]))


def class_indices(class_index, n: int, num_classes: int) -> np.ndarray:
    """``class_index`` as int32 ``(n,)``; -1 means "the predicted class"."""
    def check(value):
        return check_index(value, num_classes, "class_index",
                           of=f"the model has {num_classes} classes",
                           expected="None, an int or a sequence of ints")

    if class_index is None:
        return np.full(n, -1, np.int32)
    if isinstance(class_index, (np.ndarray, tf.Tensor)):
        class_index = np.asarray(class_index)
        class_index = class_index.item() if class_index.ndim == 0 else list(class_index.ravel())
    if is_int(class_index):
        return np.full(n, check(class_index), np.int32)
    if isinstance(class_index, (str, bytes)) or not isinstance(class_index, Sequence):
        raise TypeError(f"class_index must be None, an int or a sequence of ints, got "
                        f"{type(class_index).__name__}")
    if len(class_index) != n:
        raise ValueError(f"got {len(class_index)} class indices for {n} images; give one per "
                         "image, a single int, or None")
    return np.array([check(v) for v in class_index], np.int32)


def as_baseline(baseline, batch: np.ndarray, accepted: str = "a number") -> np.ndarray:
    """A baseline (a number, one image, or one image per image) as a float32 batch.

    ``accepted`` names, for the error messages, what the caller takes besides arrays (for
    example "None, a number").
    """
    array = np.asarray(baseline)
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise TypeError(f"baseline must be {accepted} or a float array, got {array.dtype}")
    if array.ndim == 0:
        return np.full_like(batch, float(array))
    if array.shape == batch.shape[1:]:
        return np.broadcast_to(array, batch.shape).astype(np.float32)
    if array.shape == batch.shape:
        return array.astype(np.float32)
    raise ValueError(f"baseline must be a number, one image {batch.shape[1:]} or one per image "
                     f"{batch.shape}; got shape {array.shape}")


def error_reason(err: BaseException) -> str:
    """The line of an error from inside TensorFlow or Keras that says what went wrong,
    without the traceback that tracing adds, Keras' list of arguments or terminal colors."""
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in str(err).splitlines()]
    lines = [line for line in lines
             if line and not line.startswith(("•", "Arguments received", "File "))]
    return lines[-1] if lines else type(err).__name__

"""Self-checks for chapter 04 (notebooks/04_filter_visualization.ipynb), as the package
describes them; they run the learner's function on small synthetic images and gradients, so
that no model has to be loaded."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from helpers.exercises._common import Case, CheckResult, _as_number, check_answer, check_function

__all__ = [
    "check_ascent_step",
    "check_jitter",
    "check_single_unit_sizes",
    "check_total_variation",
]


# -- Exercise 1: total variation of a batch of images -------------------------------------
def image_batches() -> list[np.ndarray]:
    """Small image batches ``(N, H, W, C)`` in [0, 1].

    N, H, W and C all differ in the first batch, so that a sum over the wrong axes shows in
    the result's shape; the second has 3 channels, and its first image is flat (total
    variation 0).
    """
    rng = np.random.default_rng(4)
    batches = [rng.random(shape).round(3).astype(np.float32)
               for shape in [(2, 5, 4, 3), (3, 6, 6, 3), (1, 4, 7, 1)]]
    batches[1][0] = 0.5
    return batches


def _total_variation(images: np.ndarray) -> np.ndarray:
    vertical = np.abs(np.diff(images, axis=1)).sum(axis=(1, 2, 3))
    horizontal = np.abs(np.diff(images, axis=2)).sum(axis=(1, 2, 3))
    return vertical + horizontal


def check_total_variation(total_variation: Callable) -> CheckResult:
    """Check ``total_variation(images)``: one total variation per image.

    Parameters
    ----------
    total_variation
        A function of a batch of images ``(N, H, W, C)`` that returns an array of shape
        ``(N,)``: for each image, the sum of the absolute differences between vertically
        and between horizontally neighboring pixels, over all channels, as
        ``tf.image.total_variation`` computes it (chapter 04, "Why plain ascent draws
        noise").
    """
    return check_function(total_variation, "total_variation",
                          map(_total_variation_case, image_batches()),
                          "total_variation is right on 3 batches, including a flat image (0) "
                          "and 3-channel images: the absolute differences of vertical plus "
                          "horizontal neighbors, summed per image, as tf.image.total_variation "
                          "computes them.")


def _total_variation_case(images: np.ndarray) -> Case:
    expected = _total_variation(images)
    vertical = np.abs(np.diff(images, axis=1)).sum(axis=(1, 2, 3))
    horizontal = np.abs(np.diff(images, axis=2)).sum(axis=(1, 2, 3))
    wrapped = (np.abs(images - np.roll(images, 1, axis=1))
               + np.abs(images - np.roll(images, 1, axis=2))).sum(axis=(1, 2, 3))
    pairs = (images.shape[1] - 1) * images.shape[2] + images.shape[1] * (images.shape[2] - 1)
    return Case((images,), f"total_variation(images) with images of shape {images.shape}",
                expected, [
        (vertical, "this counts only the differences between vertical neighbors (along "
                   "the rows, axis 1); add those between horizontal neighbors (axis 2)."),
        (horizontal, "this counts only the differences between horizontal neighbors "
                     "(axis 2); add those between vertical neighbors (axis 1)."),
        ((np.diff(images, axis=1) ** 2).sum(axis=(1, 2, 3))
         + (np.diff(images, axis=2) ** 2).sum(axis=(1, 2, 3)),
         "these are squared differences; total variation sums their absolute values."),
        (np.diff(images, axis=1).sum(axis=(1, 2, 3))
         + np.diff(images, axis=2).sum(axis=(1, 2, 3)),
         "these are signed differences, which cancel out; take their absolute values."),
        (expected.sum(), "this is one number for the whole batch; the exercise asks for "
                         "one total variation per image, shape (N,)."),
        (wrapped, "this also compares the last row (column) with the first one, as "
                  "np.roll wraps around; compare only true neighbors, as np.diff or "
                  "slicing images[:, 1:] - images[:, :-1] does."),
        (expected / images.shape[-1], "this is the mean over the channels; the exercise "
                                      "sums over them."),
        (expected / (pairs * images.shape[-1]),
         "this is a mean over the pairs of neighbors; the exercise asks for the sum."),
    ])


# -- Exercise 2: one normalized gradient-ascent step --------------------------------------
def ascent_cases() -> list[tuple[np.ndarray, np.ndarray, float]]:
    """``(image, gradient, step_size)``: images ``(H, W, C)`` with gradients of unequal
    scale, and a zero gradient last (the step must leave the image as it is)."""
    rng = np.random.default_rng(5)
    cases = []
    for shape, scale, step_size in [((5, 4, 1), 3.0, 0.1), ((6, 6, 3), 0.02, 0.05)]:
        image = rng.random(shape).round(3).astype(np.float32)
        gradient = (scale * rng.normal(size=shape)).astype(np.float32)
        cases.append((image, gradient, step_size))
    cases.append((rng.random((4, 4, 1)).round(3).astype(np.float32),
                  np.zeros((4, 4, 1), np.float32), 0.1))
    return cases


def check_ascent_step(ascent_step: Callable) -> CheckResult:
    """Check ``ascent_step(image, gradient, step_size)``: one normalized ascent step.

    Parameters
    ----------
    ascent_step
        A function that returns ``image + step_size * gradient / (rms + 1e-8)``, where
        ``rms`` is the root mean square of ``gradient`` (chapter 04, "Gradient ascent on
        the pixels").
    """
    return check_function(ascent_step, "ascent_step",
                          (_ascent_case(*case) for case in ascent_cases()),
                          "ascent_step is right on 3 cases: gradients of very different scales "
                          "give steps of the same size, and a zero gradient leaves the image "
                          "unchanged.")


def _ascent_case(image: np.ndarray, gradient: np.ndarray, step_size: float) -> Case:
    rms = np.sqrt(np.mean(np.square(gradient, dtype=np.float64)))
    expected = image + step_size * gradient / (rms + 1e-8)
    call = (f"ascent_step(image, gradient, step_size={step_size}) with a gradient of "
            f"shape {gradient.shape}" + (", all zero," if rms == 0 else ""))
    safe = max(rms, 1e-12)
    return Case((image, gradient, step_size), call, expected, [
        (lambda array: rms == 0 and array.shape == image.shape
         and not np.all(np.isfinite(array)),
         lambda array: f"{call} returned NaN: with a zero gradient the root mean square is "
                       "0; add 1e-8 to it before dividing."),
        (image - step_size * gradient / safe,
         "the image moves against the gradient (descent); to raise the activation, add the step."),
        (image + step_size * gradient,
         "the gradient is not normalized; divide it by its root mean square, "
         "sqrt(mean(gradient ** 2)), so that every step has about the same size."),
        (image + step_size * gradient / np.sqrt(np.sum(np.square(gradient)) + 1e-16),
         "the gradient is divided by its L2 norm, sqrt(sum(gradient ** 2)); divide by its root "
         "mean square, sqrt(mean(gradient ** 2)), which does not depend on the number of pixels."),
        (image + step_size * gradient / max(np.abs(gradient).max(), 1e-12),
         "the gradient is divided by its largest absolute value; divide by its root mean "
         "square, sqrt(mean(gradient ** 2))."),
        (image + step_size * gradient / max(np.mean(np.square(gradient)), 1e-12),
         "the gradient is divided by its mean square; take the square root of it."),
        (step_size * gradient / safe, "this is the step alone; return the image plus the step."),
        (np.clip(expected, 0, 1), "the result is clipped to [0, 1]; the exercise leaves "
                                  "clipping to the loop that calls ascent_step."),
    ])


# -- Exercise 3: random jitter by rolling -------------------------------------------------
def jitter_cases() -> list[tuple[np.ndarray, tuple[int, int]]]:
    """``(image, (dy, dx))``: images ``(H, W, C)`` with H, W and C all different and
    shifts whose two components differ, so that swapped axes or signs show."""
    rng = np.random.default_rng(6)
    return [(rng.random((5, 7, 3)).round(3).astype(np.float32), (1, 2)),
            (rng.random((6, 4, 1)).round(3).astype(np.float32), (-2, 1)),
            (rng.random((4, 6, 2)).round(3).astype(np.float32), (3, -1))]


def check_jitter(jitter: Callable) -> CheckResult:
    """Check ``jitter(image, shift)``: the image rolled by ``shift = (dy, dx)``.

    Parameters
    ----------
    jitter
        A function of one image ``(H, W, C)`` and a pair of ints ``(dy, dx)`` that returns
        the image rolled ``dy`` pixels down and ``dx`` pixels right, with wrap-around, as
        ``np.roll(image, (dy, dx), axis=(0, 1))`` does (chapter 04, exercise 3).
    """
    return check_function(jitter, "jitter", (_jitter_case(*case) for case in jitter_cases()),
                          "jitter is right on 3 images: rows rolled by dy (axis 0), columns by "
                          "dx (axis 1), with wrap-around, and the channels left alone.")


def _jitter_case(image: np.ndarray, shift: tuple[int, int]) -> Case:
    dy, dx = shift
    filled = np.zeros_like(image)
    height, width = image.shape[:2]
    filled[max(dy, 0):height + min(dy, 0), max(dx, 0):width + min(dx, 0)] = image[
        max(-dy, 0):height + min(-dy, 0), max(-dx, 0):width + min(-dx, 0)]
    return Case((image, (dy, dx)),
                f"jitter(image, shift=({dy}, {dx})) with an image of shape {image.shape}",
                np.roll(image, (dy, dx), axis=(0, 1)), [
        (np.roll(image, (-dy, -dx), axis=(0, 1)),
         "the image moves the opposite way (up and left for positive shifts); roll by "
         "(dy, dx), not (-dy, -dx)."),
        (np.roll(image, (dx, dy), axis=(0, 1)),
         "dy and dx are swapped: dy moves the rows (axis 0), dx the columns (axis 1)."),
        (np.roll(image, dy + dx), "np.roll without axis= rolls the flattened image; pass "
                                  "axis=(0, 1)."),
        (np.roll(image, dy, axis=0), "only the rows moved; roll the columns by dx too."),
        (np.roll(image, dx, axis=1), "only the columns moved; roll the rows by dy too."),
        (filled, "the pixels that leave the image are replaced by zeros; with rolling they "
                 "come back in on the other side (np.roll)."),
    ])


# -- Exercise 4: one unit or the whole channel (reasoning from the receptive field) -------
#: The course model from the input up, as ``(name, kernel_size, stride)``: 3x3 convolutions
#: with stride 1 and 'same' padding, 2x2 max pooling with stride 2.
COURSE_MODEL_LAYERS = (("conv1", 3, 1), ("conv2", 3, 1), ("pool1", 2, 2), ("conv3", 3, 1),
                       ("conv4", 3, 1), ("pool2", 2, 2), ("conv5", 3, 1))
#: The layers whose center unit the exercise asks about, and the side of their maps.
SINGLE_UNIT_LAYERS = {"conv2": 28, "conv4": 14, "conv5": 7}


def _up_to(layer: str) -> list[tuple[int, int]]:
    names = [name for name, _, _ in COURSE_MODEL_LAYERS]
    return [(k, s) for _, k, s in COURSE_MODEL_LAYERS[:names.index(layer) + 1]]


def _window(layers: list[tuple[int, int]], own_stride: bool = False,
            strides: bool = True) -> int:
    """The receptive field's side (chapter 01), and two slips of it."""
    size, jump = 1, 1
    for kernel_size, stride in layers:
        if own_stride:
            jump *= stride
        size += (kernel_size - 1) * (jump if strides else 1)
        if not own_stride:
            jump *= stride
    return size


def single_unit_sizes() -> dict[str, int]:
    """The right answer: the receptive field of each layer's units, in input pixels."""
    return {layer: _window(_up_to(layer)) for layer in SINGLE_UNIT_LAYERS}


def check_single_unit_sizes(sizes) -> CheckResult:
    """Check the predicted side of the square of pixels that an ascent on one unit can change.

    Parameters
    ----------
    sizes
        A dict ``{"conv2": ..., "conv4": ..., "conv5": ...}``: for the center unit of one
        channel of each layer, the side (in input pixels) of the square of the 28x28 image
        that the ascent on that unit alone can change (chapter 04, exercise 4).
    """
    right = single_unit_sizes()

    def each(size: Callable[[str], int]) -> list[int]:
        return [size(layer) for layer in SINGLE_UNIT_LAYERS]

    case = Case((), "", each(right.get), [
        (each(lambda layer: 28),
         "28 is the whole image: that is the picture of a whole channel, whose mean involves "
         "every unit. One unit depends only on the pixels inside its receptive field: outside "
         "it the gradient is exactly 0, so those pixels never move."),
        (each(SINGLE_UNIT_LAYERS.get),
         "these are the sides of the layers' maps (28, 14, 7), not of the window in the "
         "image that one unit sees."),
        (each(lambda layer: _window(_up_to(layer), strides=False)),
         "you left out the poolings' strides: after a 2x2 pooling, neighboring units are 2 "
         "input pixels apart (4 after both), so each later 3x3 layer adds 2 x 2 (then 2 x 4) "
         "pixels, not 2."),
        (each(lambda layer: _window(_up_to(layer), own_stride=True)),
         "a pooling's own stride does not widen its window, it spaces out the layers after "
         "it: multiply K - 1 by the product of the strides of the layers before it."),
        (each(lambda layer: sum(k for k, _ in _up_to(layer))),
         "stacked windows overlap: each layer adds K - 1 pixels, not K, to the 1 pixel you "
         "start from."),
        (each(lambda layer: 28 // SINGLE_UNIT_LAYERS[layer]),
         "these are the distances between neighboring units, in input pixels (1, 2, 4), not "
         "the side of the window one unit sees."),
        (lambda got: True, lambda got: _first_wrong_size(got, right)),
    ])
    return check_answer(sizes, "sizes", [case],
                        f"the center unit of conv2 can change a {right['conv2']}x"
                        f"{right['conv2']} square, of conv4 {right['conv4']}x{right['conv4']}, "
                        f"of conv5 {right['conv5']}x{right['conv5']} of the 28x28 image: its "
                        "receptive field and nothing else. The mean over a whole channel "
                        "involves every unit, so the channel's picture covers the whole image.",
                        read=_read_sizes)


def _read_sizes(sizes: Any, name: str) -> tuple[np.ndarray | None, str | None]:
    """The learner's sizes as an array, in the order of :data:`SINGLE_UNIT_LAYERS`."""
    if not isinstance(sizes, Mapping):
        return None, (f"expected a dict of three numbers, {{'conv2': ..., 'conv4': ..., "
                      f"'conv5': ...}}, got {type(sizes).__name__}.")
    missing = [layer for layer in SINGLE_UNIT_LAYERS if layer not in sizes]
    if missing:
        return None, (f"the dict has no entry for {', '.join(missing)}; give one number per "
                      f"layer: {list(SINGLE_UNIT_LAYERS)}.")
    if any(sizes[layer] is Ellipsis for layer in SINGLE_UNIT_LAYERS):
        return None, "some sizes are still the placeholder `...`; replace them with numbers."
    for layer in SINGLE_UNIT_LAYERS:
        value = sizes[layer]
        if _as_number(value) is None:
            return None, (f"sizes[{layer!r}] is {value!r}; expected one number, the side of "
                          "the square of input pixels, in pixels.")
    return np.array([float(sizes[layer]) for layer in SINGLE_UNIT_LAYERS]), None


def _first_wrong_size(got: np.ndarray, right: dict[str, int]) -> str:
    layer, size = next((layer, size) for layer, size in zip(right, got, strict=True)
                       if not np.isclose(size, right[layer], atol=1e-4))
    if size >= 28:
        return (f"{layer}: a unit of {layer} does not see the whole 28x28 image. Its window "
                "grows by K - 1 input pixels per layer below it (times the strides below that "
                "layer); count them from 1 pixel.")
    return (f"{layer}: {size:g} is not the side of the window of its center unit. Start from "
            f"1 pixel; going down the layers from {layer} to the image, each layer with kernel "
            "size K adds K - 1 of its input's pixels, and those pixels are as many input pixels "
            "apart as the product of the strides of the layers below it (chapter 01, receptive "
            "fields).")

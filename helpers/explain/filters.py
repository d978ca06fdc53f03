"""What a filter looks for: an input image that maximizes its mean activation.

Derived in chapter 04 (``notebooks/04_filter_visualization.ipynb``). Plain gradient ascent
on the pixels (Erhan et al. 2009; the loop of Chollet's "Deep Learning with Python") gives
high-frequency noise that excites the filter without showing anything. What makes the
pictures readable (Olah et al., "Feature Visualization", Distill 2017, and their library
Lucid) is used here:

* **robustness to transformations**: every step sees a randomly jittered, scaled and
  rotated copy of each image, so patterns must survive small shifts;
* **a decorrelated parameterization** (``param="fourier"``): the image is optimized as a
  Fourier spectrum scaled by 1/frequency, and for color images in decorrelated color
  space, so that gradient steps change coarse structure first;
* **penalties**: total variation (neighboring pixels alike) and L2 (stay near gray);
* **gradient normalization** per image, so every filter progresses at the same pace, and
  Adam steps.

All filters are optimized together: one batch of images, one per filter, updated by one
compiled ``tf.function`` that runs many steps per call.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from helpers._validate import check_choice, check_index, check_positive_int, is_int
from helpers.explain._checks import check_model, error_reason, image_shape_for
from helpers.explain._graph import forward_pass, graph_function, per_model

#: Square root of ImageNet's color covariance (Lucid's ``color_correlation_svd_sqrt``):
#: the Fourier image of a color model is optimized in these decorrelated colors.
COLOR_CORRELATION_SQRT = np.array([[0.26, 0.09, 0.02],
                                   [0.27, 0.00, -0.05],
                                   [0.27, -0.09, 0.03]], np.float32)
PARAMETERIZATIONS = ("fourier", "pixel")
_STEPS_PER_CALL = 32  # steps run by one call of the compiled loop (progress-bar granularity)
#: An image whose pixels moved less than this on average (on the [0, 1] scale) from the gray
#: start never really moved: its filter gave the ascent (almost) nothing to climb.
STALLED_CHANGE = 0.01


class StalledFilterWarning(RuntimeWarning):
    """Some images of :func:`maximize_activation` are still the gray start."""


def maximize_activation(
    model: keras.Model,
    layer: str,
    filters: int | Sequence[int],
    steps: int = 256,
    *,
    learning_rate: float = 0.05,
    param: str = "fourier",
    jitter: float | None = None,
    scale: tuple[float, float] = (0.9, 1.1),
    rotate: float = 10.0,
    total_variation: float = 0.0,
    l2: float = 0.0,
    pre_activation: bool = True,
    size: int | tuple[int, int] | None = None,
    preprocess: Callable[[tf.Tensor], tf.Tensor] | None = None,
    seed: int = 0,
    batch_size: int = 64,
    progress: bool = True,
) -> np.ndarray:
    """Images that maximize the mean activation of chosen filters, by gradient ascent.

    Image ``f`` maximizes the mean over positions of channel ``filters[f]`` of ``layer``'s
    output (for a layer with a 2-D output, such as the logits, unit ``filters[f]``). All
    filters are optimized together as one batch. Derived in chapter 04
    (notebooks/04_filter_visualization.ipynb).

    Which mean is raised matters (``pre_activation``), most on the first layer. Before the
    activation a first-layer filter is linear in the pixels, so the mean of its output is
    maximized by a flat image (black or white, by the sign of its weights' sum; with stride
    2, a repeated 2x2 tile): show its kernel instead. After a ReLU (``pre_activation=False``,
    the objective of Chollet's loop) negative positions cost nothing and the gradient flows
    only through the positions that respond: the mean is convex in the pixels, its best
    images can be patterns, and the ascent ends at a local maximum. From the second layer
    on, the pictures show the patterns a filter responds to. Chapter 04 compares the two.

    Parameters
    ----------
    model
        A Sequential or Functional Keras model; ``layer`` may sit in a nested model.
    layer
        Name of a layer with a 4-D ``(N, h, w, channels)`` or 2-D ``(N, units)`` output.
    filters
        Channel (or unit) indices; one int gives one image without the filter axis.
    steps
        Gradient-ascent steps.
    learning_rate
        Adam's step size, on the parameterization (0.05 suits both parameterizations).
    param
        ``"fourier"``: optimize a 1/frequency-scaled spectrum (and, for 3 channels,
        decorrelated colors), as Lucid does; ``"pixel"``: optimize the pixels (through a
        sigmoid that keeps them in [0, 1]).
    jitter
        Largest random shift per step, in pixels; ``None``: 1/16 of the image's side.
    scale
        Range of the random zoom per step; ``(1, 1)`` turns it off.
    rotate
        Largest random rotation per step, in degrees.
    total_variation, l2
        Weights of the total-variation penalty (mean absolute difference of neighboring
        pixels) and of the L2 penalty (mean squared distance from gray), relative to the
        normalized gradient of the activation.
    pre_activation
        For a layer with its own activation (``Conv2D(..., activation="relu")``), maximize
        the mean before that activation; for an activation layer (``ReLU``,
        ``Activation``, ... after a convolution and a batch norm, as in
        ``keras.applications``), maximize the mean of its input. Either way a ReLU's zero
        gradient cannot stall a filter that starts inactive. ``False`` maximizes the
        layer's output as it is: the mean after the activation, whose gradient is 0
        wherever a ReLU's input is negative (and a ReLU6's above 6).
    size
        ``(H, W)`` of the images (an int for a square); ``None``: the model's input size.
    preprocess
        Maps images in [0, 1] to the model's input, in TensorFlow operations that also run
        on the symbolic tensors of a traced function, without changing the image size: for
        ``helpers.imagenet``'s networks, ``helpers.imagenet.to_input``; ``None``: the model
        takes [0, 1] images, as the course model does. A preprocess that maps each pixel's
        colors by one affine map (scaling, offsets, a channel swap) is recognized by its
        values, so a new but equivalent function (a lambda written again, or
        ``helpers.imagenet.preprocess`` at the network's own 224x224) reuses the compiled
        loop; any other is compiled into the loop, once per function object, and one that
        cannot be (NumPy code, such as ``helpers.imagenet.preprocess`` at another size) is
        refused with a ``TypeError`` that names ``to_input``.
    seed
        Seed of the initial images and of the random transformations.
    batch_size
        Filters optimized together; more filters run as several batches.
    progress
        Show a progress bar (it appears only for runs longer than a second).

    Returns
    -------
    numpy.ndarray
        float32 ``(F, H, W, C)`` in [0, 1] (``(H, W, C)`` for one int filter).

    Warns
    -----
    StalledFilterWarning
        When some images barely moved from the gray start (their mean absolute change is
        below :data:`STALLED_CHANGE`), naming those filters: their activation gave no
        gradient to climb, so their pictures show nothing about them.

    Examples
    --------
    Pictures for two filters of the course model's last convolution, optimized together;
    each raises its own filter's mean activation above what a gray image gives:

    >>> import numpy as np
    >>> from helpers import explain, load_course_model
    >>> model = load_course_model()
    >>> pictures = explain.maximize_activation(model, "conv5", [0, 1], steps=32,
    ...                                        progress=False)
    >>> pictures.shape, bool(pictures.min() >= 0 and pictures.max() <= 1)
    ((2, 28, 28, 1), True)
    >>> gray = np.full((1, 28, 28, 1), 0.5, np.float32)
    >>> maps = explain.feature_maps(model, np.concatenate([pictures, gray]), "conv5")
    >>> means = maps["conv5"].mean(axis=(1, 2))[:, :2]  # rows: picture 0, picture 1, gray
    >>> bool(means[0, 0] > means[2, 0] and means[1, 1] > means[2, 1])
    True
    """
    check_model(model)
    check_choice(param, "param", PARAMETERIZATIONS)
    steps = check_positive_int(steps, "steps")
    batch_size = check_positive_int(batch_size, "batch_size")
    image_shape = image_shape_for(model, size)
    call = forward_pass(model, image_shape).find(
        layer, ranks=(2, 4),
        expected="a layer with a 4-D output (N, h, w, channels) or a 2-D output (N, units)")
    filter_array, single = _filter_indices(filters, call)
    options = AscentOptions.checked(learning_rate, jitter, scale, rotate, total_variation, l2,
                                    image_shape)
    ascend, to_images = _optimizer(model, image_shape, call.path, param, pre_activation,
                                   _stable_preprocess(preprocess, image_shape),
                                   (total_variation > 0, l2 > 0))
    rng = np.random.default_rng(seed)
    results = []
    with tqdm(total=steps * len(filter_array), desc=f"maximizing {call.name}",
              disable=not progress, delay=1.0, leave=False) as bar:
        for start in range(0, len(filter_array), batch_size):
            chosen = filter_array[start:start + batch_size]
            params = 0.01 * rng.standard_normal(_param_shape(param, len(chosen), image_shape),
                                                dtype=np.float32)
            results.append(_ascend_batch(ascend, to_images, params, chosen, options,
                                         (seed, start), steps, bar))
    images, changes, live_steps = (np.concatenate(r) for r in zip(*results, strict=True))
    _warn_if_stalled(call.name, filter_array, changes, live_steps, steps, pre_activation)
    return images[0] if single else images


class AscentOptions(NamedTuple):
    """The numbers of one run; inputs of the compiled loop, so new values never retrace."""

    learning_rate: float  # Adam's step size
    jitter: float  # largest shift, pixels
    zoom_low: float  # zoom range
    zoom_high: float
    rotate: float  # largest rotation, radians
    total_variation: float  # penalty weights
    l2: float

    @classmethod
    def checked(cls, learning_rate, jitter, scale, rotate, total_variation, l2, image_shape):
        if jitter is None:
            jitter = max(image_shape[:2]) / 16
        low, high = (float(s) for s in scale)
        if not 0 < low <= high:
            raise ValueError(f"scale must be a range (low, high) with 0 < low <= high, got "
                             f"{scale}")
        options = cls(*np.array([learning_rate, jitter, low, high, np.deg2rad(rotate),
                                 total_variation, l2], np.float32))
        if not np.isfinite(options).all() or (np.array(options) < 0).any():
            raise ValueError("learning_rate, jitter, scale, rotate, total_variation and l2 "
                             "must be finite and non-negative")
        return options


def _filter_indices(filters, call) -> tuple[np.ndarray, bool]:
    """``filters`` as int32 ``(F,)`` checked against the layer, and whether it was one int."""
    single = is_int(filters)
    filter_list = [filters] if single else filters
    if isinstance(filter_list, (str, bytes)) or not isinstance(filter_list, (Sequence, np.ndarray)):
        raise TypeError(f"filters must be an int or a sequence of ints, got {filters!r}")
    channels = call.shape[-1]
    for f in filter_list:
        check_index(f, channels, "filter", of=f"layer {call.name!r} has {channels} channels")
    filter_array = np.asarray(filter_list, np.int32)
    if filter_array.size == 0:
        raise ValueError("expected at least one filter, got none")
    return filter_array, single


def _ascend_batch(ascend, to_images, params, chosen, options, seed, steps, bar):
    """One batch of filters' images, each image's mean change and its steps with a gradient."""
    params, chosen = tf.constant(params), tf.constant(chosen)
    moments = (tf.zeros_like(params), tf.zeros_like(params))
    live = tf.zeros(len(chosen), tf.int32)  # steps with a nonzero gradient, per image
    options = AscentOptions(*(tf.constant(value, tf.float32) for value in options))
    seed = tf.constant(seed, tf.int64)
    first = to_images(params).numpy()
    done = 0
    while done < steps:
        todo = min(_STEPS_PER_CALL, steps - done)
        params, *moments, live = ascend(params, *moments, live, chosen, options, seed,
                                        tf.constant(done), tf.constant(todo))
        done += todo
        bar.update(todo * len(chosen))
    images = to_images(params).numpy()
    return images, np.abs(images - first).mean(axis=(1, 2, 3)), live.numpy()


def _warn_if_stalled(layer, filters, changes, live_steps, steps, pre_activation) -> None:
    stalled = changes < STALLED_CHANGE
    if not stalled.any():
        return
    why = (f"the gradient of their activation was zero at all {steps} steps"
           if (live_steps[stalled] == 0).all() else
           "the gradient of their activation was zero, or too small to move them, at most "
           "steps")
    advice = ("no gradient reaches their input from images near gray (an earlier layer is "
              "inactive there): try other filters, another layer or another seed"
              if pre_activation else
              "a ReLU passes no gradient where its input is negative (nor a ReLU6 above 6): "
              "pass pre_activation=True (the default) to maximize the activation's input")
    warnings.warn(
        f"maximize_activation: the images of filters {filters[stalled].tolist()} of layer "
        f"{layer!r} are still the gray start (mean pixel change below {STALLED_CHANGE}): "
        f"{why}. They show nothing about those filters; {advice}.",
        StalledFilterWarning, stacklevel=3)


def _stable_preprocess(preprocess, image_shape):
    """What keys the compiled loop for ``preprocess``: ``None``; ``("affine", matrix,
    offset)`` when it maps every pixel's colors by one affine map, whoever wrote it; or
    the function itself (traced into the loop, once per function object)."""
    if preprocess is None:
        return None
    if not callable(preprocess):
        raise TypeError(f"preprocess must be a function of images or None, got "
                        f"{type(preprocess).__name__}")
    affine = _as_affine(preprocess, image_shape)
    if affine is not None:
        return ("affine", *affine)
    _check_traceable(preprocess, image_shape)
    return preprocess


def _check_traceable(preprocess, image_shape) -> None:
    """Trace ``preprocess`` once on symbolic images, as the compiled loop will, so that a
    function that needs NumPy (``helpers.imagenet.preprocess``) or changes the image size is
    refused here with what to use instead, not deep inside TensorFlow."""
    spec = tf.TensorSpec((None, *image_shape), tf.float32)
    name = ".".join(part for part in (getattr(preprocess, "__module__", None),
                                      getattr(preprocess, "__qualname__", None)) if part)
    name = name or type(preprocess).__name__
    try:
        out = tf.function(preprocess).get_concrete_function(spec).structured_outputs
    except Exception as err:  # whatever fails while tracing, the remedy is the same
        reason = error_reason(err)
        remedy = ("" if "to_input" in reason else
                  "; it must be TensorFlow code that maps values only: for "
                  "helpers.imagenet's networks pass preprocess=helpers.imagenet.to_input "
                  "(imagenet.preprocess is NumPy code, which also resizes to 224x224)")
        raise TypeError(
            f"preprocess {name!r} cannot run on the symbolic images "
            f"(N, {', '.join(map(str, image_shape))}) of the compiled ascent loop (a "
            f"tf.function): {reason}{remedy}") from None
    shape = tuple(getattr(out, "shape", ()))
    if len(shape) != 4 or tuple(shape[1:3]) != tuple(image_shape[:2]):
        raise ValueError(
            f"preprocess {name!r} must map images (N, H, W, C) to the model's input of the "
            f"same height and width; on images (N, {', '.join(map(str, image_shape))}) it "
            f"returns shape {shape}. Resize with size=, not in preprocess; for "
            "helpers.imagenet's networks pass preprocess=helpers.imagenet.to_input")


def _as_affine(preprocess, image_shape) -> tuple[bytes, bytes, tuple[int, int]] | None:
    """``preprocess`` as ``x @ matrix + offset`` on each pixel, if it is one (checked on
    black, one-color and random images); the arrays as rounded bytes, so that they key a
    cache."""
    height, width, channels = image_shape
    probes = np.zeros((channels + 3, height, width, channels), np.float32)
    for channel in range(channels):
        probes[1 + channel, ..., channel] = 1.0
    probes[-2:] = np.random.default_rng(0).random((2, height, width, channels))
    try:
        out = np.asarray(preprocess(tf.constant(probes)), np.float64)
    except Exception:  # anything it cannot do eagerly is compiled as it is
        return None
    if out.ndim != 4 or out.shape[:3] != probes.shape[:3] or not np.isfinite(out).all():
        return None
    offset = out[0, 0, 0]
    matrix = out[1:1 + channels, 0, 0] - offset  # (channels in, channels out)
    predicted = probes.astype(np.float64) @ matrix + offset
    if not np.allclose(predicted, out, rtol=1e-4, atol=1e-4 * max(1.0, np.abs(out).max())):
        return None
    rounded = [np.round(a, 5).astype(np.float32) for a in (matrix, offset)]
    return rounded[0].tobytes(), rounded[1].tobytes(), matrix.shape


def _param_shape(param, n, image_shape):
    height, width, channels = image_shape
    if param == "pixel":
        return (n, height, width, channels)
    return (2, n, channels, height, width // 2 + 1)  # real and imaginary parts


# -- small composable pieces, each a function of tensors (as lucent keeps them) --------------
def fourier_image(height: int, width: int, channels: int) -> Callable:
    """Parameters ``(2, F, C, H, W // 2 + 1)`` (real and imaginary parts of a spectrum scaled
    by 1/frequency; for 3 channels, in decorrelated colors) -> images in [0, 1]."""
    # 1/frequency, so that all spatial frequencies start with equal energy (Lucid).
    frequencies = np.sqrt(np.fft.fftfreq(height)[:, None] ** 2
                          + np.fft.rfftfreq(width)[None, :] ** 2)
    scale = 1.0 / np.maximum(frequencies, 1.0 / max(height, width))
    spectrum_scale = tf.constant((scale * np.sqrt(height * width)).astype(np.float32))
    colors = tf.constant(COLOR_CORRELATION_SQRT
                         / np.max(np.linalg.norm(COLOR_CORRELATION_SQRT, axis=0)))

    def to_images(params):
        spectrum = tf.complex(params[0], params[1]) * tf.cast(spectrum_scale, tf.complex64)
        raw = tf.transpose(tf.signal.irfft2d(spectrum, fft_length=[height, width]),
                           (0, 2, 3, 1)) / 4.0
        if channels == 3:
            raw = tf.einsum("nhwc,dc->nhwd", raw, colors)
        return tf.sigmoid(raw)

    return to_images


def affine_preprocess(key) -> Callable:
    """The per-pixel affine map that :func:`_stable_preprocess` keys, as a function."""
    _, matrix, offset, shape = key
    matrix = tf.constant(np.frombuffer(matrix, np.float32).reshape(shape))
    offset = tf.constant(np.frombuffer(offset, np.float32))
    return lambda images: tf.einsum("nhwc,cd->nhwd", images, matrix) + offset


def random_affine(images, options: AscentOptions, seed, size: tuple[int, int]) -> tf.Tensor:
    """One random zoom, rotation and shift per image of ``size`` ``(H, W)``, about its center."""
    height, width = size
    n = tf.shape(images)[0]
    draws = tf.random.stateless_uniform((n, 4), seed=seed)
    low, high = options.zoom_low, options.zoom_high
    zoom = low + (high - low) * draws[:, 0]
    theta = options.rotate * (2.0 * draws[:, 1] - 1.0)
    shift = options.jitter * (2.0 * draws[:, 2:] - 1.0)
    cos, sin = tf.cos(theta) / zoom, tf.sin(theta) / zoom
    cy, cx = (height - 1) / 2.0, (width - 1) / 2.0
    # Output pixel (x, y) reads input pixel (a0 x + a1 y + a2, b0 x + b1 y + b2).
    transforms = tf.stack([cos, -sin, cx - cos * cx + sin * cy + shift[:, 0],
                           sin, cos, cy - sin * cx - cos * cy + shift[:, 1],
                           tf.zeros_like(cos), tf.zeros_like(cos)], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=transforms, output_shape=[height, width],
        fill_value=0.0, interpolation="BILINEAR", fill_mode="REFLECT")


def total_variation(images) -> tf.Tensor:
    """Sum of the absolute differences of neighboring pixels."""
    dy = tf.reduce_sum(tf.abs(images[:, 1:] - images[:, :-1]))
    dx = tf.reduce_sum(tf.abs(images[:, :, 1:] - images[:, :, :-1]))
    return dx + dy


def distance_from_gray(images) -> tf.Tensor:
    """Sum of the squared distances of the pixels from gray (the L2 penalty)."""
    return tf.reduce_sum(tf.square(images - 0.5))


def normalized(grads) -> tf.Tensor:
    """Each image's gradient (batch axis first) divided by its root mean square."""
    axes = tf.range(1, tf.rank(grads))
    rms = tf.sqrt(tf.reduce_mean(tf.square(grads), axis=axes, keepdims=True))
    return tf.math.divide_no_nan(grads, rms)


def nonzero(grads) -> tf.Tensor:
    """1 for each image (batch axis first) whose gradient is not all zero, else 0."""
    flat = tf.reshape(grads, (tf.shape(grads)[0], -1))
    return tf.cast(tf.reduce_any(tf.not_equal(flat, 0.0), axis=1), tf.int32)


def adam_ascent(params, first_moment, second_moment, grads, step, learning_rate,
                beta1=0.9, beta2=0.999):
    """One step of Adam that climbs ``grads`` (``step`` counts from 0)."""
    t = tf.cast(step + 1, tf.float32)
    first_moment = beta1 * first_moment + (1 - beta1) * grads
    second_moment = beta2 * second_moment + (1 - beta2) * tf.square(grads)
    corrected = (first_moment / (1 - beta1 ** t)) / (
        tf.sqrt(second_moment / (1 - beta2 ** t)) + 1e-8)
    return params + learning_rate * corrected, first_moment, second_moment


@per_model
def _optimizer(forward, layer, param, pre_activation, preprocess, penalized):
    """The compiled ascent loop and the parameters-to-images map of one layer."""
    call = forward.find(layer, ranks=(2, 4))
    height, width, channels = forward.image_shape
    to_images = tf.sigmoid if param == "pixel" else fourier_image(height, width, channels)
    prepare = affine_preprocess(preprocess) if isinstance(preprocess, tuple) else preprocess
    batch_axis = 1 if param == "fourier" else 0

    def objective(images, chosen):  # (F,): each image's own filter's mean activation
        inputs = images if prepare is None else prepare(images)
        taps, _ = forward.run(tf.cast(inputs, tf.float32), taps=[call.layer], logits=False,
                              pre_activation=pre_activation)
        out = tf.cast(taps[call.name], tf.float32)
        if len(call.shape) == 3:
            out = tf.reduce_mean(out, axis=(1, 2))
        return tf.gather(out, chosen, axis=1, batch_dims=1)

    def images_first(grads):  # the images are along axis 1 of a Fourier spectrum
        return tf.experimental.numpy.moveaxis(grads, batch_axis, 0)

    def normalized_per_image(grads):  # every image's gradient normalized separately
        return tf.experimental.numpy.moveaxis(normalized(images_first(grads)), 0, batch_axis)

    @graph_function(reduce_retracing=True)
    def ascend(params, first_moment, second_moment, live, chosen, options, seed, done, todo):
        for step in tf.range(done, done + todo):
            step_seed = tf.stack([seed[0] * 1_000_003 + seed[1], tf.cast(step, tf.int64)])
            with tf.GradientTape(persistent=any(penalized)) as tape:
                tape.watch(params)
                images = to_images(params)
                activation = tf.reduce_sum(objective(
                    random_affine(images, options, step_seed, (height, width)), chosen))
                variation = total_variation(images) if penalized[0] else None
                distance = distance_from_gray(images) if penalized[1] else None
            # Each term's gradient normalized per image: the weights are relative
            # strengths, whatever the scale of the layer's activations.
            zero = tf.UnconnectedGradients.ZERO
            grads = tape.gradient(activation, params, unconnected_gradients=zero)
            live += nonzero(images_first(grads))
            grads = normalized_per_image(grads)
            if penalized[0]:
                grads -= options.total_variation * normalized_per_image(
                    tape.gradient(variation, params))
            if penalized[1]:
                grads -= options.l2 * normalized_per_image(tape.gradient(distance, params))
            del tape
            params, first_moment, second_moment = adam_ascent(
                params, first_moment, second_moment, grads, step, options.learning_rate)
        return params, first_moment, second_moment, live

    return ascend, graph_function()(to_images)

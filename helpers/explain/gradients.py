"""Pixel attributions from gradients: saliency, SmoothGrad, Integrated Gradients.

Derived in chapter 05 (``notebooks/05_saliency.ipynb``). Each method differentiates the
class score (a logit) with respect to the input pixels; SmoothGrad and Integrated Gradients
do it for many perturbed copies of each image, which run here as batches (chunked when
large), never as a Python loop over copies.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from helpers._validate import check_choice, check_non_negative, check_positive_int
from helpers.explain._checks import ClassIndex, as_baseline
from helpers.explain._graph import (
    DEFAULT_BATCH_SIZE,
    INDEX_SPEC,
    class_scores,
    graph_function,
    image_spec,
    in_batches,
    per_model,
    prepare,
)


def _input_gradients(forward, x, index):
    """d(class score)/d(pixels) for a batch."""
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(x)
        _, logits = forward.run(x)
        scores, _ = class_scores(logits, index)
    return tape.gradient(scores, x, unconnected_gradients=tf.UnconnectedGradients.ZERO)


@per_model
def _saliency_fn(forward):
    @graph_function(input_signature=[image_spec(forward.image_shape), INDEX_SPEC])
    def saliency_map(x, index):
        grads = _input_gradients(forward, x, index)
        return tf.reduce_max(tf.abs(grads), axis=-1)

    return saliency_map


def saliency(model: keras.Model, images: np.ndarray, class_index: ClassIndex = None, *,
             batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
    """Simonyan et al.'s saliency map: how much each pixel can change the class score.

    The absolute gradient of the class logit with respect to the input, maximized over
    the color channels. Derived in chapter 05 (notebooks/05_saliency.ipynb).

    Parameters
    ----------
    model
        A Keras classifier; a final softmax is looked through (scores are logits).
    images
        float32 ``(N, H, W, C)`` or one image ``(H, W, C)``, preprocessed for the model.
    class_index
        ``None``: each image's predicted class; an int: that class for every image; a
        sequence: one class per image.
    batch_size
        Images per forward and backward pass.

    Returns
    -------
    numpy.ndarray
        float32 ``(N, H, W)`` (``(H, W)`` for one image), non-negative.

    Examples
    --------
    The course model takes a soft blob for a shirt; the map is the absolute gradient of
    that class's logit, here computed again with a ``GradientTape``:

    >>> import numpy as np
    >>> import tensorflow as tf
    >>> from helpers import FASHION_MNIST_CLASSES, explain, load_course_model
    >>> model = load_course_model()
    >>> rows, cols = np.mgrid[:28, :28]
    >>> blob = np.exp(-(rows - 13.5) ** 2 / 60 - (cols - 13.5) ** 2 / 30)
    >>> image = blob.astype(np.float32)[..., None]  # (28, 28, 1), values in [0, 1]
    >>> FASHION_MNIST_CLASSES[int(np.argmax(model(image[None])))]
    'Shirt'
    >>> heatmap = explain.saliency(model, image)
    >>> heatmap.shape, heatmap.dtype
    ((28, 28), dtype('float32'))
    >>> x = tf.constant(image[None])
    >>> with tf.GradientTape() as tape:
    ...     tape.watch(x)
    ...     score = model(x)[0, 6]  # the logit of class 6, "Shirt"
    >>> by_hand = np.abs(tape.gradient(score, x).numpy()[0]).max(axis=-1)
    >>> bool(np.allclose(heatmap, by_hand, rtol=1e-4, atol=1e-6))
    True
    """
    prepared = prepare(model, images, class_index, batch_size)
    maps = in_batches(_saliency_fn(model, prepared.image_shape),
                      [prepared.batch, prepared.index], prepared.batch_size)
    return prepared.unbatch(maps)


@per_model
def _gradient_sum_fn(forward, saliency_maps):
    """For each image, the sum over copies ``k`` of the gradients (with ``saliency_maps``,
    of the saliency maps) at ``start + copies[k] * direction``: SmoothGrad's noisy images
    ``x + noise_k * sigma``, Integrated Gradients' path ``baseline + alpha_k (x - baseline)``."""
    image_shape = forward.image_shape
    any_4d = tf.TensorSpec((None, None, None, None), tf.float32)

    @graph_function(input_signature=[image_spec(image_shape), any_4d, INDEX_SPEC, any_4d])
    def gradient_sum(start, direction, index, copies):
        # All (copy, image) pairs as one batch, copy-major.
        k, n = tf.shape(copies)[0], tf.shape(start)[0]
        points = start[None] + copies[:, None] * direction[None]
        grads = _input_gradients(forward, tf.reshape(points, (k * n, *image_shape)),
                                 tf.tile(index, [k]))
        if saliency_maps:
            grads = tf.reduce_max(tf.abs(grads), axis=-1)
        return tf.reduce_sum(tf.reshape(grads, (k, n, *grads.shape[1:])), axis=0)

    return gradient_sum


def _gradient_sums(prepared, start, direction, index, copies, saliency_maps=False):
    """:func:`_gradient_sum_fn` on a prepared call: as many images, and as many of their
    ``copies`` (noise patterns, path positions), per call as fit in ``batch_size``."""
    function = _gradient_sum_fn(prepared.model, prepared.image_shape, saliency_maps)

    def one_chunk_of_images(*chunk):
        per_call = max(1, prepared.batch_size // int(chunk[0].shape[0]))
        total = 0.0
        for first in range(0, len(copies), per_call):
            total += function(*chunk, tf.constant(copies[first:first + per_call])).numpy()
        return total

    return in_batches(one_chunk_of_images, [start, direction, index], prepared.batch_size)


#: What :func:`smoothgrad` averages over the noisy copies.
SMOOTHGRAD_AVERAGES = ("maps", "gradients")


def smoothgrad(model: keras.Model, images: np.ndarray, class_index: ClassIndex = None,
               samples: int = 25, noise: float = 0.15, *, seed: int = 0,
               average: str = "maps", batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
    """Smilkov et al.'s SmoothGrad: the saliency map averaged over noisy copies.

    ``mean over k of saliency(x + noise_k)`` with Gaussian ``noise_k``; with ``noise=0`` it
    is exactly :func:`saliency`. All ``samples x N`` noisy copies run as batches of at
    most ``batch_size`` images. Derived in chapter 05 (notebooks/05_saliency.ipynb).

    ``average="gradients"`` averages the signed gradients instead and takes the absolute
    value (and the maximum over the channels) of the mean, as Smilkov et al.'s paper writes
    it (their released code averages the squared gradients by default): gradients of
    opposite signs cancel, and the result is the saliency of the score averaged over the
    noise, ``mean over k of score(x + noise_k)``.

    Parameters
    ----------
    model, images, class_index, batch_size
        As for :func:`saliency`. ``None`` picks the class predicted on the clean image.
    samples
        Noisy copies per image.
    noise
        Standard deviation of the noise, as a fraction of each image's value range
        (``max - min``); Smilkov et al. recommend 0.1 to 0.2.
    seed
        Seed of the noise. The same noise patterns (scaled per image) serve every image,
        so an image gets the same map alone or inside any batch.
    average
        ``"maps"`` (the default): the mean of the saliency maps of the copies, absolute
        values first, so that nothing cancels; ``"gradients"``: the mean of the signed
        gradients, then its absolute value, maximized over the channels.

    Returns
    -------
    numpy.ndarray
        float32 ``(N, H, W)`` (``(H, W)`` for one image), non-negative.

    Examples
    --------
    Without noise every copy is the image itself, so SmoothGrad is the saliency map:

    >>> import numpy as np
    >>> from helpers import explain, load_course_model
    >>> model = load_course_model()
    >>> rows, cols = np.mgrid[:28, :28]
    >>> image = np.exp(-(rows - 13.5) ** 2 / 60 - (cols - 13.5) ** 2 / 30)[..., None]
    >>> image = image.astype(np.float32)
    >>> plain = explain.saliency(model, image)
    >>> bool(np.allclose(explain.smoothgrad(model, image, samples=4, noise=0.0), plain,
    ...                  rtol=1e-5, atol=1e-6))
    True

    With noise, the same seed gives the same map:

    >>> smooth = explain.smoothgrad(model, image, samples=16, noise=0.15, seed=0)
    >>> smooth.shape, bool((smooth >= 0).all())
    ((28, 28), True)
    >>> bool(np.array_equal(smooth, explain.smoothgrad(model, image, samples=16, seed=0)))
    True
    """
    prepared = prepare(model, images, class_index, batch_size)
    samples = check_positive_int(samples, "samples")
    check_non_negative(noise, "noise", "fraction of the value range")
    check_choice(average, "average", SMOOTHGRAD_AVERAGES)
    batch = prepared.batch
    index = prepared.classes()
    noise_patterns = np.random.default_rng(seed).standard_normal(
        (samples, *batch.shape[1:]), dtype=np.float32)
    sigma = noise * (batch.max(axis=(1, 2, 3)) - batch.min(axis=(1, 2, 3)))
    maps = _gradient_sums(prepared, batch, sigma.astype(np.float32)[:, None, None, None], index,
                          noise_patterns, saliency_maps=average == "maps") / samples
    if average == "gradients":
        maps = np.abs(maps).max(axis=-1).astype(np.float32)
    return prepared.unbatch(maps)


def integrated_gradients(model: keras.Model, images: np.ndarray,
                         class_index: ClassIndex = None, baseline: float | np.ndarray | None = None,
                         steps: int = 64, *, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
    """Sundararajan et al.'s Integrated Gradients: signed attributions that add up.

    ``(x - baseline) * mean of the gradients along the straight path from baseline to x``,
    the path integral computed with the midpoint rule on ``steps`` points. The attributions
    of an image sum to ``score(x) - score(baseline)`` (completeness), more exactly the more
    steps. All ``steps x N`` points run as batches of at most ``batch_size`` images.
    Derived in chapter 05 (notebooks/05_saliency.ipynb).

    Parameters
    ----------
    model, images, class_index, batch_size
        As for :func:`saliency`. ``None`` picks the class predicted on the image itself.
    baseline
        The reference input ``x'``, in the model's input space (as ``images`` are): a
        number for a constant image, one image ``(H, W, C)`` for every image, or a batch
        ``(N, H, W, C)``. ``None`` means zeros of the model's input, ``x' = 0``. That is a
        black image for a model that takes pixels in [0, 1], as the course model does
        (chapter 05); the helper cannot know another model's preprocessing, so for one that
        maps pixels first, 0 is whatever pixel it maps to 0. EfficientNet-Lite0's
        ``(255 x - 127) / 128`` maps mid-gray ``x = 127/255`` to 0, so ``None`` is a gray
        baseline there, and black is ``helpers.imagenet.to_input(np.zeros_like(photos))``
        (as chapter 05 passes it).
    steps
        Points on the path (gradient evaluations per image).

    Returns
    -------
    numpy.ndarray
        float32 ``(N, H, W, C)`` (``(H, W, C)`` for one image), signed.

    Examples
    --------
    Completeness: the attributions add up to the class logit's gap between the image and
    the baseline, here ``None``, the zero input (black for the course model):

    >>> import numpy as np
    >>> from helpers import explain, load_course_model
    >>> model = load_course_model()
    >>> rows, cols = np.mgrid[:28, :28]
    >>> image = np.exp(-(rows - 13.5) ** 2 / 60 - (cols - 13.5) ** 2 / 30)[..., None]
    >>> image = image.astype(np.float32)
    >>> attributions = explain.integrated_gradients(model, image, class_index=6, steps=128)
    >>> attributions.shape
    (28, 28, 1)
    >>> logits = np.asarray(model(np.stack([image, np.zeros_like(image)])))
    >>> gap = logits[0, 6] - logits[1, 6]
    >>> print(f"sum of the attributions {attributions.sum():.2f}, logit gap {gap:.2f}")
    sum of the attributions 14.71, logit gap 14.79
    """
    prepared = prepare(model, images, class_index, batch_size)
    steps = check_positive_int(steps, "steps")
    batch = prepared.batch
    baseline = (np.zeros_like(batch) if baseline is None
                else as_baseline(baseline, batch, accepted="None, a number"))
    index = prepared.classes()
    alphas = ((np.arange(steps) + 0.5) / steps).astype(np.float32)[:, None, None, None]
    difference = batch - baseline
    gradient_sums = _gradient_sums(prepared, baseline, difference, index, alphas)
    return prepared.unbatch((difference * gradient_sums / steps).astype(np.float32))

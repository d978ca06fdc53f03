"""Is an explanation right? Scores for heatmaps, derived in chapter 07.

Chapter 07 (``notebooks/07_evaluating_explanations.ipynb``) asks of every method of
chapters 05 and 06 whether its heatmap can be trusted, in three ways:

* **faithfulness**: :func:`deletion_curve` and :func:`insertion_curve` (Petsiuk et al.
  2018) remove, or reveal, the pixels in the order the heatmap ranks them, most salient
  first, and follow the class probability; :func:`auc` sums a curve up. A map that finds
  what the model relies on makes the probability fall fast under deletion (small area)
  and rise fast under insertion (large area).
* **localization**: :func:`pointing_game` asks whether a map's maximum falls on the
  object, for data whose object masks are known (:func:`helpers.data.make_shapes`).
  On photographs, the mosaics of :func:`helpers.data.photo_grid` give each tile's class a
  known region, and :func:`mask_share` measures the share of a map's mass that falls there.
* **sanity**: :func:`randomization_test` (Adebayo et al. 2018) destroys the model's
  weights layer by layer, from the top, and measures how much the map still resembles the
  trained model's (Spearman rank correlation, :func:`rank_correlation`). A map that does
  not change explains the image, not the model. :func:`class_sensitivity` asks the same of
  the class: a map that hardly changes when it is asked about another class explains the
  image, not the class.

Heatmaps are ``(N, H, W)`` arrays at the images' size, as :mod:`helpers.explain` returns
them. Scores are class probabilities, the softmax of the logits (a final softmax of the
model is looked through first, as in :mod:`helpers.explain`). The model is never changed:
the randomization test works on a clone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf
from scipy.stats import bootstrap, rankdata

from helpers._validate import check_finite, check_int, check_non_negative, check_positive_int
from helpers.explain._checks import ClassIndex, as_baseline, class_indices
from helpers.explain._graph import (
    DEFAULT_BATCH_SIZE,
    INDEX_SPEC,
    class_probabilities,
    graph_function,
    image_spec,
    in_batches,
    per_model,
    prepare,
)
from helpers.models import weight_layers

__all__ = [
    "auc",
    "blur",
    "class_sensitivity",
    "deletion_curve",
    "insertion_curve",
    "mask_share",
    "mean_interval",
    "pointing_game",
    "randomization_test",
    "rank_correlation",
]

DEFAULT_STEPS = 32
#: Seed of the order in which pixels with equal heatmap values are deleted or inserted.
TIE_SEED = 0


# -- checking arguments --------------------------------------------------------------------
def _as_heatmaps(heatmaps, shape: tuple[int, ...], what: str = "heatmaps") -> np.ndarray:
    """``heatmaps`` (NumPy or TensorFlow) as float64 ``shape`` (``(N, H, W)``), with a
    message that helps."""
    array = np.asarray(heatmaps)
    if array.dtype == bool or not (np.issubdtype(array.dtype, np.floating)
                                   or np.issubdtype(array.dtype, np.integer)):
        raise TypeError(f"{what} must be an array of numbers, got dtype {array.dtype}")
    if array.shape != tuple(shape):
        hint = ""
        if array.shape == (*shape, array.shape[-1]) and array.ndim == len(shape) + 1:
            hint = (" (one value per channel, as integrated_gradients returns them? reduce the "
                    "channel axis first, e.g. np.abs(attributions).sum(axis=-1))")
        raise ValueError(f"{what} must have shape {tuple(shape)}, one map per image at the "
                         f"images' height and width; got {array.shape}{hint}")
    check_finite(array, what)
    return array.astype(np.float64)


def _as_masks(masks) -> np.ndarray:
    array = np.asarray(masks)
    if array.dtype != bool:
        raise TypeError(f"masks must be boolean (True on the object), got dtype {array.dtype}; "
                        "for a 0/1 array, pass masks.astype(bool) or masks > 0")
    if array.ndim != 3:
        raise ValueError(f"masks must be (N, H, W), got shape {array.shape}")
    empty = np.flatnonzero(~array.any(axis=(1, 2)))
    if empty.size:
        raise ValueError(f"the mask of image {int(empty[0])} is empty ({empty.size} empty in "
                         "all): with no object there is nothing to point at")
    return array


# -- deletion and insertion ----------------------------------------------------------------
def blur(images: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of images ``(N, H, W, C)`` over height and width, channel by channel.

    The insertion curve's starting canvas. Computed as two matrix products, one per axis,
    with each row of the Gaussian weights renormalized at the border (no dark rim).

    Parameters
    ----------
    images
        float ``(N, H, W, C)``.
    sigma
        Standard deviation of the Gaussian, in pixels; 0 returns the images unchanged.

    Returns
    -------
    numpy.ndarray
        float32, the shape of ``images``.

    Examples
    --------
    One bright pixel spreads over its neighbors, most to the nearest:

    >>> dot = np.zeros((1, 5, 5, 1), np.float32)
    >>> dot[0, 2, 2] = 1.0
    >>> blur(dot, sigma=1.0)[0, 2, :, 0].round(2)
    array([0.03, 0.1 , 0.16, 0.1 , 0.03], dtype=float32)

    Each pixel becomes a weighted average of its neighbors, with the weights renormalized at
    the border, so a uniform image stays as it is, without a dark rim:

    >>> gray = np.full((1, 5, 5, 1), 0.5, np.float32)
    >>> bool(np.allclose(blur(gray, sigma=2.0), gray))
    True
    """
    images = np.asarray(images, dtype=np.float32)
    check_non_negative(sigma, "sigma", "number of pixels")
    if sigma == 0:
        return images.copy()

    def weights(size):
        offsets = np.arange(size)[:, None] - np.arange(size)[None, :]
        kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
        return (kernel / kernel.sum(axis=1, keepdims=True)).astype(np.float32)

    height, width = images.shape[1:3]
    rows = np.einsum("yi,nixc->nyxc", weights(height), images)
    return np.einsum("xj,nyjc->nyxc", weights(width), rows)


def _fill(baseline, batch: np.ndarray, blur_sigma: float | None) -> np.ndarray:
    """The canvas that replaces the pixels: a blurred copy, a constant or given images."""
    if isinstance(baseline, str):
        if baseline != "blur":
            raise ValueError(f"baseline must be 'blur', a number, one image or one image per "
                             f"image; got {baseline!r}")
        sigma = max(batch.shape[1:3]) / 16 if blur_sigma is None else blur_sigma
        return blur(batch, sigma)
    return as_baseline(baseline, batch, accepted="'blur', a number")


def pixel_ranks(heatmaps: np.ndarray) -> np.ndarray:
    """Each pixel's place in its map's order, most salient first: int32 ``(N, H, W)``.

    Pixels with equal values (the zeros of a ReLU, a flat mask) are taken in a random
    order, the same fixed permutation for every map (seeded, so every machine gets the
    same curves): in row-major order, a flat region would be deleted or inserted as a band
    from the top, which is a strange image rather than a neutral choice.
    """
    n, height, width = heatmaps.shape
    flat = heatmaps.reshape(n, -1)
    tiebreak = np.random.default_rng(TIE_SEED).permutation(flat.shape[1])
    order = np.lexsort((np.broadcast_to(tiebreak, flat.shape), -flat), axis=-1)
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(flat.shape[1])[None], axis=1)
    return ranks.reshape(n, height, width).astype(np.int32)


@per_model
def _curve_fn(forward):
    image_shape = forward.image_shape
    images_spec = image_spec(image_shape)
    ranks_spec = tf.TensorSpec((None, *image_shape[:2]), tf.int32)

    @graph_function(input_signature=[images_spec, images_spec, ranks_spec, INDEX_SPEC,
                                     INDEX_SPEC, INDEX_SPEC, INDEX_SPEC])
    def curve_probabilities(first, second, ranks, index, pair_images, pair_counts, offset):
        # Pair p shows image pair_images[p] - offset with `first` on its pair_counts[p]
        # top-ranked pixels and `second` elsewhere: one batch of (image, step) pairs.
        images = pair_images - offset[0]
        chosen = tf.gather(ranks, images) < pair_counts[:, None, None]  # (p, H, W)
        mixed = tf.where(chosen[..., None], tf.gather(first, images), tf.gather(second, images))
        _, logits = forward.run(mixed)
        return class_probabilities(logits, tf.gather(index, images))[:, 0]  # (p,)

    return curve_probabilities


def _curve(kind, model, images, heatmaps, class_index, steps, baseline, blur_sigma,
           batch_size):
    prepared = prepare(model, images, class_index, batch_size)
    batch = prepared.batch
    steps = check_int(steps, "steps", minimum=1,
                      hint=" (the number of pixel batches removed or inserted)")
    heatmaps = _as_heatmaps(heatmaps, batch.shape[1:3] if prepared.single else batch.shape[:3])
    ranks = pixel_ranks(heatmaps[None] if prepared.single else heatmaps)
    index = prepared.classes()
    fill = _fill(baseline, batch, blur_sigma)
    pixels = batch.shape[1] * batch.shape[2]
    fractions = np.linspace(0.0, 1.0, steps + 1)
    counts = np.round(fractions * pixels).astype(np.int32)
    # Deletion puts the canvas on the top-ranked pixels; insertion puts the image there,
    # on the canvas.
    first, second = (fill, batch) if kind == "deletion" else (batch, fill)
    function = _curve_fn(model, prepared.image_shape)
    # Every (image, step) pair, image-major, in batches of batch_size pairs; each call gets
    # the images its pairs need.
    pair_images = np.repeat(np.arange(len(batch), dtype=np.int32), len(counts))
    pair_counts = np.tile(counts, len(batch))

    def some_pairs(pair_images, pair_counts):
        low, high = int(pair_images[0]), int(pair_images[-1]) + 1
        return function(first[low:high], second[low:high], ranks[low:high], index[low:high],
                        pair_images, pair_counts, tf.constant([low], tf.int32))

    scores = in_batches(some_pairs, [pair_images, pair_counts], prepared.batch_size)
    return fractions.astype(np.float32), prepared.unbatch(scores.reshape(len(batch), -1))


def deletion_curve(model: keras.Model, images: np.ndarray, heatmaps: np.ndarray,
                   class_index: ClassIndex = None, steps: int = DEFAULT_STEPS, *,
                   baseline: float | str | np.ndarray = 0.0, blur_sigma: float | None = None,
                   batch_size: int = DEFAULT_BATCH_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Petsiuk et al.'s deletion curve: the class probability as pixels are removed, most
    salient first.

    Step ``k`` replaces the ``k / steps`` most salient fraction of the pixels by
    ``baseline`` (0, as in the paper) and records the class probability. A map that ranks
    first the pixels the model relies on makes the curve drop at once: a small
    :func:`auc` is good. Derived in chapter 07 (notebooks/07_evaluating_explanations.ipynb).

    Parameters
    ----------
    model
        A Keras classifier; a final softmax is looked through, and the scores are the
        softmax of its logits.
    images
        float32 ``(N, H, W, C)`` or one image ``(H, W, C)``, preprocessed for the model.
    heatmaps
        ``(N, H, W)`` (``(H, W)`` for one image): the larger, the more salient. Equal
        values are taken in a fixed random order (:func:`pixel_ranks`).
    class_index
        ``None``: each image's predicted class (on the image itself); an int: that class
        for every image; a sequence: one class per image.
    steps
        The curve has ``steps + 1`` points; step ``k`` has changed the ``k / steps``
        most salient fraction of the pixels (rounded to whole pixels).
    baseline
        What replaces a deleted pixel: a number (every channel), one image ``(H, W, C)``,
        one image per image, or ``"blur"`` for a blurred copy. The default 0 is black
        for inputs in [0, 1].
    blur_sigma
        Standard deviation, in pixels, of the blur when ``baseline="blur"``; ``None``:
        1/16 of the image's larger side (4 pixels at 64 x 64, 14 at 224 x 224).
    batch_size
        Images per forward pass: the ``N x (steps + 1)`` changed images run in batches.

    Returns
    -------
    fractions : numpy.ndarray
        float32 ``(steps + 1,)``, from 0 to 1: the fraction of pixels changed.
    scores : numpy.ndarray
        float32 ``(N, steps + 1)`` (``(steps + 1,)`` for one image): the class
        probability at each step.
    """
    return _curve("deletion", model, images, heatmaps, class_index, steps, baseline,
                  blur_sigma, batch_size)


def insertion_curve(model: keras.Model, images: np.ndarray, heatmaps: np.ndarray,
                    class_index: ClassIndex = None, steps: int = DEFAULT_STEPS, *,
                    baseline: float | str | np.ndarray = "blur",
                    blur_sigma: float | None = None,
                    batch_size: int = DEFAULT_BATCH_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Petsiuk et al.'s insertion curve: the class probability as pixels are revealed, most
    salient first.

    Step ``k`` shows the ``k / steps`` most salient fraction of the image's pixels on a
    canvas (by default a blurred copy of the image, as in the paper: a black canvas would
    make the first revealed pixels look like a strange new image rather than a cleaner
    one). A map that finds the evidence first makes the curve rise at once: a large
    :func:`auc` is good. Derived in chapter 07 (notebooks/07_evaluating_explanations.ipynb).

    Parameters
    ----------
    model
        A Keras classifier; a final softmax is looked through, and the scores are the
        softmax of its logits.
    images
        float32 ``(N, H, W, C)`` or one image ``(H, W, C)``, preprocessed for the model.
    heatmaps
        ``(N, H, W)`` (``(H, W)`` for one image): the larger, the more salient. Equal
        values are taken in a fixed random order (:func:`pixel_ranks`).
    class_index
        ``None``: each image's predicted class (on the image itself); an int: that class
        for every image; a sequence: one class per image.
    steps
        The curve has ``steps + 1`` points; step ``k`` has changed the ``k / steps``
        most salient fraction of the pixels (rounded to whole pixels).
    baseline
        The canvas the pixels are inserted into: ``"blur"`` (the default, as in the
        paper) for a blurred copy of each image, which keeps the colors but wipes out
        shapes; or a number, one image, or one image per image.
    blur_sigma
        Standard deviation, in pixels, of the blur when ``baseline="blur"``; ``None``:
        1/16 of the image's larger side (4 pixels at 64 x 64, 14 at 224 x 224).
    batch_size
        Images per forward pass: the ``N x (steps + 1)`` changed images run in batches.

    Returns
    -------
    fractions : numpy.ndarray
        float32 ``(steps + 1,)``, from 0 to 1: the fraction of pixels changed.
    scores : numpy.ndarray
        float32 ``(N, steps + 1)`` (``(steps + 1,)`` for one image): the class
        probability at each step.
    """
    return _curve("insertion", model, images, heatmaps, class_index, steps, baseline,
                  blur_sigma, batch_size)


def auc(fractions: np.ndarray, scores: np.ndarray) -> float | np.ndarray:
    """The area under a deletion or insertion curve (trapezoidal rule).

    Parameters
    ----------
    fractions
        ``(S,)`` increasing, from 0 to 1, as :func:`deletion_curve` returns them.
    scores
        ``(S,)`` for one curve, or ``(N, S)`` for one curve per image.

    Returns
    -------
    float or numpy.ndarray
        In [0, 1] for probabilities: a float for one curve, ``(N,)`` float64 for ``N``.

    Examples
    --------
    A constant curve's area is its height. A deletion curve that drops to 0 at the first
    step, as for a map that ranks first the pixels the model needs, has the area of the
    first step's triangle:

    >>> fractions = np.linspace(0, 1, 5)
    >>> auc(fractions, np.full(5, 0.8))
    0.8
    >>> auc(fractions, [1.0, 0.0, 0.0, 0.0, 0.0])
    0.125

    One curve per image gives one area per image; a straight line from 1 to 0 has area 1/2:

    >>> auc(fractions, [[1.0, 1.0, 1.0, 1.0, 1.0], [1.0, 0.75, 0.5, 0.25, 0.0]])
    array([1. , 0.5])
    """
    fractions = np.asarray(fractions, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    if fractions.ndim != 1 or len(fractions) < 2:
        raise ValueError(f"fractions must be 1-D with at least 2 points, got shape "
                         f"{fractions.shape}")
    if np.any(np.diff(fractions) < 0):
        raise ValueError("fractions must be increasing, as the curves return them")
    if scores.ndim not in (1, 2) or scores.shape[-1] != len(fractions):
        raise ValueError(f"scores must be ({len(fractions)},) or (N, {len(fractions)}), one "
                         f"value per fraction; got shape {scores.shape}")
    check_finite(scores, "scores")
    areas = np.sum(np.diff(fractions) * (scores[..., 1:] + scores[..., :-1]) / 2.0, axis=-1)
    return float(areas) if scores.ndim == 1 else areas


# -- the pointing game -----------------------------------------------------------------------
def pointing_game(heatmaps: np.ndarray, masks: np.ndarray, *,
                  per_image: bool = False) -> float | np.ndarray:
    """Zhang et al.'s pointing game: does the heatmap's maximum fall on the object?

    Each image scores 1 when the pixel where its heatmap is largest lies inside its mask,
    0 when it lies outside; the result is the share of hits. When several pixels share the
    maximum (a flat map, an all-zero map), the image scores the share of them inside the
    mask, the chance of a hit if one of them were picked at random: a map that points
    nowhere in particular scores about the mask's area fraction, not 1. Derived in chapter
    07 (notebooks/07_evaluating_explanations.ipynb).

    Parameters
    ----------
    heatmaps
        ``(N, H, W)``, as :mod:`helpers.explain` returns them.
    masks
        bool ``(N, H, W)``: True on the object, never empty (as
        :func:`helpers.data.make_shapes` returns them).
    per_image
        Return each image's score instead of their mean.

    Returns
    -------
    float or numpy.ndarray
        The share of hits, in [0, 1]; with ``per_image``, float64 ``(N,)``.

    Examples
    --------
    The object is the top-left quarter of a 4 x 4 image. A heatmap that peaks on it hits, one
    that peaks elsewhere misses:

    >>> masks = np.zeros((2, 4, 4), bool)
    >>> masks[:, :2, :2] = True
    >>> heatmaps = np.zeros((2, 4, 4))
    >>> heatmaps[0, 1, 1] = 1.0
    >>> heatmaps[1, 3, 3] = 1.0
    >>> pointing_game(heatmaps, masks, per_image=True)
    array([1., 0.])
    >>> pointing_game(heatmaps, masks)
    0.5

    A flat map points nowhere in particular: it scores the mask's area fraction, the chance
    level, not 1:

    >>> pointing_game(np.ones((1, 4, 4)), masks[:1])
    0.25
    """
    masks = _as_masks(masks)
    heatmaps = _as_heatmaps(heatmaps, masks.shape)
    peaks = heatmaps == heatmaps.max(axis=(1, 2), keepdims=True)
    hits = (peaks & masks).sum(axis=(1, 2)) / peaks.sum(axis=(1, 2))
    return hits if per_image else float(hits.mean())


def mask_share(heatmaps: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """The share of each map's mass that falls inside its mask: the energy-based pointing game.

    Where :func:`pointing_game` looks only at a map's maximum, this weighs every pixel:
    ``sum(map * mask) / sum(map)``. The mask itself scores 1; a uniform map scores the
    mask's area fraction, the chance level; an all-zero map, which points nowhere, scores
    that area fraction too (not NaN). It is the "energy-based pointing game" of Wang et al.
    (2020, Score-CAM); on the mosaics of :func:`helpers.data.photo_grid`, with one tile's
    mask, it is the localization score of the grid pointing game (Boehle et al. 2021, 2022):
    the share of the map in the tile of the class it explains. Derived in chapter 07
    (notebooks/07_evaluating_explanations.ipynb).

    Parameters
    ----------
    heatmaps
        ``(N, H, W)``, non-negative, as :mod:`helpers.explain` returns them.
    masks
        bool ``(N, H, W)``, never empty.

    Returns
    -------
    numpy.ndarray
        float64 ``(N,)`` in [0, 1].

    Examples
    --------
    The object is the top-left quarter of a 4 x 4 image. The mask itself puts all of its mass
    on the object; a uniform map and an all-zero map score the area fraction, the chance
    level:

    >>> masks = np.zeros((3, 4, 4), bool)
    >>> masks[:, :2, :2] = True
    >>> heatmaps = np.stack([masks[0] * 1.0, np.ones((4, 4)), np.zeros((4, 4))])
    >>> mask_share(heatmaps, masks)
    array([1.  , 0.25, 0.25])
    """
    masks = _as_masks(masks)
    heatmaps = _as_heatmaps(heatmaps, masks.shape)
    if (heatmaps < 0).any():
        raise ValueError("heatmaps must be non-negative for a share of their mass; take "
                         "np.abs(...) or np.maximum(..., 0) of signed attributions first")
    inside = (heatmaps * masks).sum(axis=(1, 2))
    total = heatmaps.sum(axis=(1, 2))
    area = masks.mean(axis=(1, 2))
    return np.divide(inside, total, out=area.copy(), where=total > 0)


# -- the randomization test ------------------------------------------------------------------
def rank_correlation(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Spearman's rank correlation between two batches of maps, image by image.

    The Pearson correlation of the maps' pixel ranks (ties get their mean rank): 1 when
    the two maps order the pixels the same way, whatever their scales, 0 when their orders
    are unrelated. A constant map orders nothing; its correlation with any map is 0
    (instead of NaN).

    Parameters
    ----------
    first, second
        ``(N, H, W)`` (or any ``(N, ...)``), the same shape.

    Returns
    -------
    numpy.ndarray
        float64 ``(N,)`` in [-1, 1].

    Examples
    --------
    Only the order of the pixels counts, not the scale: squaring a positive map keeps its
    order, negating it reverses it, and a constant map has none:

    >>> first = np.arange(1.0, 17.0).reshape(1, 4, 4)
    >>> rank_correlation(first, first ** 2)
    array([1.])
    >>> rank_correlation(first, -first)
    array([-1.])
    >>> rank_correlation(first, np.ones((1, 4, 4)))
    array([0.])
    """
    first, second = np.asarray(first, np.float64), np.asarray(second, np.float64)
    if first.shape != second.shape or first.ndim < 2:
        raise ValueError(f"expected two batches of maps of the same shape (N, H, W), got "
                         f"{first.shape} and {second.shape}")
    check_finite(first, "first")
    check_finite(second, "second")
    a = rankdata(first.reshape(len(first), -1), axis=1)
    b = rankdata(second.reshape(len(second), -1), axis=1)
    a -= a.mean(axis=1, keepdims=True)
    b -= b.mean(axis=1, keepdims=True)
    norms = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    return np.divide((a * b).sum(axis=1), norms, out=np.zeros(len(a)), where=norms > 0)


def _check_method(method) -> None:
    if not callable(method):
        raise TypeError(f"method must be a function (model, images, class_index) -> heatmaps, "
                        f"got {type(method).__name__}")


def _reinitialize(layer: keras.layers.Layer, seed: int) -> None:
    """Draw every weight of ``layer`` afresh from the layer's own initializer, seeded.

    A kernel gets a new draw from its ``kernel_initializer`` (He, Glorot, ...), a bias its
    ``bias_initializer`` (zeros), a batch normalization its initial scale 1 and shift 0.
    A weight without an initializer attribute gets a truncated normal of standard
    deviation 0.05.
    """
    for offset, variable in enumerate(layer.weights):
        name = variable.path.rsplit("/", 1)[-1]
        initializer = getattr(layer, f"{name}_initializer", None)
        if initializer is None and name == "kernel":  # DepthwiseConv2D names it so
            initializer = getattr(layer, "depthwise_initializer", None)
        if initializer is None:
            initializer = keras.initializers.TruncatedNormal(stddev=0.05)
        config = initializer.get_config()
        if "seed" in config:
            initializer = type(initializer).from_config({**config, "seed": seed + offset})
        variable.assign(initializer(tuple(variable.shape), dtype=variable.dtype))


def randomization_test(model: keras.Model, images: np.ndarray, method: Callable,
                       class_index: ClassIndex = None, layers: Sequence[str] | None = None,
                       *, seed: int = 0) -> dict:
    """Adebayo et al.'s cascading model-parameter randomization test.

    On a clone of ``model`` (the model itself is never changed), the weights are drawn
    afresh from their initializers layer by layer, from the top (the logits) down; after
    each of the ``layers`` checkpoints, ``method`` explains the same images for the same
    classes again, and the map is compared with the trained model's by Spearman rank
    correlation (:func:`rank_correlation`). A method that explains the model gives maps
    that change, falling toward 0 as more layers are destroyed; one that stays near 1
    shows something about the image (edges, brightness) that would be there for any
    model. Derived in chapter 07 (notebooks/07_evaluating_explanations.ipynb).

    Parameters
    ----------
    model
        A Sequential or Functional Keras classifier (nested models allowed).
    images
        float32 ``(N, H, W, C)`` or one image, preprocessed for the model.
    method
        ``method(model, images, class_index=...) -> (N, H, W)``, for example
        :func:`helpers.explain.grad_cam`; bind other arguments with
        ``functools.partial``.
    class_index
        The class explained, held fixed through the test. ``None``: each image's class as
        the trained model predicts it.
    layers
        Names of the layers after which the map is recomputed; at each, it and every layer
        above it have been randomized. ``None``: every layer that has weights. They are
        reported top first, whatever order they are given in.
    seed
        Seed of the new weights (layer ``k`` from the top gets ``seed + 1000 k``).

    Returns
    -------
    dict
        ``"layers"``: the checkpoints, top first; ``"trained"``: float32 ``(N, H, W)``, the
        trained model's maps; ``"maps"``: float32 ``(L, N, H, W)``, the maps after each
        checkpoint; ``"correlations"``: float64 ``(L, N)``, each rank correlation with the
        trained map.
    """
    prepared = prepare(model, images, class_index, DEFAULT_BATCH_SIZE)
    _check_method(method)
    batch, single, index = prepared.batch, prepared.single, prepared.classes()
    weighted = weight_layers(model)
    positions = {layer.name: position for position, layer in enumerate(weighted)}
    if layers is None:
        checkpoints = [layer.name for layer in weighted]
    else:
        if isinstance(layers, str) or not isinstance(layers, Sequence) or not layers:
            raise TypeError("layers must be a non-empty sequence of layer names, or None")
        unknown = [name for name in layers if name not in positions]
        if unknown:
            raise ValueError(f"no layer with weights named {unknown[0]!r}; valid choices: "
                             f"{[layer.name for layer in weighted]}")
        checkpoints = list(dict.fromkeys(layers))
    checkpoints.sort(key=positions.__getitem__, reverse=True)

    def explain(some_model):
        maps = method(some_model, batch, class_index=[int(c) for c in index])
        return _as_heatmaps(maps, batch.shape[:3], what="the maps the method returned")

    trained = explain(model)
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    clone_layers = weight_layers(clone)
    maps, done = [], len(clone_layers)  # layers from `done` up are randomized
    for checkpoint in checkpoints:
        for position in range(positions[checkpoint], done):
            _reinitialize(clone_layers[position],
                          seed + 1000 * (len(clone_layers) - 1 - position))
        done = min(done, positions[checkpoint])
        maps.append(explain(clone))
    maps = np.stack(maps)
    correlations = np.stack([rank_correlation(trained, m) for m in maps])
    trained, maps = trained.astype(np.float32), maps.astype(np.float32)
    if single:
        trained, maps, correlations = trained[0], maps[:, 0], correlations[:, 0]
    return {"layers": checkpoints, "trained": trained, "maps": maps,
            "correlations": correlations}


def class_sensitivity(model: keras.Model, images: np.ndarray, method: Callable,
                      other: ClassIndex = None, *, seed: int = 0) -> np.ndarray:
    """Does the map change when the class does? Rank correlation of two classes' maps.

    For each image, ``method`` explains the model's predicted class and then ``other``, a
    different class; the result is the Spearman rank correlation of the two maps
    (:func:`rank_correlation`). A map that explains the class should change with it: for
    two unrelated classes the correlation should be low, or negative. Near 1, the map
    shows the same pixels whatever class it is asked about, so it cannot say which pixels
    made *this* class win; a map that ignores the model (an edge detector) scores exactly
    1. On a global-average-pooling head, Grad-CAM++'s positive weights make its maps
    nearly class-blind (chapter 06's closed form); this test measures it. Derived in
    chapter 07 (notebooks/07_evaluating_explanations.ipynb).

    Parameters
    ----------
    model
        A Keras classifier; a final softmax is looked through.
    images
        float32 ``(N, H, W, C)`` or one image ``(H, W, C)``, preprocessed for the model.
    method
        ``method(model, images, class_index=...) -> (N, H, W)``, for example
        :func:`helpers.explain.grad_cam`; bind other arguments with ``functools.partial``.
    other
        The class to compare with: ``None`` draws, for each image, one class at random
        among those it is not predicted as (seeded); an int applies to every image; a
        sequence gives one per image. It may not be an image's predicted class.
    seed
        Seed of the random classes when ``other`` is ``None``.

    Returns
    -------
    numpy.ndarray
        float64 ``(N,)`` (a float for one image), in [-1, 1].
    """
    prepared = prepare(model, images, None, DEFAULT_BATCH_SIZE)
    _check_method(method)
    batch, single = prepared.batch, prepared.single
    num_classes = prepared.forward.require_classes()
    if num_classes < 2:
        raise ValueError("class_sensitivity needs a model with at least 2 classes")
    predicted = prepared.classes()
    if other is None:
        # A uniform draw among the num_classes - 1 other classes: shift past the predicted one.
        draw = np.random.default_rng(seed).integers(0, num_classes - 1, len(batch))
        others = np.where(draw >= predicted, draw + 1, draw).astype(np.int32)
    else:
        others = class_indices(other, len(batch), num_classes)
        same = np.flatnonzero(others == predicted)
        if same.size:
            raise ValueError(f"other must differ from each image's predicted class; image "
                             f"{int(same[0])} is predicted as class {int(predicted[same[0]])}, "
                             "the class it would be compared with (pass None for a random "
                             "other class)")

    def explain(classes):
        maps = method(model, batch, class_index=[int(c) for c in classes])
        return _as_heatmaps(maps, batch.shape[:3], what="the maps the method returned")

    correlations = rank_correlation(explain(predicted), explain(others))
    return float(correlations[0]) if single else correlations


def mean_interval(values, confidence: float = 0.95, *, seed: int = 0,
                  resamples: int = 9999) -> tuple[float, float, float]:
    """A mean over examples with its bootstrap confidence interval.

    The mean of ``values`` and the ``confidence`` interval of the mean from
    :func:`scipy.stats.bootstrap` (BCa, ``resamples`` resamples, seeded): the range that
    a mean over as many other examples of the same kind would fall in, 95 times in 100 by
    default. The interval is as wide as the examples disagree and narrows with their
    number; it says nothing of what the examples have in common (the same five photos in
    every mosaic, say). Used in chapters 06 and 07.

    Parameters
    ----------
    values
        The per-example numbers, any shape (flattened): at least 2, all finite.
    confidence
        The interval's confidence level, between 0 and 1.
    seed
        Seed of the resampling: the same values give the same interval.
    resamples
        Number of bootstrap resamples.

    Returns
    -------
    (mean, low, high) : tuple of float
        ``low <= mean <= high``; all three equal when every value is the same.

    Examples
    --------
    7 hits in 10 images, then the same share of hits in 100: the mean is the same, the
    interval narrower with more examples:

    >>> hits = [1, 0, 1, 1, 0, 1, 1, 1, 0, 1]
    >>> mean, low, high = mean_interval(hits)
    >>> print(f"{mean:.2f} [{low:.2f}, {high:.2f}]")
    0.70 [0.40, 0.90]
    >>> mean, low, high = mean_interval(hits * 10)
    >>> print(f"{mean:.2f} [{low:.2f}, {high:.2f}]")
    0.70 [0.61, 0.78]

    Values that all agree leave nothing to resample; the interval is the mean:

    >>> mean_interval([0.5, 0.5, 0.5])
    (0.5, 0.5, 0.5)
    """
    array = np.asarray(values, dtype=np.float64).ravel()
    if array.size < 2:
        raise ValueError(f"a mean's interval needs at least 2 values, got {array.size}")
    check_finite(array, "values")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    resamples = check_positive_int(resamples, "resamples")
    mean = float(array.mean())
    if np.ptp(array) == 0:  # no spread: the bootstrap has nothing to resample
        return mean, mean, mean
    result = bootstrap((array,), np.mean, confidence_level=confidence, n_resamples=resamples,
                       vectorized=True, rng=np.random.default_rng(seed))
    low, high = result.confidence_interval
    return mean, float(min(low, mean)), float(max(high, mean))

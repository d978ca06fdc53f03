"""The real images that excite a filter most: Distill's "dataset examples".

Derived in chapter 04 (``notebooks/04_filter_visualization.ipynb``). An optimized picture
(:func:`~helpers.explain.maximize_activation`) is half of the answer to "what does this
filter look for"; the other half is the images, among real ones, on which the filter
responds most (Olah et al., "Feature Visualization", Distill 2017). Shown side by side,
they tell a filter's pattern from the optimizer's artifacts.

For each filter and each image, the strongest unit is the position where the filter's map
is highest; the images are ranked by that value and the best ``top`` kept, each as the
patch of its strongest unit's receptive field (:func:`~helpers.explain.receptive_field`).
One forward pass per batch of images serves all filters at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from helpers._validate import check_positive_int
from helpers.explain._graph import (
    INDEX_SPEC,
    graph_function,
    image_spec,
    per_model,
    prepare,
)
from helpers.explain.filters import _filter_indices
from helpers.explain.receptive_fields import ReceptiveField, _field_of


class StrongestUnits(NamedTuple):
    """Per filter, the ``top`` images whose strongest unit is strongest, best first.

    Each array is ``(F, top)``: the unit's value (float32), its image's index in the batch,
    and its row and column in the layer's map (int64).
    """

    values: np.ndarray
    images: np.ndarray
    rows: np.ndarray
    cols: np.ndarray


def strongest_units(model: keras.Model, images: np.ndarray, layer: str,
                    filters: int | Sequence[int], top: int = 9, *,
                    pre_activation: bool = True, batch_size: int = 64,
                    progress: bool = True) -> StrongestUnits:
    """For each filter, the ``top`` images on which it responds most, and where.

    An image's score for a filter is the highest value of that filter's map on it, at its
    *strongest unit* (the first in reading order if several tie); the images are ranked by
    that score, best first (ties: the lower index first), so no image appears twice for one
    filter. Chapter 04 (notebooks/04_filter_visualization.ipynb) derives it.

    Parameters are those of :func:`dataset_examples`.

    Returns
    -------
    StrongestUnits
        ``values``, ``images``, ``rows``, ``cols``, each ``(F, top)`` (``(top,)`` for one int
        filter).

    Examples
    --------
    A filter that copies the center of its 3 x 3 window, and three images, black but for one
    pixel each:

    >>> import keras
    >>> inputs = keras.Input((8, 8, 1))
    >>> model = keras.Model(inputs, keras.layers.Conv2D(1, 3, name="conv")(inputs))
    >>> center = np.zeros((3, 3, 1, 1), np.float32)
    >>> center[1, 1] = 1.0
    >>> model.get_layer("conv").set_weights([center, np.zeros(1)])
    >>> images = np.zeros((3, 8, 8, 1), np.float32)
    >>> images[0, 2, 5], images[1, 6, 1], images[2, 4, 4] = 1.0, 2.0, 0.5

    The brightest pixels win, each where it is (``"valid"`` padding: unit ``(r, c)`` sees
    pixel ``(r + 1, c + 1)``):

    >>> units = strongest_units(model, images, "conv", filters=0, top=2)
    >>> units.values, units.images
    (array([2., 1.], dtype=float32), array([1, 0]))
    >>> units.rows, units.cols
    (array([5, 1]), array([0, 4]))
    """
    prepared, call, filter_array, single_filter, top = _checked(
        model, images, layer, filters, top, batch_size)
    units = _strongest(prepared, call, filter_array, top, pre_activation, progress)
    return StrongestUnits(*(a[0] for a in units)) if single_filter else units


def dataset_examples(model: keras.Model, images: np.ndarray, layer: str,
                     filters: int | Sequence[int], top: int = 9, *,
                     pre_activation: bool = True, batch_size: int = 64,
                     progress: bool = True) -> np.ndarray:
    """The image patches that excite each filter most: its dataset examples.

    For each filter, the ``top`` images whose strongest unit responds most
    (:func:`strongest_units`), each cut to that unit's receptive field
    (:func:`~helpers.explain.receptive_field`): the part of the image the unit sees. Where
    the field reaches past the image's border (``"same"`` padding), the patch is padded with
    zeros, the value the network's padding feeds the unit. Strongest first; no image twice
    for one filter. Shown beside :func:`~helpers.explain.maximize_activation`'s pictures in
    chapter 04 (notebooks/04_filter_visualization.ipynb), after Olah et al., "Feature
    Visualization" (Distill, 2017).

    Parameters
    ----------
    model
        A Sequential or Functional Keras model; ``layer`` may sit in a nested model.
    images
        float32 ``(N, H, W, C)``, preprocessed for the model (one image ``(H, W, C)`` counts
        as a batch of one).
    layer
        Name of a layer with a 4-D ``(N, h, w, channels)`` output.
    filters
        Channel indices; one int gives the result without the filter axis.
    top
        Patches per filter; at most the number of images.
    pre_activation
        Rank the units by the layer's output before its activation (for an activation layer
        such as ``ReLU``, by its input), the value that
        :func:`~helpers.explain.maximize_activation` raises by default; a ReLU6's cap would
        make many units tie at 6.
    batch_size
        Images per forward pass.
    progress
        Show a progress bar over the images when the passes take more than a second.

    Returns
    -------
    numpy.ndarray
        float32 ``(F, top, h, w, C)`` (``(top, h, w, C)`` for one int filter), where
        ``(h, w)`` is the receptive field's size.

    Raises
    ------
    ValueError
        For an unknown layer (the message lists the spatial ones), a filter out of range,
        ``top`` above the number of images, or images of the wrong shape.
    TypeError
        For filters that are not ints, or images that are not floating point.

    Examples
    --------
    A filter that copies the center of its 3 x 3 window, and three images, black but for one
    pixel each:

    >>> import keras
    >>> inputs = keras.Input((8, 8, 1))
    >>> model = keras.Model(inputs, keras.layers.Conv2D(1, 3, name="conv")(inputs))
    >>> center = np.zeros((3, 3, 1, 1), np.float32)
    >>> center[1, 1] = 1.0
    >>> model.get_layer("conv").set_weights([center, np.zeros(1)])
    >>> images = np.zeros((3, 8, 8, 1), np.float32)
    >>> images[0, 2, 5], images[1, 6, 1], images[2, 4, 4] = 1.0, 2.0, 0.5

    The two best patches are 3 x 3, the unit's receptive field, each centered on its
    image's bright pixel, the brightest first:

    >>> patches = dataset_examples(model, images, "conv", filters=0, top=2)
    >>> patches.shape
    (2, 3, 3, 1)
    >>> patches[..., 0]
    array([[[0., 0., 0.],
            [0., 2., 0.],
            [0., 0., 0.]],
    <BLANKLINE>
           [[0., 0., 0.],
            [0., 1., 0.],
            [0., 0., 0.]]], dtype=float32)
    """
    prepared, call, filter_array, single_filter, top = _checked(
        model, images, layer, filters, top, batch_size)
    units = _strongest(prepared, call, filter_array, top, pre_activation, progress)
    field = _field_of(prepared.forward, call.output, prepared.image_shape)
    patches = cut_patches(prepared.batch, field, units.images, units.rows, units.cols)
    return patches[0] if single_filter else patches


def cut_patches(images: np.ndarray, field: ReceptiveField, image_index: np.ndarray,
                rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """The receptive fields of chosen units, cut out of their images.

    The last step of :func:`dataset_examples`, on its own so that a chapter can keep the
    units of :func:`strongest_units` (which images, where) and still get the patches
    (chapter 04, notebooks/04_filter_visualization.ipynb).

    Parameters
    ----------
    images
        ``(N, H, W, C)``, the images the units were found in.
    field
        The layer's :class:`~helpers.explain.ReceptiveField`.
    image_index, rows, cols
        Integer arrays of one shape ``(...)``: each unit's image and position in the map
        (``StrongestUnits.images``, ``.rows``, ``.cols``).

    Returns
    -------
    numpy.ndarray
        ``(..., h, w, C)``, zeros wherever a field reaches past its image's border.

    Examples
    --------
    The field of a 3 x 3 convolution with ``"same"`` padding starts one pixel above and left
    of the image; cut for units ``(0, 0)`` and ``(2, 1)`` of one 4 x 4 image:

    >>> from helpers.explain import ReceptiveField
    >>> field = ReceptiveField(size=(3, 3), jump=(1, 1), start=(-1, -1))
    >>> image = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    >>> patches = cut_patches(image, field, np.array([0, 0]), rows=np.array([0, 2]),
    ...                       cols=np.array([0, 1]))
    >>> patches.shape
    (2, 3, 3, 1)
    >>> patches[0, ..., 0]  # the top row and the left column lie in the padding
    array([[0., 0., 0.],
           [0., 0., 1.],
           [0., 4., 5.]], dtype=float32)
    >>> patches[1, ..., 0]  # rows 1 to 3, columns 0 to 2
    array([[ 4.,  5.,  6.],
           [ 8.,  9., 10.],
           [12., 13., 14.]], dtype=float32)
    """
    used, where = np.unique(np.asarray(image_index), return_inverse=True)
    pad_rows, pad_cols = max(field.size[0], 0), max(field.size[1], 0)
    # Pad each image once by a whole field on every side: every window then fits.
    padded = np.pad(images[used], ((0, 0), (pad_rows, pad_rows), (pad_cols, pad_cols), (0, 0)))
    top = field.start[0] + np.asarray(rows) * field.jump[0] + pad_rows
    left = field.start[1] + np.asarray(cols) * field.jump[1] + pad_cols
    r = top[..., None, None] + np.arange(field.size[0])[:, None]
    c = left[..., None, None] + np.arange(field.size[1])[None, :]
    return padded[where.reshape(np.shape(image_index))[..., None, None], r, c]


def _strongest(prepared, call, filter_array, top, pre_activation, progress) -> StrongestUnits:
    """The work of :func:`strongest_units`, on checked arguments; ``(F, top)`` arrays."""
    function = _strongest_fn(prepared.model, prepared.image_shape, call.path, bool(pre_activation))
    chosen = tf.constant(filter_array)
    batch = prepared.batch
    values, positions = [], []
    with tqdm(total=len(batch), desc=f"dataset examples of {call.name}", unit="image",
              disable=not progress, delay=1.0, leave=False) as bar:
        for start in range(0, len(batch), prepared.batch_size):
            part = batch[start:start + prepared.batch_size]
            value, position = function(tf.constant(part), chosen)
            values.append(value.numpy())
            positions.append(position.numpy())
            bar.update(len(part))
    values = np.concatenate(values).T  # (F, N): each image's strongest unit, per filter
    positions = np.concatenate(positions).T
    order = np.argsort(-values, axis=1, kind="stable")[:, :top]  # best first, ties by index
    width = call.shape[1]
    rows, cols = np.divmod(np.take_along_axis(positions, order, axis=1).astype(np.int64), width)
    return StrongestUnits(np.take_along_axis(values, order, axis=1), order.astype(np.int64),
                          rows, cols)


def _checked(model, images, layer, filters, top, batch_size):
    """The arguments of both functions, checked in the order their errors are reported."""
    prepared = prepare(model, images, batch_size=batch_size, layer=layer, classifier=False)
    filter_array, single_filter = _filter_indices(filters, prepared.call)
    top = check_positive_int(top, "top")
    if top > len(prepared.batch):
        raise ValueError(f"top={top}, but there are only {len(prepared.batch)} images: each "
                         f"image gives at most one example per filter; pass top <= "
                         f"{len(prepared.batch)} or more images")
    return prepared, prepared.call, filter_array, single_filter, top


@per_model
def _strongest_fn(forward, layer, pre_activation):
    """Compiled: a batch and the filters -> each image's strongest value and its flat
    position, ``(N, F)`` each."""
    call = forward.find(layer)

    @graph_function(input_signature=[image_spec(forward.image_shape), INDEX_SPEC])
    def strongest(x, chosen):
        taps, _ = forward.run(x, taps=[call.layer], logits=False, pre_activation=pre_activation)
        maps = tf.gather(tf.cast(taps[call.name], tf.float32), chosen, axis=-1)
        flat = tf.transpose(tf.reshape(maps, (tf.shape(maps)[0], -1, tf.shape(chosen)[0])),
                            (0, 2, 1))  # (N, F, positions)
        best = tf.reduce_max(flat, axis=-1)
        # The first position that reaches the maximum: tf.argmax does not promise which.
        index = tf.range(tf.shape(flat)[-1])
        first = tf.reduce_min(tf.where(flat == best[..., None], index, tf.shape(flat)[-1]),
                              axis=-1)
        return best, first

    return strongest

"""Class activation maps: CAM, Grad-CAM, Grad-CAM++ and Score-CAM, and the skeleton they share.

Derived in chapter 06 (``notebooks/06_class_activation_maps.ipynb``). Each method weighs the
channels of one spatial layer's output ``A`` (``(N, h, w, C)``) and sums them into a coarse
map ``(N, h, w)``, keeps its positive part (Grad-CAM's ReLU; Zhou et al.'s CAM itself is
signed) and resizes it bilinearly to the input's size.
They differ only in the weights:

* ``cam``: the final Dense layer's weights for the class (needs global average pooling
  right before that layer);
* ``grad_cam``: the spatial mean of d(score)/dA;
* ``grad_cam_plus_plus``: a weighting of the positive parts of d(score)/dA;
* ``score_cam``: the class probability of the image masked by each channel, minus that of
  a blank image.

A new method is a subclass of :class:`ClassActivationMap` that says how to weigh ``A``
given ``A`` and d(score)/dA (``CONTRIBUTING.md`` adds LayerCAM this way).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import keras
import numpy as np
import tensorflow as tf

from helpers._validate import check_positive_int
from helpers.explain._checks import ClassIndex
from helpers.explain._graph import (
    DEFAULT_BATCH_SIZE,
    INDEX_SPEC,
    Prepared,
    class_probabilities,
    class_scores,
    compiled,
    graph_function,
    image_spec,
    in_batches,
    in_column_chunks,
    per_model,
    prepare,
    upsample,
)

_ANY_4D = tf.TensorSpec((None, None, None, None), tf.float32)


def _weighted_sum(activations, weights):
    """ReLU(sum over channels of weight * activation): ``(N, h, w, C), (N, C) -> (N, h, w)``."""
    return tf.nn.relu(tf.einsum("nhwk,nk->nhw", activations, weights))


def activations_and_gradients(forward, call, x, index):
    """The target layer's output ``A`` and d(class score)/dA, in float32."""
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        taps, logits = forward.run(x, taps=[call.layer], watch=tape.watch)
        scores, index = class_scores(logits, index)
    activations = taps[call.name]
    grads = tape.gradient(scores, activations,
                          unconnected_gradients=tf.UnconnectedGradients.ZERO)
    return tf.cast(activations, tf.float32), tf.cast(grads, tf.float32)


class ClassActivationMap:
    """The skeleton every class activation map shares, and the way to add one.

    Like pytorch-grad-cam's ``BaseCAM``, the skeleton does everything but the weighing: it
    checks the arguments, finds the layer, computes the layer's output ``A`` and, when the
    method needs them, the gradients of the class score with respect to ``A``, in one
    compiled function per model, layer and parameter values; then it sums the weighted
    channels, keeps the positive part, upsamples and unbatches. A method is its
    :meth:`weights`. Chapter 06 (``notebooks/06_class_activation_maps.ipynb``) derives the
    methods; ``CONTRIBUTING.md`` adds one (LayerCAM).

    A method's parameters are its instance attributes, set in ``__init__`` or declared as
    dataclass fields: the compiled function is cached on their values, so two instances
    with different values never share one (their values must be hashable: numbers,
    strings, tuples).

    Attributes
    ----------
    needs_gradients : bool
        Class attribute. True (the default): :meth:`weights` gets d(class score)/dA;
        False: it gets None, and no backward pass runs.
    needs_class : bool
        Class attribute. True (the default): the map explains a class, and the model must
        be a classifier; False: the map depends on the image only (as Eigen-CAM's), any
        model with a spatial layer will do, and ``class_index`` must be None.

    Examples
    --------
    Grad-CAM's weights are the spatial mean of the gradients; a method that doubles them
    doubles the map:

    >>> import numpy as np, tensorflow as tf
    >>> from helpers.explain import ClassActivationMap, grad_cam
    >>> from helpers.models import build_convnet
    >>> class ScaledGradCAM(ClassActivationMap):
    ...     def __init__(self, scale):
    ...         self.scale = scale
    ...     def weights(self, activations, gradients):
    ...         return self.scale * tf.reduce_mean(gradients, axis=(1, 2))
    >>> model = build_convnet((4, "pool", 8), (16, 16, 1), num_classes=3)  # seeded, untrained
    >>> images = np.random.default_rng(0).random((2, 16, 16, 1), dtype=np.float32)
    >>> maps = ScaledGradCAM(2.0)(model, images, class_index=1)
    >>> maps.shape
    (2, 16, 16)
    >>> bool(np.allclose(maps, 2 * grad_cam(model, images, class_index=1), rtol=1e-5))
    True
    """

    needs_gradients: ClassVar[bool] = True
    needs_class: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.needs_gradients and not cls.needs_class:
            raise TypeError(f"{cls.__name__}: needs_gradients needs a class score to "
                            "differentiate; set needs_class = True, or needs_gradients = False")

    def weights(self, activations: tf.Tensor, gradients: tf.Tensor | None) -> tf.Tensor:
        """The weights of the layer's output, from that output and its gradients.

        Parameters
        ----------
        activations
            float32 ``(N, h, w, C)``: the layer's output ``A``.
        gradients
            float32 ``(N, h, w, C)``: d(class score)/dA, the score being the class logit;
            None when :attr:`needs_gradients` is False.

        Returns
        -------
        tf.Tensor
            float32 ``(N, C)``, one weight per channel, or ``(N, h, w, C)``, one weight per
            position and channel: :meth:`combine` sums the weighted activations over the
            channels.
        """
        raise NotImplementedError(f"{type(self).__name__} must define weights(activations, "
                                  "gradients)")

    def combine(self, activations: tf.Tensor, weights: tf.Tensor) -> tf.Tensor:
        """The coarse map ``(N, h, w)``: ReLU of the sum over channels of the weighted
        activations, for channel weights ``(N, C)`` or per-position weights ``(N, h, w, C)``."""
        if weights.shape.rank == 2:
            return _weighted_sum(activations, weights)
        if weights.shape.rank == 4:
            return tf.nn.relu(tf.reduce_sum(weights * activations, axis=-1))
        raise ValueError(f"{type(self).__name__}.weights must return (N, C) or (N, h, w, C) "
                         f"weights, got shape {weights.shape}")

    def check(self, prepared: Prepared) -> None:
        """Fail early, with a clear message, where the method does not apply."""

    def _activations_and_weights(self, forward, call, x, index):
        """``(A, weights)`` in the compiled function. CAM, which reads the Dense head's
        weights rather than gradients, replaces this; a new method should not need to."""
        if self.needs_gradients:
            activations, gradients = activations_and_gradients(forward, call, x, index)
        else:
            taps, _ = forward.run(x, taps=[call.layer], logits=False)
            activations, gradients = tf.cast(taps[call.name], tf.float32), None
        return activations, self.weights(activations, gradients)

    def _parameters(self) -> tuple:
        """The method's parameters, ``(name, value)`` sorted by name: part of the key of its
        compiled function."""
        parameters = tuple(sorted(vars(self).items()))
        for name, value in parameters:
            try:
                hash(value)
            except TypeError:
                raise TypeError(f"{type(self).__name__}'s parameter {name} must be hashable "
                                f"(a number, a string, a tuple), got {type(value).__name__}"
                                ) from None
        return parameters

    def maps(self, prepared: Prepared) -> np.ndarray:
        """The maps ``(N, H, W)`` of a prepared call, ``batch_size`` images at a time."""
        key = ("class_activation_map", prepared.image_shape, type(self), self._parameters(),
               prepared.call.path)
        function = compiled(prepared.model, key, lambda: _map_fn(
            prepared.forward, self, prepared.call.path))
        index = (prepared.index if prepared.index is not None
                 else np.full(len(prepared.batch), -1, np.int32))
        return in_batches(function, [prepared.batch, index], prepared.batch_size)

    def __call__(self, model: keras.Model, images: np.ndarray, class_index: ClassIndex = None,
                 layer: str | None = None, *, batch_size: int = DEFAULT_BATCH_SIZE
                 ) -> np.ndarray:
        """The method's maps: float32 ``(N, H, W)`` (``(H, W)`` for one image), with the
        arguments of :func:`grad_cam`."""
        if not self.needs_class and class_index is not None:
            raise TypeError(f"{type(self).__name__} does not depend on a class (needs_class "
                            f"is False); class_index must be None, got {class_index!r}")
        prepared = prepare(model, images, class_index, batch_size, layer=layer,
                           classifier=self.needs_class)
        self.check(prepared)
        return prepared.unbatch(self.maps(prepared))


def _map_fn(forward, method, layer):
    call = forward.find(layer)

    @graph_function(input_signature=[image_spec(forward.image_shape), INDEX_SPEC])
    def class_activation_map(x, index):
        activations, weights = method._activations_and_weights(forward, call, x, index)
        return upsample(method.combine(activations, weights), forward.image_shape[:2])

    return class_activation_map


class CAM(ClassActivationMap):
    """Zhou et al.'s weights: the final Dense layer's, read from the model (no gradients)."""

    needs_gradients = False

    def _activations_and_weights(self, forward, call, x, index):
        head = forward.dense_head(call)
        taps, logits = forward.run(x, taps=[call.layer])
        _, index = class_scores(logits, index)
        kernel = tf.cast(head.kernel, tf.float32)  # (C, classes)
        return tf.cast(taps[call.name], tf.float32), tf.gather(tf.transpose(kernel), index)

    def check(self, prepared):
        prepared.forward.dense_head(prepared.call)


class GradCAM(ClassActivationMap):
    """Selvaraju et al.'s weights: the spatial mean of the gradients."""

    def weights(self, activations, gradients):
        return tf.reduce_mean(gradients, axis=(1, 2))


class GradCAMPlusPlus(ClassActivationMap):
    """Chattopadhay et al.'s weights: the positive gradients, each position weighted."""

    def weights(self, activations, gradients):
        squared = tf.square(gradients)
        denominator = 2.0 * squared + tf.reduce_sum(activations, axis=(1, 2), keepdims=True) * (
            squared * gradients)
        alphas = tf.math.divide_no_nan(squared, denominator)  # 0 where the gradient is 0
        return tf.reduce_sum(alphas * tf.nn.relu(gradients), axis=(1, 2))


def cam(model: keras.Model, images: np.ndarray, class_index: ClassIndex = None,
        layer: str | None = None, *, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
    """Zhou et al.'s class activation map (CAM), with Grad-CAM's ReLU for display.

    ``upsample(ReLU(M_c))`` with the class map ``M_c = sum_k w_kc A_k`` and ``w_kc`` the
    final Dense layer's weight from channel ``k`` to class ``c``. Zhou et al. upsample the
    signed ``M_c``; the ReLU (from Grad-CAM) keeps the evidence for the class, so that the
    map is non-negative like every heatmap here. Exact for models whose layer output
    reaches the logits through ``GlobalAveragePooling2D`` and one ``Dense`` layer (a
    ValueError otherwise); there it equals :func:`grad_cam` times ``h * w``. Derived in chapter 06
    (notebooks/06_class_activation_maps.ipynb).

    Parameters
    ----------
    model
        A Keras classifier (Sequential or Functional, possibly with a nested base model);
        a final softmax is looked through, so scores are logits.
    images
        float32 ``(N, H, W, C)`` or one image ``(H, W, C)``, preprocessed for the model.
    class_index
        ``None``: each image's predicted class; an int: that class for every image; a
        sequence: one class per image.
    layer
        Name of a layer with a 4-D output ``(N, h, w, C)``, also inside a nested model;
        ``None`` takes the last such layer; a layer called more than once is refused.
    batch_size
        Images per forward (and backward) pass.

    Returns
    -------
    numpy.ndarray
        float32 ``(N, H, W)`` (``(H, W)`` for one image): non-negative, not normalized,
        resized bilinearly from the layer's ``(h, w)`` to the input's ``(H, W)``.

    Examples
    --------
    On a global-average-pooling head, CAM is Grad-CAM times the number of positions of
    the layer (8 x 8 here):

    >>> import numpy as np
    >>> from helpers import explain
    >>> from helpers.models import build_convnet
    >>> model = build_convnet((4, "pool", 8), (16, 16, 1), num_classes=3)  # seeded, untrained
    >>> images = np.random.default_rng(0).random((2, 16, 16, 1), dtype=np.float32)
    >>> maps = explain.cam(model, images, class_index=2)
    >>> maps.shape
    (2, 16, 16)
    >>> bool(np.allclose(maps, 64 * explain.grad_cam(model, images, class_index=2), rtol=1e-4))
    True
    """
    return CAM()(model, images, class_index, layer, batch_size=batch_size)


def grad_cam(model: keras.Model, images: np.ndarray, class_index: ClassIndex = None,
             layer: str | None = None, *, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
    """Selvaraju et al.'s Grad-CAM.

    ``ReLU(sum_k alpha_k A_k)`` with ``alpha_k`` the spatial mean of the gradient of the
    class score with respect to channel ``k`` of the layer's output. Works for any
    architecture; costs one forward pass and a backward pass down to the layer. Derived in
    chapter 06 (notebooks/06_class_activation_maps.ipynb).

    Parameters
    ----------
    model
        A Keras classifier (Sequential or Functional, possibly with a nested base model);
        a final softmax is looked through, so scores are logits.
    images
        float32 ``(N, H, W, C)`` or one image ``(H, W, C)``, preprocessed for the model.
    class_index
        ``None``: each image's predicted class; an int: that class for every image; a
        sequence: one class per image.
    layer
        Name of a layer with a 4-D output ``(N, h, w, C)``, also inside a nested model;
        ``None`` takes the last such layer; a layer called more than once is refused.
    batch_size
        Images per forward (and backward) pass.

    Returns
    -------
    numpy.ndarray
        float32 ``(N, H, W)`` (``(H, W)`` for one image): non-negative, not normalized,
        resized bilinearly from the layer's ``(h, w)`` to the input's ``(H, W)``.

    Examples
    --------
    One image gives one map, without the batch axis, the same as inside a batch:

    >>> import numpy as np
    >>> from helpers import explain
    >>> from helpers.models import build_convnet
    >>> model = build_convnet((4, "pool", 8), (16, 16, 1), num_classes=3)  # seeded, untrained
    >>> images = np.random.default_rng(0).random((2, 16, 16, 1), dtype=np.float32)
    >>> explain.grad_cam(model, images[0], class_index=1).shape
    (16, 16)
    >>> bool(np.allclose(explain.grad_cam(model, images[0], class_index=1),
    ...                  explain.grad_cam(model, images, class_index=1)[0], atol=1e-6))
    True
    """
    return GradCAM()(model, images, class_index, layer, batch_size=batch_size)


def grad_cam_plus_plus(model: keras.Model, images: np.ndarray,
                       class_index: ClassIndex = None, layer: str | None = None, *,
                       batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
    """Chattopadhay et al.'s Grad-CAM++.

    Channel weights ``w_k = sum_ij alpha_ij ReLU(g_ij)`` with ``g = d(score)/dA_k`` and
    ``alpha = g^2 / (2 g^2 + sum_ab A_ab g^3)`` (0 where the gradient is 0), which counts
    every positive region of a channel rather than its average. The paper's extra factor
    ``exp(score)``, one number per image, is left out: maps are not normalized anyway.
    Derived in chapter 06 (notebooks/06_class_activation_maps.ipynb).

    Parameters
    ----------
    model
        A Keras classifier (Sequential or Functional, possibly with a nested base model);
        a final softmax is looked through, so scores are logits.
    images
        float32 ``(N, H, W, C)`` or one image ``(H, W, C)``, preprocessed for the model.
    class_index
        ``None``: each image's predicted class; an int: that class for every image; a
        sequence: one class per image.
    layer
        Name of a layer with a 4-D output ``(N, h, w, C)``, also inside a nested model;
        ``None`` takes the last such layer; a layer called more than once is refused.
    batch_size
        Images per forward (and backward) pass.

    Returns
    -------
    numpy.ndarray
        float32 ``(N, H, W)`` (``(H, W)`` for one image): non-negative, not normalized,
        resized bilinearly from the layer's ``(h, w)`` to the input's ``(H, W)``.

    Examples
    --------
    On a global-average-pooling head, a class whose Dense weights are all positive, and
    large activations, Grad-CAM++'s weight of channel ``k`` tends to ``h w / sum_ij A_k``,
    whatever the class: chapter 06's closed form. Two such classes then get nearly the
    same map (rank correlation 0.98 and 0.97 on these two images), where Grad-CAM's maps
    differ (0.86 and 0.76):

    >>> import numpy as np
    >>> from helpers import explain
    >>> from helpers.evaluate import rank_correlation
    >>> from helpers.models import build_convnet
    >>> model = build_convnet((4, "pool", 8), (16, 16, 1), num_classes=3)  # seeded, untrained
    >>> images = np.random.default_rng(0).random((2, 16, 16, 1), dtype=np.float32)
    >>> head, conv = model.get_layer("logits"), model.get_layer("conv2")
    >>> kernel = head.kernel.numpy()
    >>> kernel[:, :2] = np.abs(kernel[:, :2])  # classes 0 and 1: positive weights
    >>> _ = head.kernel.assign(kernel)
    >>> _ = conv.kernel.assign(1000 * conv.kernel.numpy())  # large activations
    >>> def class_0_and_1(method):
    ...     return rank_correlation(*(method(model, images, class_index=c) for c in (0, 1)))
    >>> class_0_and_1(explain.grad_cam_plus_plus).round(2)
    array([0.98, 0.97])
    >>> class_0_and_1(explain.grad_cam).round(2)
    array([0.86, 0.76])
    """
    return GradCAMPlusPlus()(model, images, class_index, layer, batch_size=batch_size)


# -- Score-CAM: no gradients, one forward pass per (image, channel) ----------------------------
@per_model
def _score_cam_fns(forward, layer):
    call = forward.find(layer)
    image_shape = forward.image_shape
    size = image_shape[:2]

    @graph_function(input_signature=[image_spec(image_shape), INDEX_SPEC])
    def activations_and_classes(x, index):
        # The blank image (all zeros), the baseline each masked copy is compared to,
        # rides along as one extra image (computed afresh: weights may have changed).
        n = tf.shape(x)[0]
        taps, logits = forward.run(tf.concat([x, tf.zeros_like(x[:1])], axis=0),
                                   taps=[call.layer])
        _, index = class_scores(logits[:n], index)
        blank = tf.gather(tf.nn.softmax(logits[n])[None], index, axis=1)[0]
        return tf.cast(taps[call.name][:n], tf.float32), index, blank

    @graph_function(input_signature=[image_spec(image_shape), _ANY_4D, INDEX_SPEC])
    def masked_probabilities(x, activations, index):
        # Each channel, upsampled and scaled to [0, 1], masks the image: (n, k) copies.
        n, k = tf.shape(activations)[0], tf.shape(activations)[-1]
        masks = tf.image.resize(activations, size, method="bilinear")  # (n, H, W, k)
        low = tf.reduce_min(masks, axis=(1, 2), keepdims=True)
        high = tf.reduce_max(masks, axis=(1, 2), keepdims=True)
        masks = tf.math.divide_no_nan(masks - low, high - low)
        masked = x[:, None] * tf.transpose(masks, (0, 3, 1, 2))[..., None]
        _, logits = forward.run(tf.reshape(masked, (n * k, *image_shape)))
        return class_probabilities(logits, index)  # (n, k)

    @graph_function(input_signature=[_ANY_4D, tf.TensorSpec((None, None))])
    def combine(activations, weights):
        return upsample(_weighted_sum(activations, weights), size)

    return activations_and_classes, masked_probabilities, combine


@dataclass(frozen=True)
class ScoreCAM(ClassActivationMap):
    """Wang et al.'s weights: the class probability of the image masked by each channel,
    minus that of a blank image; its own loop over batches of masked copies."""

    max_channels: int | None = None
    needs_gradients: ClassVar[bool] = False

    def maps(self, prepared):  # masked forward passes, chunked: its own loop over batches
        activations_and_classes, masked_probabilities, combine = _score_cam_fns(
            prepared.model, prepared.image_shape, prepared.call.path)
        channels = prepared.call.shape[-1]
        keep = (channels if self.max_channels is None
                else min(check_positive_int(self.max_channels, "max_channels"), channels))
        batch_size = prepared.batch_size

        def one_chunk_of_images(x, index):
            activations, index, blank = activations_and_classes(x, index)
            chosen = activations
            if keep < channels:
                strongest = tf.math.top_k(tf.reduce_max(activations, axis=(1, 2)), keep)
                chosen = tf.gather(activations, strongest.indices, axis=3, batch_dims=1)
            weights = in_column_chunks(
                lambda start, stop: masked_probabilities(x, chosen[..., start:stop], index),
                int(chosen.shape[-1]), int(x.shape[0]), batch_size)
            return combine(chosen, tf.constant(weights - blank.numpy()[:, None]))

        return in_batches(one_chunk_of_images, [prepared.batch, prepared.index], batch_size)


def score_cam(model: keras.Model, images: np.ndarray, class_index: ClassIndex = None,
              layer: str | None = None, *, max_channels: int | None = None,
              batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
    """Wang et al.'s Score-CAM: channel weights from masked forward passes.

    Each channel ``A_k``, upsampled to the input's size and scaled to [0, 1], masks the
    image; the channel's weight is its "increase of confidence", the class probability
    (softmax of the logits) of the masked image minus that of a blank (all-zero) image:
    ``ReLU(sum_k (p_c(x * mask_k) - p_c(0)) A_k)`` (Wang et al. 2020, eq. 5). A channel
    that masks everything out weighs 0, and so does every channel of a model that ignores
    its input. No gradients, but one forward pass per image and channel, run as batches of
    ``batch_size`` masked images. Derived in chapter 06
    (notebooks/06_class_activation_maps.ipynb).

    Parameters
    ----------
    model
        A Keras classifier (Sequential or Functional, possibly with a nested base model);
        a final softmax is looked through, so scores are logits.
    images
        float32 ``(N, H, W, C)`` or one image ``(H, W, C)``, preprocessed for the model.
    class_index
        ``None``: each image's predicted class; an int: that class for every image; a
        sequence: one class per image.
    layer
        Name of a layer with a 4-D output ``(N, h, w, C)``, also inside a nested model;
        ``None`` takes the last such layer; a layer called more than once is refused.
    max_channels
        Use only the channels with the largest activation maximum, per image
        (tf-keras-vis' ``max_N``, "Faster Score-CAM"); ``None`` uses all of them.
    batch_size
        Masked images per forward pass.

    Returns
    -------
    numpy.ndarray
        float32 ``(N, H, W)`` (``(H, W)`` for one image): non-negative, not normalized,
        resized bilinearly from the layer's ``(h, w)`` to the input's ``(H, W)``.

    Examples
    --------
    A model that ignores its input gives every masked copy the blank image's
    probability: every channel weighs 0, and so does the map.

    >>> import numpy as np
    >>> from helpers import explain
    >>> from helpers.models import build_convnet
    >>> model = build_convnet((4, "pool", 8), (16, 16, 1), num_classes=3)  # seeded, untrained
    >>> images = np.random.default_rng(0).random((2, 16, 16, 1), dtype=np.float32)
    >>> float(explain.score_cam(model, images).max()) > 0
    True
    >>> conv = model.get_layer("conv1")
    >>> conv.kernel.assign(np.zeros(conv.kernel.shape, np.float32))  # doctest: +ELLIPSIS
    <...>
    >>> float(explain.score_cam(model, images).max())
    0.0
    """
    return ScoreCAM(max_channels)(model, images, class_index, layer, batch_size=batch_size)

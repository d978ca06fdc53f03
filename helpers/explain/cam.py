"""Class activation maps: CAM, Grad-CAM, Grad-CAM++ and Score-CAM.

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
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from helpers._validate import check_positive_int
from helpers.explain._checks import ClassIndex
from helpers.explain._graph import (
    DEFAULT_BATCH_SIZE,
    INDEX_SPEC,
    Prepared,
    class_scores,
    graph_function,
    image_spec,
    in_batches,
    per_model,
    prepare,
    upsample,
)

_ANY_4D = tf.TensorSpec((None, None, None, None), tf.float32)

#: The Parameters and Returns sections that cam, grad_cam and grad_cam_plus_plus share,
#: indented as they stand in those docstrings.
_SHARED_DOC = """Parameters
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
    {more}

    Returns
    -------
    numpy.ndarray
        float32 ``(N, H, W)`` (``(H, W)`` for one image): non-negative, not normalized,
        resized bilinearly from the layer's ``(h, w)`` to the input's ``(H, W)``."""


def _shared_doc(more="batch_size\n        Images per forward (and backward) pass."):
    """Fill in ``{parameters}`` in a docstring with :data:`_SHARED_DOC`, ``more`` (the
    parameters after ``layer``) in it."""
    def fill(function):
        function.__doc__ = function.__doc__.replace(
            "{parameters}", _SHARED_DOC.replace("{more}", more))
        return function

    return fill


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


@dataclass(frozen=True)
class ClassActivationMap:
    """The skeleton every class activation map shares (pytorch-grad-cam's ``BaseCAM``).

    It checks the arguments, finds the layer, runs batches through one compiled function
    per model and layer, upsamples and unbatches. A method is its :meth:`weights`; a method
    that sums the weighted channels differently (per-position weights, as LayerCAM's)
    overrides :meth:`combine` as well, and nothing else.
    """

    def weights(self, forward, call, x, index) -> tuple[tf.Tensor, tf.Tensor]:
        """``(A, w)``: the layer's output ``A`` ``(N, h, w, C)`` and its weights, float32."""
        raise NotImplementedError

    def combine(self, activations, weights) -> tf.Tensor:
        """The coarse map ``(N, h, w)``: ReLU of the channels weighted by ``(N, C)``."""
        return _weighted_sum(activations, weights)

    def check(self, prepared: Prepared) -> None:
        """Fail early, with a clear message, where the method does not apply."""

    def maps(self, prepared: Prepared) -> np.ndarray:
        """The maps ``(N, H, W)`` of a prepared call, ``batch_size`` images at a time."""
        function = _map_fn(prepared.model, prepared.image_shape, self, prepared.call.path)
        return in_batches(function, [prepared.batch, prepared.index], prepared.batch_size)

    def __call__(self, model, images, class_index, layer, batch_size) -> np.ndarray:
        prepared = prepare(model, images, class_index, batch_size, layer=layer)
        self.check(prepared)
        return prepared.unbatch(self.maps(prepared))


@per_model
def _map_fn(forward, method, layer):
    call = forward.find(layer)

    @graph_function(input_signature=[image_spec(forward.image_shape), INDEX_SPEC])
    def class_activation_map(x, index):
        activations, weights = method.weights(forward, call, x, index)
        return upsample(method.combine(activations, weights), forward.image_shape[:2])

    return class_activation_map


class CAM(ClassActivationMap):
    def weights(self, forward, call, x, index):
        head = forward.dense_head(call)
        taps, logits = forward.run(x, taps=[call.layer])
        _, index = class_scores(logits, index)
        kernel = tf.cast(head.kernel, tf.float32)  # (C, classes)
        return tf.cast(taps[call.name], tf.float32), tf.gather(tf.transpose(kernel), index)

    def check(self, prepared):
        prepared.forward.dense_head(prepared.call)


class GradCAM(ClassActivationMap):
    def weights(self, forward, call, x, index):
        activations, grads = activations_and_gradients(forward, call, x, index)
        return activations, tf.reduce_mean(grads, axis=(1, 2))


class GradCAMPlusPlus(ClassActivationMap):
    def weights(self, forward, call, x, index):
        activations, grads = activations_and_gradients(forward, call, x, index)
        squared = tf.square(grads)
        denominator = 2.0 * squared + tf.reduce_sum(activations, axis=(1, 2), keepdims=True) * (
            squared * grads)
        alphas = tf.math.divide_no_nan(squared, denominator)  # 0 where the gradient is 0
        return activations, tf.reduce_sum(alphas * tf.nn.relu(grads), axis=(1, 2))


@_shared_doc()
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

    {parameters}
    """
    return CAM()(model, images, class_index, layer, batch_size)


@_shared_doc()
def grad_cam(model: keras.Model, images: np.ndarray, class_index: ClassIndex = None,
             layer: str | None = None, *, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
    """Selvaraju et al.'s Grad-CAM.

    ``ReLU(sum_k alpha_k A_k)`` with ``alpha_k`` the spatial mean of the gradient of the
    class score with respect to channel ``k`` of the layer's output. Works for any
    architecture; costs one forward pass and a backward pass down to the layer. Derived in
    chapter 06 (notebooks/06_class_activation_maps.ipynb).

    {parameters}
    """
    return GradCAM()(model, images, class_index, layer, batch_size)


@_shared_doc()
def grad_cam_plus_plus(model: keras.Model, images: np.ndarray,
                       class_index: ClassIndex = None, layer: str | None = None, *,
                       batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
    """Chattopadhay et al.'s Grad-CAM++.

    Channel weights ``w_k = sum_ij alpha_ij ReLU(g_ij)`` with ``g = d(score)/dA_k`` and
    ``alpha = g^2 / (2 g^2 + sum_ab A_ab g^3)`` (0 where the gradient is 0), which counts
    every positive region of a channel rather than its average. The paper's extra factor
    ``exp(score)``, one number per image, is left out: maps are not normalized anyway.
    Derived in chapter 06 (notebooks/06_class_activation_maps.ipynb).

    {parameters}
    """
    return GradCAMPlusPlus()(model, images, class_index, layer, batch_size)


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
        probabilities = tf.reshape(tf.nn.softmax(logits), (n, k, -1))
        return tf.gather(probabilities, index, axis=2, batch_dims=1)  # (n, k)

    @graph_function(input_signature=[_ANY_4D, tf.TensorSpec((None, None))])
    def combine(activations, weights):
        return upsample(_weighted_sum(activations, weights), size)

    return activations_and_classes, masked_probabilities, combine


@dataclass(frozen=True)
class ScoreCAM(ClassActivationMap):
    max_channels: int | None = None

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
            per_call = max(1, batch_size // int(x.shape[0]))
            weights = np.concatenate(
                [masked_probabilities(x, chosen[..., start:start + per_call], index).numpy()
                 for start in range(0, int(chosen.shape[-1]), per_call)], axis=1)
            return combine(chosen, tf.constant(weights - blank.numpy()[:, None]))

        return in_batches(one_chunk_of_images, [prepared.batch, prepared.index], batch_size)


@_shared_doc("""max_channels
        Use only the channels with the largest activation maximum, per image
        (tf-keras-vis' ``max_N``, "Faster Score-CAM"); ``None`` uses all of them.
    batch_size
        Masked images per forward pass.""")
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

    {parameters}
    """
    return ScoreCAM(max_channels)(model, images, class_index, layer, batch_size)

"""What each layer outputs: the feature maps of chosen layers, in one forward pass.

Derived in chapter 03 (``notebooks/03_feature_maps.ipynb``). The module holds
:func:`feature_maps`, which ``helpers.explain`` re-exports under that name.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from helpers._validate import check_positive_int
from helpers.explain._checks import _model_image_shape, as_image_batch, error_reason
from helpers.explain._graph import (
    DEFAULT_BATCH_SIZE,
    forward_pass,
    graph_function,
    image_spec,
    in_batches,
    per_model,
)


def feature_maps(model: keras.Model, images: np.ndarray, layers: str | Sequence[str] | None,
                 *, batch_size: int = 4 * DEFAULT_BATCH_SIZE) -> dict[str, np.ndarray]:
    """The outputs of the named layers, computed together in one forward pass.

    The pass stops after the last requested layer, so the images may have another height
    and width than the model's input when the layers up to the requested ones run at any
    size (convolutions, poolings, batch norms, activations: EfficientNet-Lite0's layers up
    to its ``head_relu`` take a 128x128 photo as well as a 224x224 one). Where a layer on the
    way needs the model's own size (a ``Dense`` layer after ``Flatten``), a ``ValueError``
    names both sizes. Derived in chapter 03 (notebooks/03_feature_maps.ipynb).

    Parameters
    ----------
    model
        A Sequential or Functional Keras model; layers of a nested model (a
        ``keras.applications`` base inside a ``Sequential``) are found by their own name.
    images
        float32 ``(N, H, W, C)`` or one image ``(H, W, C)``, preprocessed for the model,
        with the model's channels ``C``; ``H`` and ``W`` any size the layers up to the
        requested ones can run at.
    layers
        One layer name, a sequence of names, or ``None`` for every layer with a 4-D
        (spatial) output, in the order they run. A layer called more than once (a shared
        layer) is refused by name and left out of ``None``: which call is meant is ambiguous.
    batch_size
        Images per forward pass.

    Returns
    -------
    dict[str, numpy.ndarray]
        Layer name -> float32 ``(N, h, w, c)`` (``(h, w, c)`` for one image), in the order
        of ``layers``.

    Raises
    ------
    ValueError
        If a name is not a layer of the model (the message lists the valid ones), or a
        layer before the requested ones cannot run on images of this size.

    Examples
    --------
    The course model's first convolution keeps the 28x28 size; its last one, after two
    poolings, is 7x7; their ReLUs make every value non-negative:

    >>> import numpy as np
    >>> from helpers import explain, load_course_model
    >>> model = load_course_model()
    >>> images = np.random.default_rng(0).random((2, 28, 28, 1), dtype=np.float32)
    >>> maps = explain.feature_maps(model, images, ["conv1", "conv5"])
    >>> {name: m.shape for name, m in maps.items()}
    {'conv1': (2, 28, 28, 32), 'conv5': (2, 7, 7, 128)}
    >>> bool((maps["conv1"] >= 0).all())
    True

    Convolutions and poolings run at any size: a 56x56 image gives maps twice as large.

    >>> explain.feature_maps(model, np.zeros((56, 56, 1), np.float32), "conv5")["conv5"].shape
    (14, 14, 128)
    """
    batch, single = as_image_batch(images, model, fixed_size=False)
    batch_size = check_positive_int(batch_size, "batch_size")
    image_shape = batch.shape[1:]
    declared = _model_image_shape(model)
    # Layers are looked up in a pass at the model's own size where it has one: a model with
    # a Dense layer after Flatten cannot be traced whole at another size.
    fixed = declared is not None and None not in declared[:2]
    trace_shape = tuple(int(d) for d in declared) if fixed else image_shape
    forward = forward_pass(model, trace_shape)
    if layers is None:
        names = forward.layer_names(ranks=(4,))
    elif isinstance(layers, str):
        names = [layers]
    elif isinstance(layers, Sequence) and layers:
        names = list(layers)
    else:
        raise TypeError(f"layers must be a layer name, a non-empty sequence of names or None; "
                        f"got {layers!r}")
    if not names:
        forward.find(None)  # says why: a subclassed model, or no spatial layer
    calls = [forward.find(name) for name in names]
    if len({call.path for call in calls}) != len(calls):
        raise ValueError(f"each layer may be asked for once, got {names}")
    function = _outputs_fn(model, trace_shape, image_shape, tuple(call.path for call in calls))
    try:
        maps = in_batches(function, [batch], batch_size)
    except (ValueError, TypeError, tf.errors.InvalidArgumentError) as err:
        if image_shape == trace_shape:
            raise
        raise ValueError(
            f"model {model.name!r} takes images of shape {trace_shape}; on images of shape "
            f"{image_shape} a layer before {names} cannot run (it needs the model's own "
            f"size: a Dense layer after Flatten, a fixed Reshape...): "
            f"{error_reason(err)}. Resize the images to "
            f"{trace_shape[:2]}, or ask for layers before that one") from None
    return {name: m[0] if single else m for name, m in zip(names, maps, strict=True)}


@per_model
def _outputs_fn(forward, image_shape, layers):
    """The tapped outputs of ``layers``, for images of ``image_shape``: the walk of
    ``forward`` (traced at the model's own size) stops after the last of them, so the layers
    after them never see images of another size."""
    calls = [forward.find(layer) for layer in layers]

    @graph_function(input_signature=[image_spec(image_shape)])
    def outputs(x):
        taps, _ = forward.run(x, taps=[call.layer for call in calls], logits=False)
        return tuple(tf.cast(taps[call.name], tf.float32) for call in calls)

    return outputs

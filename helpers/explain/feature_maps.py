"""What each layer outputs: the feature maps of chosen layers, in one forward pass.

Derived in chapter 03 (``notebooks/03_feature_maps.ipynb``).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from helpers.explain._graph import (
    DEFAULT_BATCH_SIZE,
    graph_function,
    image_spec,
    in_batches,
    per_model,
    prepare,
)


def feature_maps(model: keras.Model, images: np.ndarray, layers: str | Sequence[str] | None,
                 *, batch_size: int = 4 * DEFAULT_BATCH_SIZE) -> dict[str, np.ndarray]:
    """The outputs of the named layers, computed together in one forward pass.

    The pass stops after the last requested layer. Derived in chapter 03
    (notebooks/03_feature_maps.ipynb).

    Parameters
    ----------
    model
        A Sequential or Functional Keras model; layers of a nested model (a
        ``keras.applications`` base inside a ``Sequential``) are found by their own name.
    images
        float32 ``(N, H, W, C)`` or one image ``(H, W, C)``, preprocessed for the model.
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
    """
    prepared = prepare(model, images, batch_size=batch_size, classifier=False)
    forward = prepared.forward
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
    function = _outputs_fn(model, prepared.image_shape, tuple(call.path for call in calls))
    maps = in_batches(function, [prepared.batch], prepared.batch_size)
    return {name: prepared.unbatch(m) for name, m in zip(names, maps, strict=True)}


@per_model
def _outputs_fn(forward, layers):
    calls = [forward.find(layer) for layer in layers]

    @graph_function(input_signature=[image_spec(forward.image_shape)])
    def outputs(x):
        taps, _ = forward.run(x, taps=[call.layer for call in calls], logits=False)
        return tuple(tf.cast(taps[call.name], tf.float32) for call in calls)

    return outputs

"""Filter visualization: 64 filters optimized as one batch against one filter at a time.

Three contenders, the same number of gradient-ascent steps per filter:

* ``maximize_activation`` with all 64 filters (one batch, one compiled loop);
* ``maximize_activation`` called once per filter (the same code, no batching);
* the loop of the Keras example "Visualizing what convnets learn" (F. Chollet), as
  published: a ``tf.function`` step called from Python, ``filter_index`` a Python int, so
  the step is traced again for every filter. Also the same loop with the index passed as a
  tensor (traced once), the fairest one-at-a-time baseline.

Run through ``python -m benchmarks.run_all``.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from benchmarks.common import Row, compare, ratio_goal
from helpers import explain


def chollet_loop(model: keras.Model, layer: str, filters, steps: int, image_shape,
                 index_as_tensor: bool = False) -> list[np.ndarray]:
    """The Keras example's loop, one filter at a time (its code, its learning rate)."""
    feature_extractor = keras.Model(inputs=model.inputs, outputs=model.get_layer(layer).output)

    def compute_loss(input_image, filter_index):
        activation = feature_extractor(input_image)
        filter_activation = activation[:, 2:-2, 2:-2, filter_index]  # no border artifacts
        return tf.reduce_mean(filter_activation)

    @tf.function
    def gradient_ascent_step(img, filter_index, learning_rate):
        with tf.GradientTape() as tape:
            tape.watch(img)
            loss = compute_loss(img, filter_index)
        grads = tape.gradient(loss, img)
        grads = tf.math.l2_normalize(grads)
        img += learning_rate * grads
        return loss, img

    images = []
    for filter_index in filters:
        img = tf.random.uniform((1, *image_shape))
        img = (img - 0.5) * 0.25 + 0.5  # the example's initialize_image(), in [0, 1]
        index = tf.constant(filter_index) if index_as_tensor else filter_index
        for _ in range(steps):
            _, img = gradient_ascent_step(img, index, 10.0)
        images.append(img[0].numpy())
    return images


def filter_rows(model: keras.Model, subject: str, layer: str, image_shape, steps: int,
                rounds: int, size=None) -> list[Row]:
    filters = list(range(64))
    kwargs = {"steps": steps, "progress": False, "size": size}
    candidates = {
        "batched (64 at once)": lambda: explain.maximize_activation(model, layer, filters,
                                                                    **kwargs),
        "one at a time (helpers)": lambda: [explain.maximize_activation(model, layer, [f],
                                                                        **kwargs)
                                            for f in filters],
        "Chollet's loop": lambda: chollet_loop(model, layer, filters, steps, image_shape),
        "Chollet's loop, traced once": lambda: chollet_loop(model, layer, filters, steps,
                                                            image_shape, index_as_tensor=True),
    }
    seconds = compare(candidates, rounds)
    batched = seconds["batched (64 at once)"]
    ratios = {name: value / batched for name, value in seconds.items() if value != batched}
    # The goal is set against the loop learners copy; the other two ratios say how much of
    # the speed-up is batching itself (on a CPU, bounded by the per-image arithmetic).
    goals = [ratio_goal("batched speed-up over Chollet's loop", ratios["Chollet's loop"],
                        at_least=10.0)]
    return [Row(f"maximize_activation {layer}", subject, f"{steps} st", seconds, ratios, goals)]

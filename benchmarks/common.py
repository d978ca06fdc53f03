"""Shared pieces of the benchmarks: models, the plain baseline, and fair side-by-side timing.

Every figure is a ratio of two timings taken in the same process, interleaved round by
round (A, B, C, then B, C, A, ...), each the median of its rounds after a warm-up call that
traces and compiles. Ratios measured this way survive a machine shared with other jobs far
better than absolute times do.
"""

from __future__ import annotations

import logging
import os
import platform
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

import helpers
from helpers.models import COURSE_MODEL_PATH, build_course_model


# -- models --------------------------------------------------------------------------------
@dataclass
class Subject:
    """A model to benchmark on, with what each method needs to know about it."""

    name: str
    model: keras.Model  # what helpers.explain is given
    functional: keras.Model  # the same weights as a flat Functional model, for tf-keras-vis
    layer: str  # the layer the CAM methods explain
    image_shape: tuple[int, int, int]
    num_classes: int
    notes: list[str] = field(default_factory=list)

    def images(self, n: int, seed: int = 0) -> np.ndarray:
        return np.random.default_rng(seed).random((n, *self.image_shape), dtype=np.float32)

    def classes(self, n: int) -> np.ndarray:
        return (np.arange(n) * 7 % self.num_classes).astype(np.int32)


def functional_twin(model: keras.Sequential) -> keras.Model:
    """A flat Functional copy of a Sequential model (new layers, same weights).

    tf-keras-vis 0.8.7 builds ``keras.Model(model.inputs, layer.output)``, which finds no
    gradient through a Keras 3 Sequential; it needs a Functional model.
    """
    inputs = keras.Input(model.input_shape[1:])
    x = inputs
    for layer in model.layers:
        x = type(layer).from_config(layer.get_config())(x)
    twin = keras.Model(inputs, x, name=f"{model.name}_functional")
    twin.set_weights(model.get_weights())
    return twin


def course_subject() -> Subject:
    trained = COURSE_MODEL_PATH.is_file()
    model = helpers.load_course_model() if trained else build_course_model()
    notes = [] if trained else ["untrained (helpers/course_model.weights.npz absent)"]
    return Subject("course model", model, functional_twin(model), "conv5", (28, 28, 1), 10,
                   notes)


def vgg16_subject() -> Subject:
    # Random weights: speed does not depend on them (ImageNet weights cannot be downloaded
    # here). Logits out, so that neither library has to strip a softmax.
    model = keras.applications.VGG16(weights=None, classifier_activation=None)
    return Subject("VGG16", model, model, "block5_conv3", (224, 224, 3), 1000,
                   ["keras.applications.VGG16(weights=None, classifier_activation=None)"])


def efficientnet_subject() -> Subject:
    # The book's ImageNet network with its real weights (helpers.imagenet), rebuilt here
    # rather than taken from load_model()'s cache so that its softmax can be switched off:
    # logits out, as for VGG16, so that neither library has to strip a softmax.
    from helpers import imagenet

    model = imagenet.load_torch_weights(imagenet.build_efficientnet_lite0(),
                                        imagenet.weights_path())
    model.get_layer("predictions").activation = keras.activations.linear
    return Subject("EffNet-Lite0", model, model, "head_relu", (224, 224, 3), 1000,
                   ["helpers.imagenet's network, ImageNet weights, softmax switched off"])


def plain_gradient(model: keras.Model, image_shape: tuple[int, int, int]) -> Callable:
    """One forward and one backward pass, nothing else: the class score's gradient with
    respect to the input, in a ``tf.function`` (compiled once for any batch size, as the
    helpers' functions are). The physical floor of every gradient method."""

    @tf.function(input_signature=[tf.TensorSpec((None, *image_shape), tf.float32),
                                  tf.TensorSpec((None,), tf.int32)])
    def forward_backward(x, index):
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(x)
            scores = tf.gather(model(x, training=False), index, axis=1, batch_dims=1)
        return tape.gradient(scores, x)

    return lambda x, index: forward_backward(tf.constant(x), tf.constant(index)).numpy()


# -- timing --------------------------------------------------------------------------------
def compare(candidates: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Median seconds per call of each candidate, interleaved over ``rounds`` rounds after
    one warm-up call each."""
    for function in candidates.values():
        function()
    times: dict[str, list[float]] = {name: [] for name in candidates}
    names = list(candidates)
    for round_index in range(rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            candidates[name]()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


@dataclass
class Row:
    """One line of the results table."""

    benchmark: str
    subject: str
    batch: str
    seconds: dict[str, float]
    ratios: dict[str, float]
    goals: list[tuple[str, bool]] = field(default_factory=list)


def ratio_goal(label: str, value: float, at_least: float | None = None,
               at_most: float | None = None) -> tuple[str, bool]:
    ok = (at_least is None or value >= at_least) and (at_most is None or value <= at_most)
    bound = f">= {at_least}" if at_least is not None else f"<= {at_most}"
    return f"{label} {value:.2f}x (goal {bound})", ok


def print_row(row: Row) -> None:
    seconds = ", ".join(f"{name} {value * 1000:.1f} ms" for name, value in row.seconds.items())
    print(f"  {row.benchmark:<22} {row.subject:<13} batch {row.batch:<5} {seconds}")
    if row.ratios:
        print("      ratios: " + ", ".join(f"{name} {value:.2f}x"
                                          for name, value in row.ratios.items()))
    for text, ok in row.goals:
        print(f"      {'PASS' if ok else 'MISS'}  {text}")


def machine() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f
                         if line.startswith("model name"))
    except (OSError, StopIteration):
        model = "unknown CPU"
    return (f"{os.cpu_count()} CPU(s) ({model}), {platform.system()} {platform.machine()}, "
            f"Python {platform.python_version()}, TensorFlow {tf.__version__}, "
            f"Keras {keras.__version__}")


def quiet() -> None:
    """No progress bars from ``model.predict`` (tf-keras-vis' Score-CAM calls it), no
    TensorFlow retracing notices, no Keras warnings about tf-keras-vis' input lists."""
    keras.utils.disable_interactive_logging()
    tf.get_logger().setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="keras")

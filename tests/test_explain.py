"""helpers.explain: the mathematical facts each method must satisfy, on small seeded models.

Every reference is computed independently of the helpers: finite differences, a direct
``GradientTape`` on a plain ``keras.Model``, or the method's formula in NumPy.
"""

import functools
import gc
import re
import textwrap
import warnings
import weakref
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from numpy.testing import assert_allclose

import helpers
from helpers import explain
from helpers.explain import ClassActivationMap, _graph, class_maps, filters
from helpers.explain.class_maps import GradCAM, GradCAMPlusPlus, ScoreCAM
from helpers.models import COURSE_MODEL_PATH, build_course_model

SHAPE = (8, 8, 2)


def glorot(seed):
    return keras.initializers.GlorotUniform(seed=seed)


def smooth_model(dtype="float32", head_activation=None, final_layer=None):
    """A small Functional model with smooth activations (no ReLU kinks) and a GAP head;
    the same seeded weights whatever the dtype or final softmax."""
    inputs = keras.Input(SHAPE, dtype=dtype)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="tanh", kernel_initializer=glorot(1),
                            bias_initializer="ones", dtype=dtype, name="c1")(inputs)
    x = keras.layers.Conv2D(6, 3, activation="softplus", kernel_initializer=glorot(2),
                            dtype=dtype, name="c2")(x)
    x = keras.layers.GlobalAveragePooling2D(dtype=dtype, name="gap")(x)
    # Positive weights from the channels to every class: no class has an all-zero CAM.
    x = keras.layers.Dense(3, activation=head_activation,
                           kernel_initializer=keras.initializers.RandomUniform(0.1, 1, seed=3),
                           bias_initializer=keras.initializers.RandomNormal(seed=4),
                           dtype=dtype, name="head")(x)
    if final_layer is not None:
        x = final_layer(x)
    return keras.Model(inputs, x, name="smooth")


def branchy_model():
    """A ReLU model with a skip connection, dropout and a GAP head."""
    inputs = keras.Input(SHAPE)
    a = keras.layers.Conv2D(5, 3, padding="same", activation="relu", kernel_initializer=glorot(5),
                            name="a")(inputs)
    b = keras.layers.Conv2D(5, 3, padding="same", activation="relu", kernel_initializer=glorot(6),
                            name="b")(a)
    x = keras.layers.Add(name="add")([a, b])
    x = keras.layers.Conv2D(7, 3, activation="relu", kernel_initializer=glorot(7), name="c")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    x = keras.layers.Dropout(0.5, name="drop")(x)
    return keras.Model(inputs, keras.layers.Dense(4, kernel_initializer=glorot(8),
                                                  name="out")(x), name="branchy")


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).random((3, *SHAPE), dtype=np.float32)


@pytest.fixture(scope="module")
def smooth():
    return smooth_model()


@pytest.fixture(scope="module")
def softmax_models():
    return {"dense softmax": smooth_model(head_activation="softmax"),
            "Softmax layer": smooth_model(final_layer=keras.layers.Softmax(name="probs")),
            "Activation softmax": smooth_model(
                final_layer=keras.layers.Activation("softmax", name="probs"))}


@pytest.fixture(scope="module")
def zero_model():
    model = smooth_model()
    model.set_weights([np.zeros_like(w) for w in model.get_weights()])
    return model


@pytest.fixture(scope="module")
def branchy():
    return branchy_model()


@pytest.fixture(scope="module")
def course():
    return build_course_model(seed=0)


@pytest.fixture(scope="module")
def nested():
    """A keras.applications base inside a Sequential: layers found inside the base."""
    base = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    return keras.Sequential([keras.Input((32, 32, 3)), base,
                             keras.layers.GlobalAveragePooling2D(name="gap"),
                             keras.layers.Dense(4, activation="softmax", name="probs",
                                                kernel_initializer=glorot(9))])


def tape_activations_and_gradients(model, layer, images, class_index):
    """The layer's output and d(logit)/d(output), the textbook way (flat models only)."""
    sub = keras.Model(model.input, [model.get_layer(layer).output, model.output])
    with tf.GradientTape() as tape:
        activations, logits = sub(images)
        score = tf.gather(logits, class_index, axis=1, batch_dims=1)
    return activations.numpy(), tape.gradient(score, activations).numpy()


def upsample(maps, size):
    return tf.image.resize(maps[..., None], size, method="bilinear").numpy()[..., 0]


# -- saliency, SmoothGrad, Integrated Gradients ----------------------------------------------
def test_saliency_equals_finite_differences(images):
    model = smooth_model("float64")  # central differences in float64 are exact to ~1e-10
    x = images.astype(np.float64)
    eps = 1e-5
    steps = np.eye(int(np.prod(SHAPE))).reshape(-1, *SHAPE) * eps  # one pixel each
    plus = np.asarray(model(np.concatenate([x[:, None] + steps[None]]).reshape(-1, *SHAPE)))
    minus = np.asarray(model(np.concatenate([x[:, None] - steps[None]]).reshape(-1, *SHAPE)))
    grads = ((plus - minus)[:, 1] / (2 * eps)).reshape(len(x), *SHAPE)
    assert_allclose(explain.saliency(model, images, class_index=1), np.abs(grads).max(-1),
                    rtol=1e-5, atol=1e-8)


def test_smoothgrad_is_the_mean_saliency_over_noisy_copies(smooth, images):
    samples, noise, seed = 5, 0.2, 3
    patterns = np.random.default_rng(seed).standard_normal((samples, *SHAPE), dtype=np.float32)
    sigma = noise * (images.max(axis=(1, 2, 3)) - images.min(axis=(1, 2, 3)))
    copies = images[None] + patterns[:, None] * sigma[None, :, None, None, None]
    expected = np.mean([explain.saliency(smooth, c, class_index=[0, 1, 2]) for c in copies], 0)
    result = explain.smoothgrad(smooth, images, [0, 1, 2], samples=samples, noise=noise,
                                seed=seed, batch_size=4)  # 15 copies in 4 calls
    assert_allclose(result, expected, rtol=1e-5, atol=1e-7)
    assert_allclose(explain.smoothgrad(smooth, images, noise=0.0, samples=3),
                    explain.saliency(smooth, images), rtol=1e-5, atol=1e-8)
    assert not np.allclose(result, explain.smoothgrad(smooth, images, [0, 1, 2],
                                                      samples=samples, noise=noise, seed=4))


def test_smoothgrad_of_the_mean_gradient(smooth, images):
    # average="gradients": |mean of the signed gradients|, max over channels (Smilkov et al.).
    samples, noise, seed = 5, 0.2, 3
    patterns = np.random.default_rng(seed).standard_normal((samples, *SHAPE), dtype=np.float32)
    sigma = noise * (images.max(axis=(1, 2, 3)) - images.min(axis=(1, 2, 3)))
    copies = tf.constant(
        (images[None] + patterns[:, None] * sigma[None, :, None, None, None]).reshape(-1, *SHAPE))
    with tf.GradientTape() as tape:
        tape.watch(copies)
        scores = tf.gather(smooth(copies), np.tile([0, 1, 2], samples), axis=1, batch_dims=1)
    gradients = tape.gradient(scores, copies).numpy().reshape(samples, *images.shape)
    result = explain.smoothgrad(smooth, images, [0, 1, 2], samples=samples, noise=noise,
                                seed=seed, average="gradients", batch_size=4)
    assert result.shape == images.shape[:3] and result.dtype == np.float32
    assert_allclose(result, np.abs(gradients.mean(axis=0)).max(axis=-1), rtol=1e-5, atol=1e-7)
    # The mean of absolute values is never below the absolute value of the mean.
    maps = explain.smoothgrad(smooth, images, [0, 1, 2], samples=samples, noise=noise,
                              seed=seed)
    assert (maps >= result - 1e-6).all() and not np.allclose(maps, result)
    assert_allclose(explain.smoothgrad(smooth, images, noise=0.0, samples=3, average="gradients"),
                    explain.saliency(smooth, images), rtol=1e-5, atol=1e-8)
    with pytest.raises(ValueError,
                       match=r"unknown average 'signed'; expected one of \('maps', 'gradients'\)"):
        explain.smoothgrad(smooth, images, average="signed")


def test_integrated_gradients_completeness(course):
    x = np.random.default_rng(1).random((3, 28, 28, 1), dtype=np.float32)
    classes = [0, 4, 7]
    attributions = explain.integrated_gradients(course, x, classes, steps=64, batch_size=64)
    assert attributions.shape == x.shape and attributions.dtype == np.float32
    baseline_logits = np.asarray(course(np.zeros_like(x)))
    expected = (np.asarray(course(x)) - baseline_logits)[np.arange(3), classes]
    assert_allclose(attributions.sum(axis=(1, 2, 3)), expected, rtol=0.01)


def test_integrated_gradients_baseline_none_is_zero_input_not_black_pixels(smooth, images):
    # None is x' = 0 in the model's input space, exactly an explicit zero baseline...
    none = explain.integrated_gradients(smooth, images, 0, steps=16)
    np.testing.assert_array_equal(
        none, explain.integrated_gradients(smooth, images, 0, baseline=np.zeros_like(images),
                                           steps=16))
    np.testing.assert_array_equal(
        none, explain.integrated_gradients(smooth, images, 0, baseline=0, steps=16))
    # ... whose attributions add up to the logit gap to the zero input. For a model that
    # maps pixels first, as EfficientNet-Lite0 does with (255 x - 127) / 128, black pixels
    # are another input, which must be passed: the sums then match the gap to it instead.
    gap_to_zero = (np.asarray(smooth(images)) - np.asarray(smooth(np.zeros_like(images))))[:, 0]
    assert_allclose(none.sum(axis=(1, 2, 3)), gap_to_zero, rtol=1e-3)
    black = np.full_like(images, -127 / 128)
    from_black = explain.integrated_gradients(smooth, images, 0, baseline=black, steps=16)
    gap_to_black = (np.asarray(smooth(images)) - np.asarray(smooth(black)))[:, 0]
    assert_allclose(from_black.sum(axis=(1, 2, 3)), gap_to_black, rtol=1e-3)
    assert not np.allclose(gap_to_black, gap_to_zero, rtol=0.01)


def test_integrated_gradients_of_a_linear_model_is_input_times_weight(images):
    model = keras.Sequential([keras.Input(SHAPE), keras.layers.Flatten(),
                              keras.layers.Dense(2, kernel_initializer=glorot(0))])
    baseline = np.full(SHAPE, 0.25, np.float32)
    weights = model.layers[-1].kernel.numpy()[:, 1].reshape(SHAPE)
    assert_allclose(explain.integrated_gradients(model, images, 1, baseline=baseline, steps=3),
                    (images - baseline) * weights, rtol=1e-5, atol=1e-7)


def test_integrated_gradients_baselines(smooth, images):
    constant = explain.integrated_gradients(smooth, images, 0, baseline=0.5, steps=8)
    per_image = explain.integrated_gradients(smooth, images, 0, steps=8,
                                             baseline=np.full_like(images, 0.5))
    assert_allclose(constant, per_image)
    with pytest.raises(ValueError, match="baseline must be"):
        explain.integrated_gradients(smooth, images, baseline=np.zeros((2, 2)))


# -- CAM, Grad-CAM, Grad-CAM++, Score-CAM --------------------------------------------------------
def test_cam_equals_grad_cam_times_area_on_a_gap_head(course):
    x = np.random.default_rng(2).random((4, 28, 28, 1), dtype=np.float32)
    cam = explain.cam(course, x, class_index=[1, 3, 5, 7])
    grad_cam = explain.grad_cam(course, x, class_index=[1, 3, 5, 7])
    assert cam.max() > 0
    assert_allclose(grad_cam * 7 * 7, cam, rtol=1e-4, atol=1e-5 * cam.max())


def test_cam_equals_its_formula(branchy, images):
    activations, _ = tape_activations_and_gradients(branchy, "c", images, [0, 1, 2])
    kernel = branchy.get_layer("out").kernel.numpy()
    expected = np.maximum(np.einsum("nhwk,kn->nhw", activations, kernel[:, [0, 1, 2]]), 0)
    assert_allclose(explain.cam(branchy, images, [0, 1, 2]), upsample(expected, SHAPE[:2]),
                    rtol=1e-5, atol=1e-6)


def test_grad_cam_equals_a_direct_gradient_tape(branchy, images):
    for layer in ["b", "add", "c"]:
        activations, grads = tape_activations_and_gradients(branchy, layer, images, [3, 0, 2])
        coarse = np.maximum(np.einsum("nhwk,nk->nhw", activations, grads.mean(axis=(1, 2))), 0)
        assert_allclose(explain.grad_cam(branchy, images, [3, 0, 2], layer=layer),
                        upsample(coarse, SHAPE[:2]), rtol=1e-5, atol=1e-7, err_msg=layer)


def test_grad_cam_plus_plus_equals_its_formula(branchy, images):
    activations, g = tape_activations_and_gradients(branchy, "c", images, [1, 1, 1])
    denominator = 2 * g**2 + activations.sum(axis=(1, 2), keepdims=True) * g**3
    alphas = np.where(denominator != 0, g**2 / np.where(denominator != 0, denominator, 1), 0)
    weights = (alphas * np.maximum(g, 0)).sum(axis=(1, 2))
    coarse = np.maximum(np.einsum("nhwk,nk->nhw", activations, weights), 0)
    assert_allclose(explain.grad_cam_plus_plus(branchy, images, 1),
                    upsample(coarse, SHAPE[:2]), rtol=1e-4, atol=1e-7)


def test_score_cam_equals_its_formula(branchy, images):
    sub = keras.Model(branchy.input, branchy.get_layer("c").output)
    activations = sub(images).numpy()  # (3, 6, 6, 7)
    masks = upsample(np.moveaxis(activations, -1, 1).reshape(-1, 6, 6), SHAPE[:2])
    low = masks.min(axis=(1, 2), keepdims=True)
    span = masks.max(axis=(1, 2), keepdims=True) - low
    masks = np.where(span > 0, (masks - low) / np.where(span > 0, span, 1), 0)
    masked = np.repeat(images, 7, axis=0) * masks[..., None]
    blank = tf.nn.softmax(branchy(np.zeros((1, *SHAPE), np.float32))).numpy()[0, 2]
    probabilities = tf.nn.softmax(branchy(masked)).numpy()[:, 2].reshape(3, 7) - blank
    coarse = np.maximum(np.einsum("nhwk,nk->nhw", activations, probabilities), 0)
    result = explain.score_cam(branchy, images, 2, batch_size=5)  # 21 masked copies in 5 calls
    assert_allclose(result, upsample(coarse, SHAPE[:2]), rtol=1e-5, atol=1e-7)
    assert_allclose(explain.score_cam(branchy, images, 2, max_channels=7), result, rtol=1e-5,
                    atol=1e-5 * result.max())
    # The strongest 2 channels of each image only.
    strongest = np.argsort(-activations.max(axis=(1, 2)), axis=1)[:, :2]
    keep = np.zeros((3, 7))
    np.put_along_axis(keep, strongest, 1, axis=1)
    coarse = np.maximum(np.einsum("nhwk,nk->nhw", activations, probabilities * keep), 0)
    assert_allclose(explain.score_cam(branchy, images, 2, max_channels=2),
                    upsample(coarse, SHAPE[:2]), rtol=1e-5, atol=1e-7)


def contributings_layer_cam():
    """The LayerCAM that CONTRIBUTING.md shows as its worked example, run as it stands."""
    text = (Path(__file__).resolve().parents[1] / "CONTRIBUTING.md").read_text()
    block = re.search(r"```python\n(.*?class LayerCAM.*?)```", text, re.S).group(1)
    namespace = {}
    exec(compile(textwrap.dedent(block), "CONTRIBUTING.md", "exec"), namespace)
    method_lines = [line for line in textwrap.dedent(block).splitlines()
                    if line.strip() and not line.startswith(("import", "from"))]
    assert len(method_lines) <= 15, "the worked example should stay short"
    return namespace["layer_cam"]


layer_cam = contributings_layer_cam()  # and METHODS runs the shared checks on it


def test_contributings_layer_cam_equals_its_formula(branchy, images):
    """Jiang et al.'s LayerCAM, ReLU(sum_k ReLU(g_k) A_k), added as CONTRIBUTING.md says."""
    activations, grads = tape_activations_and_gradients(branchy, "b", images, [2, 0, 1])
    coarse = np.maximum((np.maximum(grads, 0) * activations).sum(axis=-1), 0)
    result = layer_cam(branchy, images, [2, 0, 1], "b", batch_size=2)
    assert result.max() > 0
    assert_allclose(result, upsample(coarse, SHAPE[:2]), rtol=1e-5, atol=1e-7)
    assert_allclose(layer_cam(branchy, images[1], 0, "b"), result[1], rtol=1e-5, atol=1e-7)


class ScaledGradCAM(ClassActivationMap):
    """A method with a parameter, written the natural way (set in __init__)."""

    def __init__(self, scale):
        self.scale = scale

    def weights(self, activations, gradients):
        return self.scale * tf.reduce_mean(gradients, axis=(1, 2))


def test_a_methods_parameters_never_go_stale(branchy, images):
    """The compiled function is cached on the parameters' values: a second instance with
    another value gets its own maps, not the first one's."""
    one = ScaledGradCAM(1.0)(branchy, images, [0, 1, 2])
    two = ScaledGradCAM(2.0)(branchy, images, [0, 1, 2])
    assert one.max() > 0
    assert_allclose(two, 2 * one, rtol=1e-5)
    assert_allclose(ScaledGradCAM(1.0)(branchy, images, [0, 1, 2]), one, rtol=1e-6)
    method = ScaledGradCAM(1.0)
    method.scale = 3.0  # changed after it was made: the cache sees the new value
    assert_allclose(method(branchy, images, [0, 1, 2]), 3 * one, rtol=1e-5)
    with pytest.raises(TypeError, match="ScaledGradCAM's parameter scale must be hashable"):
        ScaledGradCAM(np.ones(3))(branchy, images, [0, 1, 2])


def test_the_skeleton_adds_nothing_to_the_methods_arithmetic(branchy, images):
    """Grad-CAM, Grad-CAM++ and Score-CAM through the skeleton are bit for bit the same ops
    as the formulas applied to the layer's output and gradients, then upsampled."""
    index = tf.constant([2, 0, 1])
    forward = _graph.forward_pass(branchy, SHAPE)
    call = forward.find("c")
    activations, grads = class_maps.activations_and_gradients(
        forward, call, tf.constant(images), index)
    for method, weights in [(GradCAM(), GradCAM().weights(activations, grads)),
                            (GradCAMPlusPlus(), GradCAMPlusPlus().weights(activations, grads))]:
        expected = _graph.upsample(class_maps._weighted_sum(activations, weights), SHAPE[:2])
        np.testing.assert_array_equal(method(branchy, images, [2, 0, 1], "c"), expected.numpy())
    maps = ScoreCAM()(branchy, images, [2, 0, 1], "c", batch_size=64)
    np.testing.assert_array_equal(maps, explain.score_cam(branchy, images, [2, 0, 1], "c"))


class ChannelMean(ClassActivationMap):
    """A map that explains no class: the mean over the layer's channels."""

    needs_gradients = False
    needs_class = False

    def weights(self, activations, gradients):
        assert gradients is None
        return tf.ones_like(activations[:, 0, 0, :]) / activations.shape[-1]


def test_a_method_that_needs_no_class_runs_on_any_model(images):
    inputs = keras.Input(SHAPE)
    features = keras.Model(inputs, keras.layers.Conv2D(
        3, 3, activation="relu", kernel_initializer=glorot(11), name="conv")(inputs))
    maps = ChannelMean()(features, images)  # not a classifier: no class, no logits
    activations = features(images).numpy()
    assert_allclose(maps, upsample(activations.mean(axis=-1), SHAPE[:2]), rtol=1e-5, atol=1e-7)
    with pytest.raises(TypeError, match="ChannelMean does not depend on a class"):
        ChannelMean()(features, images, class_index=1)
    with pytest.raises(TypeError, match="needs_gradients needs a class score"):
        type("Broken", (ClassActivationMap,), {"needs_class": False})


def test_weights_of_a_wrong_rank_are_refused(branchy, images):
    class Flat(ClassActivationMap):
        def weights(self, activations, gradients):
            return tf.reduce_mean(gradients)

    with pytest.raises(ValueError, match=r"Flat.weights must return \(N, C\) or"):
        Flat()(branchy, images, [0, 1, 2])


def test_cam_needs_a_gap_head():
    model = keras.Sequential([keras.Input(SHAPE), keras.layers.Conv2D(3, 3, name="conv"),
                              keras.layers.Flatten(), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="GlobalAveragePooling2D.*Flatten -> Dense.*grad_cam"):
        explain.cam(model, np.zeros(SHAPE, np.float32))


# -- every method: shapes, class_index, softmax, nesting, zero gradients, errors ----------------
METHODS = {
    "saliency": explain.saliency,
    "smoothgrad": lambda m, x, c=None: explain.smoothgrad(m, x, c, samples=4),
    "integrated_gradients": lambda m, x, c=None: explain.integrated_gradients(m, x, c, steps=8),
    "cam": explain.cam,
    "grad_cam": explain.grad_cam,
    "grad_cam_plus_plus": explain.grad_cam_plus_plus,
    "score_cam": explain.score_cam,
    "layer_cam (defined above, on the skeleton)": layer_cam,
}


@pytest.mark.parametrize("name", METHODS)
def test_single_image_and_batch_agree(name, smooth, images):
    method = METHODS[name]
    batch = method(smooth, images)
    expected_shape = images.shape if name == "integrated_gradients" else images.shape[:3]
    assert batch.shape == expected_shape and batch.dtype == np.float32
    assert np.isfinite(batch).all() and np.abs(batch).min(axis=0).max() > 0
    if name != "integrated_gradients":
        assert (batch >= 0).all()
    single = method(smooth, images[1])
    assert single.shape == expected_shape[1:]
    assert_allclose(single, batch[1], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", METHODS)
def test_class_index_none_int_and_sequence(name, smooth, images):
    method = METHODS[name]
    predicted = np.asarray(smooth(images)).argmax(axis=1)
    assert_allclose(method(smooth, images), method(smooth, images, list(predicted)), rtol=1e-6)
    assert_allclose(method(smooth, images, 2), method(smooth, images, [2, 2, 2]), rtol=1e-6)
    per_image = method(smooth, images, np.array([0, 1, 2]))
    assert_allclose(per_image[1], method(smooth, images[1], 1), rtol=1e-5, atol=1e-7)
    assert not np.allclose(method(smooth, images, 0), method(smooth, images, 1))


@pytest.mark.parametrize(("ending", "name"), [("dense softmax", name) for name in METHODS] + [
    (ending, name) for ending in ["Softmax layer", "Activation softmax"]
    for name in ["saliency", "grad_cam"]])
def test_softmax_model_is_explained_through_its_logits_and_left_unchanged(
        name, ending, softmax_models, smooth, images):
    model = softmax_models[ending]  # the same seeded weights as `smooth`, which ends in logits
    before = [w.copy() for w in model.get_weights()]
    method = METHODS[name]
    assert_allclose(method(model, images, [0, 2, 1]), method(smooth, images, [0, 2, 1]),
                    rtol=1e-5, atol=1e-7)
    # The caller's model still outputs probabilities, with its weights untouched.
    assert_allclose(np.asarray(model(images)).sum(axis=1), 1.0, rtol=1e-5)
    if ending == "dense softmax":
        assert model.get_layer("head").activation is keras.activations.softmax
    else:
        assert model.layers[-1].name == "probs"
    for w, b in zip(model.get_weights(), before, strict=True):
        assert_allclose(w, b)


def test_layers_inside_a_nested_keras_applications_base(nested):
    x = np.random.default_rng(3).random((2, 32, 32, 3), dtype=np.float32)
    base = nested.layers[0]
    kernel, bias = nested.get_layer("probs").get_weights()
    sub = keras.Model(base.input, [base.get_layer("block4_conv3").output, base.output])
    with tf.GradientTape() as tape:
        activations, features = sub(x)
        logits = tf.reduce_mean(features, axis=(1, 2)) @ kernel + bias  # before the softmax
        score = tf.gather(logits, [1, 3], axis=1, batch_dims=1)
    grads = tape.gradient(score, activations).numpy()
    coarse = np.maximum(np.einsum("nhwk,nk->nhw", activations.numpy(),
                                  grads.mean(axis=(1, 2))), 0)
    result = explain.grad_cam(nested, x, [1, 3], layer="block4_conv3")
    assert_allclose(result, upsample(coarse, (32, 32)), rtol=1e-4, atol=1e-6 * result.max())
    assert_allclose(explain.grad_cam(nested, x, [1, 3], layer="vgg16/block4_conv3"), result)
    # layer=None: the last spatial layer, block5_pool (1 x 1) inside the base: CAM applies.
    assert_allclose(explain.cam(nested, x, [1, 3]), explain.grad_cam(nested, x, [1, 3]),
                    rtol=1e-4, atol=1e-9)
    maps = explain.feature_maps(nested, x[0], ["block1_conv2", "block5_pool"])
    assert list(maps) == ["block1_conv2", "block5_pool"]
    assert maps["block1_conv2"].shape == (32, 32, 64) and maps["block5_pool"].shape == (1, 1, 512)
    assert_allclose(maps["block1_conv2"],
                    keras.Model(base.input, base.get_layer("block1_conv2").output)(x)[0],
                    rtol=1e-5, atol=1e-6)


def test_sequential_without_input_works_called_or_not(images):
    def build():
        return keras.Sequential([keras.layers.Conv2D(3, 3, name="conv", activation="relu",
                                                     kernel_initializer=glorot(0)),
                                 keras.layers.GlobalAveragePooling2D(),
                                 keras.layers.Dense(2, kernel_initializer=glorot(1))])
    called = build()
    called(images)
    never_called = build()
    assert_allclose(explain.grad_cam(never_called, images, 1),
                    explain.grad_cam(called, images, 1), rtol=1e-6)


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__(name="subclassed")
        self.conv = keras.layers.Conv2D(3, 3, activation="tanh", kernel_initializer=glorot(20))
        self.gap = keras.layers.GlobalAveragePooling2D()
        self.dense = keras.layers.Dense(2, kernel_initializer=glorot(21))

    def call(self, x):
        return self.dense(self.gap(self.conv(x)))


def test_subclassed_models_get_pixel_methods_and_a_clear_error_for_layers(images):
    model = Subclassed()
    model(images)
    x = tf.constant(images)
    with tf.GradientTape() as tape:
        tape.watch(x)
        score = model(x)[:, 1]
    expected = np.abs(tape.gradient(score, x).numpy()).max(axis=-1)
    assert_allclose(explain.saliency(model, images, 1), expected, rtol=1e-5, atol=1e-8)
    with pytest.raises(TypeError, match="subclassed.*Sequential or Functional"):
        explain.grad_cam(model, images)
    with pytest.raises(TypeError, match="subclassed"):
        explain.feature_maps(model, images, None)


@pytest.mark.parametrize("name", METHODS)
def test_zero_weights_give_all_zero_maps_without_nan(name, zero_model, images):
    maps = METHODS[name](zero_model, images)
    assert np.isfinite(maps).all()
    assert_allclose(maps, 0.0)


def test_feature_maps_equal_a_plain_submodel(branchy, images):
    maps = explain.feature_maps(branchy, images, ["c", "a"])
    assert list(maps) == ["c", "a"]
    for name in ["a", "c"]:
        expected = keras.Model(branchy.input, branchy.get_layer(name).output)(images)
        assert maps[name].dtype == np.float32
        assert_allclose(maps[name], expected, rtol=1e-6, atol=1e-7)
    every = explain.feature_maps(branchy, images[0], None)
    assert list(every) == ["a", "b", "add", "c"]
    assert every["add"].shape == (8, 8, 5)


def test_feature_maps_is_the_function_its_module_has_another_name():
    import helpers.explain.layer_outputs as layer_outputs

    assert explain.feature_maps is layer_outputs.feature_maps
    assert callable(helpers.explain.feature_maps)


def test_feature_maps_at_another_size_equal_the_layers_called_directly(branchy):
    # The convolutions and the sum run at any size: a 13x11 image on a model built for 8x8.
    images = np.random.default_rng(2).random((2, 13, 11, SHAPE[2]), dtype=np.float32)
    maps = explain.feature_maps(branchy, images, ["a", "add", "c"])
    a = branchy.get_layer("a")(images)
    added = branchy.get_layer("add")([a, branchy.get_layer("b")(a)])
    assert_allclose(maps["a"], a, rtol=1e-6, atol=1e-7)
    assert_allclose(maps["add"], added, rtol=1e-6, atol=1e-7)
    assert_allclose(maps["c"], branchy.get_layer("c")(added), rtol=1e-6, atol=1e-6)
    assert maps["c"].shape == (2, 11, 9, 7)  # "valid" 3x3: two pixels fewer each way
    # Its own size still works, and gives what the model computes.
    own = explain.feature_maps(branchy, images[:, :8, :8], "a")["a"]
    assert_allclose(own, keras.Model(branchy.input, branchy.get_layer("a").output)(
        images[:, :8, :8]), rtol=1e-6, atol=1e-7)


def test_feature_maps_refuse_a_size_that_a_layer_on_the_way_cannot_take():
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(2, 3, padding="same", name="first", kernel_initializer=glorot(40))(
        inputs)
    x = keras.layers.Dense(64, name="dense")(keras.layers.Flatten(name="flatten")(x))
    x = keras.layers.Reshape((8, 8, 1), name="reshape")(x)
    x = keras.layers.Conv2D(2, 3, name="after", kernel_initializer=glorot(41))(x)
    model = keras.Model(inputs, x, name="fixed_middle")
    larger = np.zeros((12, 12, 1), np.float32)
    # Before the Dense layer any size runs; the pass stops there.
    assert explain.feature_maps(model, larger, "first")["first"].shape == (12, 12, 2)
    with pytest.raises(ValueError, match=r"model 'fixed_middle' takes images of shape "
                                         r"\(8, 8, 1\); on images of shape \(12, 12, 1\) a "
                                         r"layer before \['after'\] cannot run.*layer .dense..*"
                                         r"Resize the images to \(8, 8\)"):
        explain.feature_maps(model, larger, "after")
    with pytest.raises(ValueError, match=r"takes images with 1 channels .*\(12, 12, 3\)"):
        explain.feature_maps(model, np.zeros((12, 12, 3), np.float32), "first")
    # The default of the shared check is unchanged: the other methods need the model's size.
    with pytest.raises(ValueError, match=r"expects images of shape \(8, 8, 1\).*\(12, 12, 1\)"):
        explain.saliency(model, larger)


def shared_layer_model(last_shared=False):
    """A Conv2D layer called twice (a shared layer): its output has no single meaning."""
    inputs = keras.Input(SHAPE)
    shared = keras.layers.Conv2D(2, 3, padding="same", activation="tanh", name="shared",
                                 kernel_initializer=glorot(30))
    x = keras.layers.Conv2D(2, 3, padding="same", activation="tanh", name="middle",
                            kernel_initializer=glorot(31))(shared(inputs))
    x = shared(x)
    if not last_shared:
        x = keras.layers.Conv2D(3, 3, activation="tanh", name="after",
                                kernel_initializer=glorot(32))(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(2, kernel_initializer=glorot(33))(x))


@pytest.mark.parametrize("method", [
    lambda model, x, layer: explain.grad_cam(model, x, layer=layer),
    lambda model, x, layer: explain.score_cam(model, x, layer=layer),
    lambda model, x, layer: explain.feature_maps(model, x, [layer]),
    lambda model, x, layer: explain.maximize_activation(model, layer, [0], steps=1,
                                                        progress=False),
], ids=["grad_cam", "score_cam", "feature_maps", "maximize_activation"])
def test_a_layer_called_more_than_once_is_refused(method, images):
    model = shared_layer_model()
    with pytest.raises(ValueError, match=r"layer 'shared' is called 2 times .*a shared layer.*"
                                         r"name a layer that is called once, one of: "
                                         r"\['middle', 'after'"):
        method(model, images, "shared")
    result = method(model, images, "middle")  # a layer called once: fine
    assert np.isfinite(result["middle"] if isinstance(result, dict) else result).all()


def test_a_shared_layer_is_never_chosen_silently(images):
    model = shared_layer_model()
    assert list(explain.feature_maps(model, images, None)) == ["middle", "after"]
    assert explain.grad_cam(model, images).shape == images.shape[:3]  # "after"
    with pytest.raises(ValueError, match="'shared' is called 2 times"):
        explain.grad_cam(shared_layer_model(last_shared=True), images)


def test_compiled_functions_are_reused_not_retraced(smooth, images):
    explain.grad_cam(smooth, images)
    explain.grad_cam(smooth, images[:2], 1)
    explain.grad_cam(smooth, images[0])
    function = _graph._CACHE[smooth][("class_activation_map", SHAPE, GradCAM, (), "c2")]
    assert function.experimental_get_tracing_count() == 1


def test_cache_does_not_keep_models_alive(images):
    model = smooth_model()
    explain.saliency(model, images)
    assert model in _graph._CACHE
    reference = weakref.ref(model)
    del model
    gc.collect()
    assert reference() is None


def test_errors_say_what_was_expected(smooth, images):
    with pytest.raises(ValueError, match=r"no layer named 'nope'.*\['c1', 'c2'\]"):
        explain.grad_cam(smooth, images, layer="nope")
    with pytest.raises(ValueError, match=r"'head' outputs shape \(None, 3\).*4-D.*\['c1', 'c2'\]"):
        explain.grad_cam(smooth, images, layer="head")
    with pytest.raises(TypeError, match="layer must be a layer name"):
        explain.score_cam(smooth, images, layer=3)
    with pytest.raises(ValueError, match="class_index 3 is out of range.*3 classes, 0 to 2"):
        explain.saliency(smooth, images, class_index=3)
    with pytest.raises(ValueError, match="class_index -1 is out of range"):
        explain.grad_cam(smooth, images, class_index=[0, -1, 0])
    with pytest.raises(ValueError, match="got 2 class indices for 3 images"):
        explain.cam(smooth, images, class_index=[0, 1])
    with pytest.raises(TypeError, match="class_index must be None, an int or a sequence"):
        explain.saliency(smooth, images, class_index=1.0)
    with pytest.raises(TypeError, match="class_index must be None"):
        explain.saliency(smooth, images, class_index=True)
    with pytest.raises(TypeError, match="floating point.*uint8"):
        explain.saliency(smooth, (images * 255).astype(np.uint8))
    with pytest.raises(ValueError, match=r"one image \(H, W, C\) or a batch \(N, H, W, C\)"):
        explain.grad_cam(smooth, images[0, ..., 0])
    with pytest.raises(ValueError, match=r"expects images of shape \(8, 8, 2\).*\(9, 8, 2\)"):
        explain.smoothgrad(smooth, np.zeros((1, 9, 8, 2), np.float32))
    with pytest.raises(ValueError, match="NaN"):
        explain.integrated_gradients(smooth, np.full(SHAPE, np.nan, np.float32))
    with pytest.raises(ValueError, match="at least one image"):
        explain.saliency(smooth, np.zeros((0, *SHAPE), np.float32))
    with pytest.raises(ValueError, match="samples must be a positive int"):
        explain.smoothgrad(smooth, images, samples=0)
    with pytest.raises(TypeError, match="model must be a keras.Model"):
        explain.saliency(lambda x: x, images)
    with pytest.raises(TypeError, match="layers must be a layer name"):
        explain.feature_maps(smooth, images, [])


# -- filter visualization -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def conv_model():
    return keras.Sequential([
        keras.Input((16, 16, 1)),
        keras.layers.Conv2D(6, 3, activation="relu", kernel_initializer=glorot(10), name="c1"),
        keras.layers.Conv2D(6, 3, activation="relu", kernel_initializer=glorot(11), name="c2"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(3, kernel_initializer=glorot(12), name="logits")], name="conv")


@pytest.mark.parametrize("param", ["fourier", "pixel"])
def test_maximize_activation_raises_each_filters_activation(conv_model, param):
    filters = [0, 2, 3, 5]
    images = explain.maximize_activation(conv_model, "c2", filters, steps=32, param=param,
                                         progress=False)
    assert images.shape == (4, 16, 16, 1) and images.dtype == np.float32
    assert images.min() >= 0 and images.max() <= 1
    means = explain.feature_maps(conv_model, images, "c2")["c2"].mean(axis=(1, 2))[:, filters]
    start = explain.feature_maps(conv_model, np.full((16, 16, 1), 0.5, np.float32),
                                 "c2")["c2"].mean(axis=(0, 1))[filters]
    own = np.diag(means)
    assert (own > start).all(), (own, start)
    others = np.where(np.eye(4, dtype=bool), -np.inf, means).max(axis=0)
    assert (own > others).all(), (own, others)


def test_maximize_activation_is_seeded_and_takes_one_filter(conv_model):
    first = explain.maximize_activation(conv_model, "c1", 1, steps=8, progress=False)
    assert first.shape == (16, 16, 1)
    again = explain.maximize_activation(conv_model, "c1", [1], steps=8, progress=False)
    assert_allclose(again[0], first)
    other = explain.maximize_activation(conv_model, "c1", [1], steps=8, seed=1, progress=False)
    assert not np.allclose(other, again)


def test_maximize_activation_of_class_logits_in_color_and_in_a_nested_model():
    base = keras.Sequential([keras.Input((16, 16, 3)),
                             keras.layers.Conv2D(6, 3, activation="relu",
                                                 kernel_initializer=glorot(13)),
                             keras.layers.Conv2D(6, 3, activation="relu", name="inner",
                                                 kernel_initializer=glorot(15))], name="base")
    model = keras.Sequential([keras.Input((16, 16, 3)), base,
                              keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(3, activation="softmax", name="probs",
                                                 kernel_initializer=glorot(14))])
    classes = explain.maximize_activation(model, "probs", [0, 2], steps=24, progress=False,
                                          batch_size=1)  # two batches of one
    assert classes.shape == (2, 16, 16, 3)
    probabilities = np.asarray(model(np.concatenate([classes, np.full_like(classes[:1], 0.5)])))
    assert probabilities[0, 0] > probabilities[1:, 0].max()
    assert probabilities[1, 2] > probabilities[[0, 2], 2].max()
    inner = explain.maximize_activation(model, "inner", [5], steps=24, progress=False)
    start = explain.feature_maps(model, np.full((16, 16, 3), 0.5, np.float32), "inner")
    after = explain.feature_maps(model, inner, "inner")
    assert after["inner"][..., 5].mean() > start["inner"][..., 5].mean()


def test_maximize_activation_penalties_smooth_and_gray_the_images(conv_model):
    def total_variation(images):
        return (np.abs(np.diff(images, axis=1)).mean() + np.abs(np.diff(images, axis=2)).mean())

    plain = explain.maximize_activation(conv_model, "c2", [0, 1], steps=16, progress=False)
    smooth = explain.maximize_activation(conv_model, "c2", [0, 1], steps=16, progress=False,
                                         total_variation=0.5)
    gray = explain.maximize_activation(conv_model, "c2", [0, 1], steps=16, progress=False,
                                       l2=0.5)
    assert total_variation(smooth) < 0.8 * total_variation(plain)
    assert np.mean((gray - 0.5) ** 2) < 0.8 * np.mean((plain - 0.5) ** 2)


def conv_bn_relu_model():
    """Conv -> BatchNorm -> ReLU6 (the keras.applications pattern), with a batch-norm offset
    of -5 that keeps every channel at 0 on images near gray: the ReLU passes no gradient."""
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", use_bias=False, kernel_initializer=glorot(16),
                            name="conv")(inputs)
    x = keras.layers.BatchNormalization(beta_initializer=keras.initializers.Constant(-5.0),
                                        name="bn")(x)
    x = keras.layers.ReLU(max_value=6.0, name="relu")(x)
    x = keras.layers.Activation("relu", name="again")(x)
    return keras.Model(inputs, x, name="conv_bn_relu")


def test_maximize_activation_looks_before_a_standalone_activation_layer():
    model = conv_bn_relu_model()
    gray = np.full((1, 16, 16, 3), 0.5, np.float32)
    assert np.all(explain.feature_maps(model, gray, "relu")["relu"] == 0)  # inactive at start
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning: every image moves
        images = explain.maximize_activation(model, "relu", range(4), steps=32, progress=False)
    assert (images.std(axis=(1, 2, 3)) > 0.05).all()
    # What was maximized is the ReLU's input, the batch norm's output, for each own filter.
    raised = explain.feature_maps(model, images, "bn")["bn"].mean(axis=(1, 2)).diagonal()
    start = explain.feature_maps(model, gray, "bn")["bn"].mean(axis=(0, 1, 2))
    assert (raised > start).all(), (raised, start)
    with pytest.warns(filters.StalledFilterWarning,
                      match=r"filters \[0, 1, 2, 3\] of layer 'relu' are still the gray start"
                            r".*zero at all 16 steps.*pre_activation=True"):
        flat = explain.maximize_activation(model, "relu", range(4), steps=16, progress=False,
                                           pre_activation=False)
    assert (flat.std(axis=(1, 2, 3)) < 0.01).all()  # gray squares, hence the warning
    # An Activation layer after a dead ReLU: its input is 0 whatever the pixels.
    with pytest.warns(filters.StalledFilterWarning, match=r"filters \[2\] of layer 'again'.*"
                                                          "no gradient reaches their input"):
        explain.maximize_activation(model, "again", [2], steps=8, progress=False)


def test_maximize_activation_reuses_its_loop_for_an_equivalent_preprocess(conv_model):
    model = keras.Sequential([keras.Input((16, 16, 3)),
                              keras.layers.Conv2D(4, 3, activation="relu", name="c1",
                                                  kernel_initializer=glorot(17))])
    traces = []

    def imagenet_preprocess():  # a new function each call, as a lambda in a cell would be
        def preprocess(x):
            if not tf.executing_eagerly():
                traces.append(1)
            return (255 * x - 127) / 128
        return preprocess

    def run(preprocess):
        return explain.maximize_activation(model, "c1", [0, 3], steps=8, progress=False,
                                           preprocess=preprocess)

    first = run(imagenet_preprocess())
    cached = len(_graph._CACHE[model])
    again = run(imagenet_preprocess())
    written_otherwise = run(lambda x: x * (255 / 128) - 127 / 128)
    assert traces == [] and len(_graph._CACHE[model]) == cached  # recognized, not retraced
    assert_allclose(again, first)
    assert_allclose(written_otherwise, first, atol=1e-5)

    def traced_only(x):  # the same map, but it cannot run eagerly: compiled as it is
        if tf.executing_eagerly():
            raise RuntimeError("graph only")
        return (255 * x - 127) / 128

    assert_allclose(run(traced_only), first, atol=1e-4)
    assert len(_graph._CACHE[model]) == cached + 1
    # Not a per-pixel affine map: compiled in, once per function object.
    standardize = tf.image.per_image_standardization
    assert run(standardize).shape == (2, 16, 16, 3)
    run(standardize)
    assert len(_graph._CACHE[model]) == cached + 2
    with pytest.raises(TypeError, match="preprocess must be a function"):
        run("imagenet")


def test_maximize_activation_refuses_a_preprocess_it_cannot_compile():
    model = keras.Sequential([keras.Input((16, 16, 3)),
                              keras.layers.Conv2D(4, 3, name="c1", kernel_initializer=glorot(17))])

    def numpy_only(x):  # not a per-pixel affine map, and NumPy: cannot be traced
        return np.asarray(x)[:, ::-1] * 2

    def shrinking(x):
        return tf.image.resize(x, (8, 8))

    run = functools.partial(explain.maximize_activation, model, "c1", [0], steps=2,
                            progress=False)
    with pytest.raises(TypeError, match=r"preprocess '.*numpy_only' cannot run on the symbolic "
                                        r"images \(N, 16, 16, 3\).*NotImplementedError.*"
                                        r"helpers\.imagenet\.to_input"):
        run(preprocess=numpy_only)
    with pytest.raises(ValueError, match=r"same height and width.*\(None, 8, 8, 3\).*size="):
        run(preprocess=shrinking)


def test_maximize_activation_pieces_each_alone():
    images = np.random.default_rng(5).random((2, 6, 7, 3), dtype=np.float32)
    tv = np.abs(np.diff(images, axis=1)).sum() + np.abs(np.diff(images, axis=2)).sum()
    assert_allclose(filters.total_variation(tf.constant(images)), tv, rtol=1e-5)
    assert_allclose(filters.distance_from_gray(tf.constant(images)),
                    ((images - 0.5) ** 2).sum(), rtol=1e-5)
    grads = np.concatenate([images[:1], np.zeros_like(images[:1])])
    unit = filters.normalized(tf.constant(grads)).numpy()
    assert_allclose(np.sqrt((unit[0] ** 2).mean()), 1.0, rtol=1e-5)
    assert_allclose(unit[1], 0.0)  # no NaN for a zero gradient
    assert filters.nonzero(tf.constant(grads)).numpy().tolist() == [1, 0]
    still = filters.AscentOptions.checked(0.05, 0, (1, 1), 0, 0, 0, (6, 7, 3))
    moved = filters.random_affine(tf.constant(images), still, tf.constant([1, 2], tf.int64),
                                  (6, 7))
    assert_allclose(moved, images, atol=1e-6)  # no shift, zoom or rotation: the same image
    params, first, second = filters.adam_ascent(tf.zeros(3), tf.zeros(3), tf.zeros(3),
                                                tf.constant([2.0, -0.5, 0.0]), 0, 0.1)
    assert_allclose(params, [0.1, -0.1, 0.0], atol=1e-6)  # Adam's first step: lr * sign
    pictures = filters.fourier_image(6, 7, 3)(tf.zeros((2, 2, 3, 6, 4)))
    assert pictures.shape == (2, 6, 7, 3) and np.allclose(pictures, 0.5)
    with pytest.raises(ValueError, match="scale must be a range"):
        filters.AscentOptions.checked(0.05, None, (1.2, 1.1), 0, 0, 0, (6, 7, 3))
    with pytest.raises(ValueError, match="finite and non-negative"):
        filters.AscentOptions.checked(-1, None, (1, 1), 0, 0, 0, (6, 7, 3))


def test_maximize_activation_errors(conv_model):
    with pytest.raises(ValueError, match="filter 6 is out of range.*6 channels"):
        explain.maximize_activation(conv_model, "c1", [6], progress=False)
    with pytest.raises(ValueError, match=r"no layer named 'x'.*\['c1', 'c2', .*'logits'\]"):
        explain.maximize_activation(conv_model, "x", [0], progress=False)
    with pytest.raises(ValueError, match="unknown param 'wavelet'; expected one of"):
        explain.maximize_activation(conv_model, "c1", [0], param="wavelet", progress=False)
    with pytest.raises(TypeError, match="filters must be"):
        explain.maximize_activation(conv_model, "c1", "all", progress=False)


# -- the trained course model ----------------------------------------------------------------
@pytest.mark.skipif(not COURSE_MODEL_PATH.is_file(), reason="the trained course model is absent")
def test_trained_model_class_visualizations_are_classified_as_their_class():
    model = helpers.load_course_model()
    images = explain.maximize_activation(model, "logits", range(10), steps=64, progress=False)
    logits = np.asarray(model(images))
    start = np.asarray(model(np.full((1, 28, 28, 1), 0.5, np.float32)))[0]
    own = np.diag(logits)
    assert (own > start).all()
    assert (own > np.where(np.eye(10, dtype=bool), -np.inf, logits).max(axis=0)).all()
    maps = explain.grad_cam(model, images, class_index=list(range(10)))
    assert_allclose(explain.cam(model, images, list(range(10))), maps * 7 * 7, rtol=1e-4,
                    atol=1e-5 * maps.max() * 49)


# -- the objective before and after the ReLU (chapter 04, the first layer) -------------------
def edge_filter_model():
    """One 3x3 filter with ReLU on 8x8 gray images: +1 on its top row, -1 on its bottom row,
    bias 0.2. On gray (0.5) its pre-activation is 0.2 inside, -1.3 or less on the top row of
    positions (whose top row is padding) and 1.2 or more on the bottom row: a dead row."""
    kernel = np.zeros((3, 3, 1, 1), np.float32)
    kernel[0], kernel[2] = 1.0, -1.0
    model = keras.Sequential([keras.Input((8, 8, 1)),
                              keras.layers.Conv2D(1, 3, padding="same", activation="relu",
                                                  name="edge")])
    model.get_layer("edge").set_weights([kernel, np.array([0.2], np.float32)])
    return model, kernel[..., 0, 0], 0.2


def objective_gradient_sign(kernel, bias, relu, image):
    """The sign of the gradient of mean(relu?(image * kernel + bias)) over the 8x8 positions
    (cross-correlation with zero padding), by central differences in float64. The objective is
    piecewise linear and no position is near its kink, so the differences are exact."""
    from scipy.signal import correlate2d

    def objective(x):
        z = correlate2d(x, kernel, mode="same") + bias
        return (np.maximum(z, 0) if relu else z).mean()

    gradient = np.zeros_like(image)
    for index in np.ndindex(image.shape):
        step = np.zeros_like(image)
        step[index] = 1e-3
        gradient[index] = (objective(image + step) - objective(image - step)) / 2e-3
    return np.sign(np.where(np.abs(gradient) > 1e-9, gradient, 0.0))


@pytest.mark.parametrize("pre_activation", [True, False])
def test_maximize_activation_climbs_the_mean_before_or_after_the_relu(pre_activation):
    # One Adam step moves each parameter by the learning rate times the sign of the objective's
    # gradient (zero where the gradient is zero), and a pixel is the sigmoid of its parameter:
    # after one step from gray, each pixel has moved by the sign of the gradient of the mean
    # before the ReLU (pre_activation=True) or of the mean of relu(pre-activation) (False).
    model, kernel, bias = edge_filter_model()
    gray = np.full((8, 8), 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", filters.StalledFilterWarning)  # the still pixels
        image = explain.maximize_activation(
            model, "edge", 0, steps=1, param="pixel", jitter=0, scale=(1, 1), rotate=0,
            learning_rate=1.0, pre_activation=pre_activation, progress=False)[..., 0]
    moved = np.sign(np.where(np.abs(image - 0.5) > 0.1, image - 0.5, 0.0))
    assert (np.abs(image - 0.5)[moved == 0] < 0.01).all()  # the others stayed at the start
    expected = objective_gradient_sign(kernel, bias, not pre_activation, gray)
    assert_allclose(moved, expected)
    # Before the ReLU the kernel's weights sum to 0, so only the border rows pull (row 0 up,
    # row 7 down); after it, the dead top row of positions no longer pulls row 1 down.
    assert_allclose(moved[:, 3], [1, 0, 0, 0, 0, 0, 0, -1] if pre_activation
                    else [1, 1, 0, 0, 0, 0, 0, -1])


# -- receptive fields and dataset examples ----------------------------------------------------
def geometry_model(size=(11, 12)):
    """A linear model with positive weights (so a unit's gradient is nonzero exactly on its
    receptive field): every kind of window, odd sizes under stride 2, a padding and a
    residual branch."""
    ones = keras.initializers.Constant(1.0)
    inputs = keras.Input((*size, 2))
    x = keras.layers.Conv2D(3, 3, strides=2, padding="same", kernel_initializer=ones,
                            name="c1")(inputs)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    skip = x
    x = keras.layers.DepthwiseConv2D(3, padding="same", depthwise_initializer=ones, name="dw")(x)
    x = keras.layers.Add(name="add")([skip, keras.layers.ReLU(name="r1")(x)])
    x = keras.layers.ZeroPadding2D(((1, 0), (0, 2)), name="pad")(x)
    x = keras.layers.AveragePooling2D(2, strides=1, name="avg")(x)
    x = keras.layers.Conv2D(2, 3, dilation_rate=2, padding="same", kernel_initializer=ones,
                            name="dilated")(x)
    x = keras.layers.Conv2D(2, 3, strides=2, padding="valid", kernel_initializer=ones,
                            name="c2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, keras.layers.Dense(2, name="out")(x), name="geometry")


def gradient_support(model, layer, row, col):
    """The input pixels (rows, cols) unit (row, col) of channel 0 depends on, by gradient."""
    inner = keras.Model(model.inputs, model.get_layer(layer).output)
    image = tf.constant(np.ones((1, *model.input_shape[1:]), np.float32))
    with tf.GradientTape() as tape:
        tape.watch(image)
        unit = inner(image)[0, row, col, 0]
    support = np.abs(tape.gradient(unit, image).numpy()[0]).sum(axis=-1) > 0
    return np.flatnonzero(support.any(axis=1)), np.flatnonzero(support.any(axis=0))


@pytest.mark.parametrize("layer", ["c1", "dw", "add", "avg", "dilated", "c2"])
def test_receptive_field_is_where_the_gradient_reaches_border_units_included(layer):
    model = geometry_model()
    height, width = model.input_shape[1:3]
    field = explain.receptive_field(model, layer)
    map_height, map_width = model.get_layer(layer).output.shape[1:3]
    for row in sorted({0, map_height // 2, map_height - 1}):
        for col in sorted({0, map_width // 2, map_width - 1}):
            rows, cols = gradient_support(model, layer, row, col)
            top, left, bottom, right = field.window(row, col)
            if rows.size == 0:  # the last column of avg pools the two padded columns only
                assert (layer, col) == ("avg", map_width - 1)
                continue
            # The field clipped at the image's border is exactly what the unit depends on.
            assert (rows.min(), rows.max()) == (max(top, 0), min(bottom, height) - 1), (row, col)
            assert (cols.min(), cols.max()) == (max(left, 0), min(right, width) - 1), (row, col)


def test_receptive_field_follows_chapter_01s_rule_on_the_course_model(course):
    from helpers.exercises.ch01 import COURSE_MODEL_LAYERS, _receptive_field

    field = explain.receptive_field(course, "conv5")
    assert field == explain.ReceptiveField((24, 24), (4, 4), (-10, -10))
    assert field.size[0] == _receptive_field(COURSE_MODEL_LAYERS)
    assert explain.receptive_field(course, "pool1").jump == (2, 2)


def test_receptive_field_of_a_layer_inside_a_nested_model(nested):
    # VGG16's block2_conv1: 3x3, 3x3, 2x2 pool, 3x3 -> 1 + 2 + 2 + 1 + 2 * 2 = 10 pixels,
    # starting 1 + 1 pixels and then 1 pooled unit (2 pixels) above the image.
    field = explain.receptive_field(nested, "block2_conv1")
    assert field == explain.ReceptiveField((10, 10), (2, 2), (-4, -4))


def test_receptive_field_errors(smooth):
    upsampling = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.UpSampling2D(name="up"),
                                   keras.layers.Conv2D(1, 3, name="c")])
    with pytest.raises(ValueError, match=r"through layer 'up' \(UpSampling2D\): expected only "
                                         "convolutions, poolings"):
        explain.receptive_field(upsampling, "c")
    with pytest.raises(ValueError, match=r"no layer named 'x'.*\['c1', 'c2'\]"):
        explain.receptive_field(smooth, "x")
    any_size = keras.Sequential([keras.Input((None, None, 1)), keras.layers.Conv2D(1, 3)])
    with pytest.raises(ValueError, match="accepts any image size; pass size"):
        explain.receptive_field(any_size, any_size.layers[0].name)


def examples_model():
    """Conv -> ReLU layers (so pre_activation reads the conv's output), a stride and a pool."""
    inputs = keras.Input((12, 12, 2))
    x = keras.layers.Conv2D(3, 3, padding="same", kernel_initializer=glorot(20), name="c1")(inputs)
    x = keras.layers.ReLU(name="r1")(x)
    x = keras.layers.MaxPooling2D(2, name="p1")(x)
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same", kernel_initializer=glorot(21),
                            name="c2")(x)
    x = keras.layers.ReLU(name="r2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="out")(x), name="examples")


def brute_force_examples(model, images, conv, filters, top):
    """Dataset examples by loops: every image's first strongest unit, images by value, and
    each unit's field cut pixel by pixel (0 outside the image)."""
    maps = keras.Model(model.inputs[0], model.get_layer(conv).output)(images).numpy()
    field = explain.receptive_field(model, conv)
    height, width = images.shape[1:3]
    results = []
    for f in filters:
        best = []
        for n in range(len(images)):
            flat = maps[n, ..., f].ravel()
            position = int(np.argmax(flat))  # NumPy: the first of the maxima
            best.append((-flat[position], n, *divmod(position, maps.shape[2])))
        best.sort()  # by value, then by image index
        patches = []
        for _, n, row, col in best[:top]:
            top_row, left, _, _ = field.window(row, col)
            patch = np.zeros((*field.size, images.shape[3]), np.float32)
            for i in range(field.size[0]):
                for j in range(field.size[1]):
                    r, c = top_row + i, left + j
                    if 0 <= r < height and 0 <= c < width:
                        patch[i, j] = images[n, r, c]
            patches.append(patch)
        results.append(([-b[0] for b in best[:top]], [b[1:] for b in best[:top]], patches))
    return results


@pytest.mark.parametrize(("layer", "conv"), [("r1", "c1"), ("r2", "c2")])
def test_dataset_examples_are_the_arg_max_units(layer, conv):
    model = examples_model()
    images = np.random.default_rng(1).random((20, 12, 12, 2), dtype=np.float32) - 0.5
    filters, top = [2, 0, 1], 6
    units = explain.strongest_units(model, images, layer, filters, top, batch_size=7,
                                    progress=False)
    patches = explain.dataset_examples(model, images, layer, filters, top, batch_size=7,
                                       progress=False)
    assert patches.shape == (3, top, *explain.receptive_field(model, conv).size, 2)
    assert patches.dtype == np.float32
    for f, (values, where, expected) in enumerate(brute_force_examples(model, images, conv,
                                                                       filters, top)):
        assert_allclose(units.values[f], values, rtol=1e-5)
        assert [tuple(int(a[f, k]) for a in units[1:]) for k in range(top)] == where
        assert_allclose(patches[f], np.stack(expected))
        assert np.all(np.diff(units.values[f]) <= 0)  # strongest first
        assert len(set(units.images[f])) == top  # no image twice


def test_dataset_examples_pad_past_the_border():
    # A sum of 3x3 pixels: a bright corner pixel on a dark image excites unit (0, 0) most, the
    # one that sees the fewest other pixels: its field starts a row above and a column left
    # of the image, zeros in the patch.
    model = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Conv2D(
        1, 3, padding="same", kernel_initializer="ones", use_bias=False, name="c")])
    images = np.full((2, 6, 6, 1), 0.1, np.float32)
    images[1] = -0.1
    images[1, 0, 0] = 5.0
    units = explain.strongest_units(model, images, "c", 0, top=2, progress=False)
    assert (units.images.tolist(), units.rows[0], units.cols[0]) == ([1, 0], 0, 0)
    patch = explain.dataset_examples(model, images, "c", 0, top=1, progress=False)[0, ..., 0]
    assert_allclose(patch, [[0, 0, 0], [0, 5.0, -0.1], [0, -0.1, -0.1]])


def test_dataset_examples_of_one_filter_and_one_image(course):
    images = np.random.default_rng(2).random((4, 28, 28, 1), dtype=np.float32)
    both = explain.dataset_examples(course, images, "conv4", [5], top=3, progress=False)
    one = explain.dataset_examples(course, images, "conv4", 5, top=3, progress=False)
    assert one.shape == (3, 14, 14, 1)
    assert_allclose(one, both[0])
    alone = explain.dataset_examples(course, images[1], "conv4", [5, 6], top=1, progress=False)
    assert alone.shape == (2, 1, 14, 14, 1)


def test_dataset_examples_errors(course):
    images = np.zeros((3, 28, 28, 1), np.float32)
    with pytest.raises(ValueError, match=r"no layer named 'conv9'.*\['conv1', 'conv2', 'pool1'"):
        explain.dataset_examples(course, images, "conv9", [0], progress=False)
    with pytest.raises(ValueError, match=r"'logits' outputs shape \(None, 10\).*4-D"):
        explain.dataset_examples(course, images, "logits", [0], progress=False)
    with pytest.raises(ValueError, match="filter 64 is out of range: layer 'conv4' has 64 "
                                         "channels, 0 to 63"):
        explain.dataset_examples(course, images, "conv4", [0, 64], top=1, progress=False)
    with pytest.raises(TypeError, match="filters must be an int or a sequence of ints"):
        explain.dataset_examples(course, images, "conv4", "all", progress=False)
    with pytest.raises(ValueError, match="top=9, but there are only 3 images: each image gives "
                                         "at most one example"):
        explain.dataset_examples(course, images, "conv4", [0], progress=False)
    with pytest.raises(ValueError, match="top must be a positive int, got 0"):
        explain.strongest_units(course, images, "conv4", [0], top=0, progress=False)
    with pytest.raises(ValueError, match=r"expects images of shape \(28, 28, 1\).*\(28, 28, 3\)"):
        explain.dataset_examples(course, np.zeros((3, 28, 28, 3), np.float32), "conv4", [0],
                                 top=1, progress=False)
    with pytest.raises(TypeError, match="floating point"):
        explain.dataset_examples(course, images.astype(np.uint8), "conv4", [0], top=1,
                                 progress=False)

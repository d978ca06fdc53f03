"""Chapter 06's self-checks: they pass the worked solutions and explain typical slips."""

import numpy as np
import pytest
from checking import assert_correct, assert_not_yet

from helpers.exercises import ch06


def test_the_synthetic_arrays_have_what_the_messages_promise():
    first = ch06.gradient_batches()[0]
    assert len(set(first.shape)) == 4  # N, h, w, C all differ: wrong axes show in the shape
    for activations, weights in ch06.combination_cases():
        assert np.all(activations >= 0)
        assert (weights > 0).any() and (weights < 0).any()
    zero_map, no_zeros = ch06.heatmap_batches()
    assert np.all(zero_map[1] == 0) and zero_map[0].max() > 0
    assert np.all(no_zeros > 0)


# --- Exercise 1: Grad-CAM's channel weights ----------------------------------------------

def grad_cam_weights(gradients):
    return np.mean(gradients, axis=(1, 2))


def test_grad_cam_weights_solution():
    assert_correct(ch06.check_grad_cam_weights(grad_cam_weights))
    assert_correct(ch06.check_grad_cam_weights(lambda g: grad_cam_weights(g).tolist()))


def test_grad_cam_weights_agree_with_tensorflow():
    import tensorflow as tf

    for gradients in ch06.gradient_batches():
        expected = tf.reduce_mean(gradients, axis=(1, 2)).numpy()
        np.testing.assert_allclose(grad_cam_weights(gradients), expected, rtol=1e-6,
                                   atol=1e-6)


@pytest.mark.parametrize("function, fragments", [
    (lambda g: g.sum(axis=(1, 2)), ["sums over the positions", "h * w = 20"]),
    (lambda g: g.max(axis=(1, 2)), ["largest gradients"]),
    (lambda g: np.abs(g).mean(axis=(1, 2)), ["absolute values", "keep the sign"]),
    (lambda g: np.maximum(g, 0).mean(axis=(1, 2)), ["only the positive gradients"]),
    (lambda g: g.mean(axis=3), ["averaged over the channels"]),
    (lambda g: g.mean(axis=(0, 1, 2)), ["over the images too", "(N, C)"]),
    (lambda g: g.mean(axis=1), ["height only"]),
    (lambda g: g.mean(axis=2), ["width only"]),
    (lambda g: g.mean(axis=(1, 2)).T, ["transposed"]),
    (lambda g: g.mean(axis=(1, 2)) + (g.shape[0] == 3) * 0.5,
     ["shape (3, 7, 7, 6)", "differs at 18 of 18 positions"]),
    (lambda g: g.mean(axis=(1, 2))[:, None], ["shape (2, 1, 3), expected (2, 3)",
                                              "extra axes"]),
    (lambda g: g.mean(axis=(1, 2)) * np.nan, ["NaN"]),
    (lambda g: g.mean(axis=(4, 5)), ["AxisError", "an array of shape (2, 5, 4, 3)"]),
    (lambda g: {"weights": g.mean(axis=(1, 2))}, ["returned a dict", "array of numbers"]),
    (lambda g: None, ["returned None", "placeholder", "return"]),
    (lambda: 0.5, ["TypeError"]),
    (..., ["placeholder"]),
    (np.zeros(3), ["expected a function"]),
])
def test_grad_cam_weights_slips(function, fragments):
    assert_not_yet(ch06.check_grad_cam_weights(function), *fragments)


# --- Exercise 2: weigh, sum, then ReLU ---------------------------------------------------

def combine(activations, weights):
    return np.maximum((activations * weights[:, None, None, :]).sum(axis=-1), 0)


def test_combine_solution():
    assert_correct(ch06.check_cam_combination(combine))
    assert_correct(ch06.check_cam_combination(
        lambda a, w: np.maximum(np.einsum("nhwk,nk->nhw", a, w), 0)))


def test_combine_agrees_with_the_helpers_weighted_sum():
    from helpers.explain.class_maps import _weighted_sum

    for activations, weights in ch06.combination_cases():
        np.testing.assert_allclose(combine(activations, weights),
                                   _weighted_sum(activations, weights).numpy(), rtol=1e-5,
                                   atol=1e-5)


@pytest.mark.parametrize("function, fragments", [
    (lambda a, w: (a * w[:, None, None, :]).sum(axis=-1), ["without the ReLU"]),
    (lambda a, w: np.maximum(a * w[:, None, None, :], 0).sum(axis=-1),
     ["before the sum", "sum over the channels first, then ReLU"]),
    (lambda a, w: np.abs((a * w[:, None, None, :]).sum(axis=-1)), ["absolute value"]),
    (lambda a, w: np.maximum((a * w[:, None, None, :]).mean(axis=-1), 0),
     ["averaged over the channels", "3 times smaller"]),
    (lambda a, w: np.maximum(np.einsum("nhwk,k->nhw", a, w[0]), 0),
     ["first image's weights", "weights[n]"]),
    (lambda a, w: np.maximum(a.sum(axis=-1), 0), ["ignored the weights"]),
    (lambda a, w: np.maximum(a * w[:, None, None, :], 0), ["kept the channel axis"]),
    (lambda a, w: combine(a, w)[..., None], ["shape (2, 5, 4, 1), expected (2, 5, 4)",
                                            "extra axes"]),
    (lambda a, w: combine(a, w) * 2, ["differs at"]),
    (lambda a, w: combine(a, w) + np.inf, ["NaN or infinity"]),
    (lambda a, w: a @ w, ["ValueError", "an array of shape (2, 5, 4, 3)"]),
    (lambda a, w: "map", ["returned a str"]),
    (lambda a, w: None, ["returned None", "placeholder"]),
    (lambda a: a, ["TypeError"]),
    (..., ["placeholder"]),
])
def test_combine_slips(function, fragments):
    assert_not_yet(ch06.check_cam_combination(function), *fragments)


# --- Exercise 3: scale heatmaps to [0, 1], safely ----------------------------------------

def normalize(heatmaps):
    peak = heatmaps.max(axis=(1, 2), keepdims=True)
    return np.divide(heatmaps, peak, out=np.zeros_like(heatmaps), where=peak > 0)


def test_normalize_solution():
    assert_correct(ch06.check_normalize_cam(normalize))
    assert_correct(ch06.check_normalize_cam(
        lambda h: h / np.maximum(h.max(axis=(1, 2), keepdims=True), 1e-12)))


def _unsafe(heatmaps):
    with np.errstate(invalid="ignore", divide="ignore"):
        return heatmaps / heatmaps.max(axis=(1, 2), keepdims=True)


def _min_max(heatmaps):
    low = heatmaps.min(axis=(1, 2), keepdims=True)
    spread = heatmaps.max(axis=(1, 2), keepdims=True) - low
    return np.divide(heatmaps - low, spread, out=np.zeros_like(heatmaps), where=spread > 0)


@pytest.mark.parametrize("function, fragments", [
    (_unsafe, ["heatmap 1 is all zero", "0 / 0 gave NaN", "return zeros"]),
    (_min_max, ["shape (2, 4, 4)", "min-max scaling"]),
    (lambda h: h / h.max(), ["largest value of the whole batch", "its own maximum"]),
    (lambda h: np.divide(h, h.sum(axis=(1, 2), keepdims=True),
                         out=np.zeros_like(h), where=h.sum(axis=(1, 2), keepdims=True) > 0),
     ["divided each map by its sum"]),
    (lambda h: h, ["differs at"]),
    (lambda h: normalize(h)[:, None], ["shape (3, 1, 6, 5), expected (3, 6, 5)"]),
    (lambda h: np.full(h.shape, np.nan), ["NaN"]),
    (lambda h: h.max(axis=(1, 2)), ["shape (3,), expected (3, 6, 5)"]),
    (lambda h: h.reshape(7, -1), ["ValueError", "an array of shape (3, 6, 5)"]),
    (lambda h: [list(row) for row in h[0]] + [[1.0]], ["returned a list",
                                                      "array of numbers"]),
    (lambda h: None, ["returned None", "placeholder"]),
    (..., ["placeholder"]),
])
def test_normalize_slips(function, fragments):
    assert_not_yet(ch06.check_normalize_cam(function), *fragments)


# --- Exercise 4: Grad-CAM++'s weights in closed form, behind global average pooling ------

def grad_cam_plus_plus_weights(activations, dense_weights):
    positive = np.maximum(dense_weights, 0)
    return positive / (2 + positive * activations.mean(axis=(1, 2)))


def test_gap_head_cases_have_what_the_messages_promise():
    sizes, products = set(), []
    for activations, weights in ch06.gap_head_cases():
        assert np.all(activations >= 0)
        assert (weights > 0).any() and (weights < 0).any()
        products.append(weights * activations.mean(axis=(1, 2)))
        sizes.add(activations.shape[1] * activations.shape[2])
    assert len(sizes) == 4
    # The first cases stay within |w mean(A)| < 1.9; the last reaches below -2, and nothing
    # is near -2, where a wrong answer would divide by zero.
    assert all(np.abs(product).max() < 1.9 for product in products[:-1])
    assert products[-1].min() < -2 and np.abs(np.concatenate(products, axis=None) + 2).min() > 0.5


def test_grad_cam_plus_plus_weights_solution():
    assert_correct(ch06.check_grad_cam_plus_plus_weights(grad_cam_plus_plus_weights))
    assert_correct(ch06.check_grad_cam_plus_plus_weights(
        lambda a, w: np.where(w > 0, w, 0) / (2 + np.where(w > 0, w, 0) * a.mean(axis=(1, 2)))))


def test_the_closed_form_gives_the_helpers_grad_cam_plus_plus_on_the_course_model():
    import tensorflow as tf

    import helpers
    from helpers.explain import cam, feature_maps, grad_cam_plus_plus
    from helpers.models import preprocess

    model = helpers.load_course_model()
    (_, _), (test_images, _) = helpers.load_fashion_mnist()
    images = preprocess(test_images[:6])
    maps = feature_maps(model, images, ["conv5"])["conv5"]
    kernel, _ = model.get_layer("logits").get_weights()
    predicted = np.asarray(model(images)).argmax(axis=1)
    weights = kernel.T[predicted]
    beta = grad_cam_plus_plus_weights(maps, weights)
    coarse = np.maximum(np.einsum("nhwk,nk->nhw", maps, beta), 0)
    rebuilt = tf.image.resize(coarse[..., None], (28, 28), method="bilinear")[..., 0].numpy()
    expected = grad_cam_plus_plus(model, images)
    np.testing.assert_allclose(rebuilt, expected, rtol=1e-3, atol=1e-4 * expected.max())
    # Not a rescaled CAM: dropping the negative channels and damping the strong ones changes
    # the picture.
    cams = cam(model, images)
    ratio = np.divide(expected, cams, out=np.zeros_like(expected), where=cams > 1e-3)
    assert np.ptp(ratio[cams > 1e-3]) > 1e-3


@pytest.mark.parametrize("function, fragments", [
    (lambda a, w: w / (2 + w * a.mean(axis=(1, 2))), ["Dense weight is negative", "counts 0"]),
    # The ReLU after the division: right wherever w * mean(A) > -2, wrong in the last case.
    (lambda a, w: np.maximum(w / (2 + w * a.mean(axis=(1, 2))), 0),
     ["ReLU came after the division", "below -2", "comes out positive"]),
    (lambda a, w: np.maximum(w, 0) / (2 / (a.shape[1] * a.shape[2])
                                      + np.maximum(w, 0) * a.mean(axis=(1, 2))),
     ["gradient dy/dA_ij to be w", "Z = h * w = 20", "w / Z"]),
    (lambda a, w: grad_cam_plus_plus_weights(a, w) / (a.shape[1] * a.shape[2]),
     ["one position's term", "Z = 20 positions"]),
    (lambda a, w: np.maximum(w, 0) / (2 + np.maximum(w, 0) * a.mean(axis=(1, 2))
                                      / (a.shape[1] * a.shape[2])),
     ["not their mean"]),
    (lambda a, w: np.maximum(w, 0) / (2 + np.maximum(w, 0) * a.sum(axis=(1, 2))),
     ["w itself for one G"]),
    (lambda a, w: w / (a.shape[1] * a.shape[2]), ["Grad-CAM's weights", "mean gradient"]),
    (lambda a, w: np.maximum(w, 0) / (a.shape[1] * a.shape[2]),
     ["Grad-CAM's weight w / Z with a ReLU", "missing"]),
    (lambda a, w: w, ["Dense weights, CAM's"]),
    (lambda a, w: np.maximum(w, 0), ["ReLU(w), without the coefficient"]),
    (lambda a, w: np.maximum(w, 0) / 2, ["second term", "activations enter"]),
    (lambda a, w: 1 / (2 + w * a.mean(axis=(1, 2))), ["coefficients a themselves"]),
    (lambda a, w: np.where(w > 0, 1 / (2 + w * a.mean(axis=(1, 2))), 0),
     ["coefficients a of the positive channels"]),
    (lambda a, w: np.maximum(w, 0) * a.mean(axis=(1, 2))
     / (2 + np.maximum(w, 0) * a.mean(axis=(1, 2))), ["multiplied by the mean activation"]),
    (lambda a, w: np.broadcast_to(grad_cam_plus_plus_weights(a, w)[:, None, None, :]
                                  / (a.shape[1] * a.shape[2]), a.shape),
     ["kept the positions", "(N, C)"]),
    (lambda a, w: grad_cam_plus_plus_weights(a, w) * 1.5, ["differs at"]),
    (lambda a, w: grad_cam_plus_plus_weights(a, w)[:, None], ["extra axes"]),
    (lambda a, w: np.maximum(w, 0) / 0, ["NaN or infinity"]),
    (lambda a, w: a @ w, ["ValueError", "an array of shape (2, 4, 5, 3)"]),
    (lambda a, w: "weights", ["returned a str"]),
    (lambda a, w: None, ["returned None", "placeholder"]),
    (lambda a: a, ["TypeError"]),
    (..., ["placeholder"]),
])
def test_grad_cam_plus_plus_weights_slips(function, fragments):
    assert_not_yet(ch06.check_grad_cam_plus_plus_weights(function), *fragments)

"""Chapter 03's self-checks: they pass the worked solutions and explain typical slips."""

import numpy as np
import pytest
from checking import assert_correct, assert_not_yet

from helpers.exercises import ch03


def test_the_synthetic_batches_have_what_the_messages_promise():
    batches = ch03.feature_map_batches()
    first = batches[0]
    assert len(set(first.shape)) == 4  # N, h, w, C all differ: wrong axes show in the shape
    assert all(np.all(maps >= 0) for maps in batches)
    assert np.all(batches[1][..., 2] == 0) and np.all(batches[1][..., 5] > 0)


# --- Exercise 1: the fraction of zeros per channel --------------------------------------

def zero_fraction(maps):
    return np.mean(maps == 0, axis=(0, 1, 2))


def test_zero_fraction_solution():
    assert_correct(ch03.check_zero_fraction(zero_fraction))
    assert_correct(ch03.check_zero_fraction(lambda maps: zero_fraction(maps).tolist()))
    assert_correct(ch03.check_zero_fraction(
        lambda maps: 1 - np.count_nonzero(maps, axis=(0, 1, 2)) / np.prod(maps.shape[:3])))


@pytest.mark.parametrize("function, fragments", [
    (lambda maps: np.mean(maps != 0, axis=(0, 1, 2)), ["non-zero (active)"]),
    (lambda maps: np.sum(maps == 0, axis=(0, 1, 2)), ["counts of zeros", "N * h * w = 40"]),
    (lambda maps: np.mean(maps == 0), ["one fraction for the whole batch"]),
    (lambda maps: np.mean(maps == 0, axis=(1, 2, 3)), ["one fraction per image"]),
    (lambda maps: np.mean(maps == 0, axis=(1, 2)), ["per image and channel"]),
    (lambda maps: np.mean(maps == 0, axis=3), ["averaged over the channels"]),
    (lambda maps: np.mean(maps < 0, axis=(0, 1, 2)), ["negative values", "equal to 0"]),
    (lambda maps: 100 * zero_fraction(maps), ["between 0 and 1"]),
    (lambda maps: zero_fraction(maps) + (maps.shape[0] == 3) * 0.01,
     ["shape (3, 6, 6, 4)", "differs at 4 of 4 positions"]),
    (lambda maps: np.full(maps.shape[-1], np.nan), ["NaN"]),
    (lambda maps: zero_fraction(maps)[None], ["shape (1, 3), expected (3,)", "extra axes"]),
    (lambda maps: maps.reshape(-1, 7).mean(), ["ValueError", "an array of shape (2, 5, 4, 3)"]),
    (lambda maps: "0.5", ["returned a str", "array of numbers"]),
    (lambda maps: [[0.5], [0.5, 0.5]], ["returned a list", "array of numbers"]),
    (lambda maps: None, ["returned None", "placeholder", "return"]),
    (lambda: 0.5, ["TypeError"]),
    (..., ["placeholder"]),
    (np.zeros(3), ["expected a function"]),
])
def test_zero_fraction_slips(function, fragments):
    assert_not_yet(ch03.check_zero_fraction(function), *fragments)


# --- Exercise 2: global average pooling by hand -----------------------------------------

def global_average_pool(maps):
    return np.mean(maps, axis=(1, 2))


def test_global_average_pool_solution():
    assert_correct(ch03.check_global_average_pool(global_average_pool))
    assert_correct(ch03.check_global_average_pool(
        lambda maps: maps.sum(axis=(1, 2)) / (maps.shape[1] * maps.shape[2])))


def test_global_average_pool_agrees_with_keras():
    import keras

    for maps in ch03.feature_map_batches():
        expected = np.asarray(keras.layers.GlobalAveragePooling2D()(maps))
        np.testing.assert_allclose(global_average_pool(maps), expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("function, fragments", [
    (lambda maps: maps.sum(axis=(1, 2)), ["sums", "h * w = 20"]),
    (lambda maps: maps.max(axis=(1, 2)), ["global max pooling"]),
    (lambda maps: maps.mean(axis=3), ["averaged over the channels"]),
    (lambda maps: maps.mean(axis=(0, 1, 2)), ["over the images too", "(N, C)"]),
    (lambda maps: maps.mean(axis=1), ["height only"]),
    (lambda maps: maps.mean(axis=2), ["width only"]),
    (lambda maps: maps.mean(), ["one number for the whole batch"]),
    (lambda maps: maps.mean(axis=(1, 2)).T, ["transposed"]),
    (lambda maps: maps[:, maps.shape[1] // 2, maps.shape[2] // 2], ["differs at"]),
    (lambda maps: np.squeeze(maps.mean(axis=(1, 2))),
     ["shape (2,), expected (1, 2)", "extra axes"]),
    (lambda maps: maps.mean(axis=(1, 2)) * np.nan, ["NaN"]),
    (lambda maps: maps.mean(axis=(2, 3, 4)), ["AxisError", "an array of shape (2, 5, 4, 3)"]),
    (lambda maps: {"gap": maps.mean(axis=(1, 2))}, ["returned a dict", "array of numbers"]),
    (lambda maps: None, ["returned None", "placeholder"]),
    (..., ["placeholder"]),
])
def test_global_average_pool_slips(function, fragments):
    assert_not_yet(ch03.check_global_average_pool(function), *fragments)


# --- Exercise 3: the channels that fire most for a class --------------------------------

def top_channels(maps, labels, class_index, k):
    means = maps[labels == class_index].mean(axis=(0, 1, 2))
    return np.argsort(-means, kind="stable")[:k]


def test_top_channels_solution():
    assert_correct(ch03.check_class_top_channels(top_channels))
    assert_correct(ch03.check_class_top_channels(
        lambda *args: [int(c) for c in top_channels(*args)]))
    assert_correct(ch03.check_class_top_channels(
        lambda maps, labels, class_index, k:
        np.argsort(maps[labels == class_index].mean(axis=(1, 2)).mean(axis=0))[::-1][:k]))


def test_top_channel_cases_tell_the_slips_apart():
    for maps, labels, class_index, _k in ch03.top_channel_cases():
        in_class = maps[labels == class_index]
        means = in_class.mean(axis=(0, 1, 2))
        assert len(np.unique(means)) == len(means)  # no ties: one right order
    maps, labels, class_index, k = ch03.top_channel_cases()[0]
    expected = top_channels(maps, labels, class_index, k).tolist()
    over_all = np.argsort(-maps.mean(axis=(0, 1, 2)))[:k].tolist()
    by_max = np.argsort(-maps[labels == class_index].max(axis=(0, 1, 2)))[:k].tolist()
    assert expected != over_all and expected != by_max


def per_image_ranking(maps, labels, class_index, k):
    return np.argsort(-maps[labels == class_index].mean(axis=(1, 2)), axis=1)[:, :k]


def mean_values(maps, labels, class_index, k):
    means = maps[labels == class_index].mean(axis=(0, 1, 2))
    return np.sort(means)[::-1][:k]


@pytest.mark.parametrize("function, fragments", [
    (lambda maps, labels, class_index, k: np.argsort(-maps.mean(axis=(0, 1, 2)))[:k],
     ["over all the images", "maps[labels == class_index]"]),
    (lambda maps, labels, class_index, k:
     np.argsort(maps[labels == class_index].mean(axis=(0, 1, 2)))[:k], ["weakest channels"]),
    (lambda maps, labels, class_index, k:
     np.argsort(maps[labels == class_index].mean(axis=(0, 1, 2)))[-k:], ["weakest first"]),
    (lambda maps, labels, class_index, k:
     np.argsort(-maps[labels == class_index].max(axis=(0, 1, 2)))[:k], ["largest value"]),
    (per_image_ranking, ["one ranking per image", "shape (4, 3)"]),
    (mean_values, ["mean activations of the top channels", "indices"]),
    (lambda *args: top_channels(*args)[:1], ["returned 1 channels, expected k = 3"]),
    (lambda maps, labels, class_index, k: top_channels(maps, labels, class_index, k + 1),
     ["returned 4 channels, expected k = 3"]),
    (lambda *args: top_channels(*args)[[1, 0, 2]], ["right channels in the wrong order"]),
    (lambda *args: top_channels(*args) + 0.5, ["whole numbers"]),
    (lambda maps, labels, class_index, k: top_channels(maps, labels, (class_index + 1) % 3, k),
     ["expected [", "images of class 1"]),
    (lambda maps, labels, class_index, k: top_channels(maps, labels, class_index, k)[None, None],
     ["shape (1, 1, 3)"]),
    (lambda maps, labels, class_index, k: maps[labels == class_index, 99],
     ["IndexError", "an array of shape (12, 3, 3, 10)"]),
    (lambda maps, labels, class_index, k: "0, 1, 2", ["returned a str", "channel indices"]),
    (lambda maps, labels, class_index, k: None, ["returned None", "placeholder"]),
    (lambda maps, labels: [0], ["TypeError"]),
    (..., ["placeholder"]),
])
def test_top_channels_slips(function, fragments):
    assert_not_yet(ch03.check_class_top_channels(function), *fragments)


# --- Exercise 4: which input rows one position of a deep map sees -------------------------

def input_window(layers, row):
    first = last = row
    for kernel, stride, padding in reversed(layers):
        first, last = stride * first - padding, stride * last - padding + kernel - 1
    return first, last


def test_input_window_solution():
    assert_correct(ch03.check_input_window(input_window))
    assert_correct(ch03.check_input_window(lambda *args: list(input_window(*args))))
    assert_correct(ch03.check_input_window(lambda *args: np.array(input_window(*args), float)))


def test_input_window_agrees_with_the_course_model():
    """The windows of the check are those of the real model: its maps' sides, and the rows
    where the gradient of one row of each layer's maps is nonzero, over many images."""
    import keras
    import tensorflow as tf

    import helpers

    model = helpers.load_course_model()
    (_, _), (images, _) = helpers.load_fashion_mnist()
    x = tf.constant(images[:300, :, :, None] / 255.0, dtype=tf.float32)
    # The stack up to and including each convolution: conv1, conv2, conv3, conv4, conv5.
    depth = {"conv1": 1, "conv2": 2, "conv3": 4, "conv4": 5, "conv5": 7}
    for name, layers in depth.items():
        stack = ch03.COURSE_MODEL_STACK[:layers]
        tap = keras.Model(model.inputs, model.get_layer(name).output)
        side = tap.output.shape[1]
        assert side == 28 // np.prod([s for _, s, _ in stack])
        for row in (0, side // 2):
            with tf.GradientTape() as tape:
                tape.watch(x)
                total = tf.reduce_sum(tap(x)[:, row, :, :])
            seen = np.flatnonzero(np.any(tape.gradient(total, x).numpy() != 0, axis=(0, 2, 3)))
            first, last = input_window(list(stack), row)
            assert (seen.min(), seen.max()) == (max(first, 0), min(last, 27)), (name, row)


def input_window_centered(layers, row):
    first, last = input_window(layers, row)
    jump = int(np.prod([s for _, s, _ in layers]))
    return jump * row - (last - first) // 2, jump * row + (last - first + 1) // 2


def input_window_forward(layers, row):
    first = last = row
    for kernel, stride, padding in layers:
        first, last = stride * first - padding, stride * last - padding + kernel - 1
    return first, last


@pytest.mark.parametrize("function, fragments", [
    (lambda layers, row: input_window([(k, s, 0) for k, s, _ in layers], row),
     ["padding is missing", "returned (0, 2), expected (-1, 1)"]),
    (input_window_forward, ["walked from the input up", "row=4"]),
    (lambda layers, row: input_window([(k, 1, p) for k, _, p in layers], row),
     ["strides are missing"]),
    (lambda layers, row: (input_window(layers, row)[0], input_window(layers, row)[1] + 1),
     ["one row too long", "returned (-1, 2), expected (-1, 1)"]),
    (lambda layers, row: (input_window(layers, row)[0] - 1, input_window(layers, row)[1]),
     ["returned (-2, 1), expected (-1, 1)", "Walk back from the last layer"]),
    (input_window_centered, ["centered on jump x row", "row=3"]),
    (lambda layers, row: input_window(layers, row)[::-1], ["first row comes first"]),
    (lambda layers, row: input_window(layers, row)[1] - input_window(layers, row)[0] + 1,
     ["the window's width", "(first, last)"]),
    (lambda layers, row: 7, ["one number", "(first, last)"]),
    (lambda layers, row: [input_window(layers, row)], ["shape (1, 2)"]),
    (lambda layers, row: (np.nan, 1), ["NaN"]),
    (lambda layers, row: "2 to 25", ["returned a str", "two row numbers"]),
    (lambda layers, row: layers[5], ["IndexError", "input_window raised"]),
    (lambda layers, row: None, ["returned None", "placeholder"]),
    (lambda layers: (0, 0), ["TypeError"]),
    (..., ["placeholder"]),
])
def test_input_window_slips(function, fragments):
    assert_not_yet(ch03.check_input_window(function), *fragments)

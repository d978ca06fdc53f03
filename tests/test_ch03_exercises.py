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

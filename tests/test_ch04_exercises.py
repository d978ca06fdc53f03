"""Chapter 04's self-checks: they pass the worked solutions and explain typical slips."""

import numpy as np
import pytest
from checking import assert_correct, assert_not_yet

from helpers.exercises import ch04


def test_the_synthetic_cases_have_what_the_messages_promise():
    first = ch04.image_batches()[0]
    assert len(set(first.shape)) == 4  # a sum over the wrong axes shows in the shape
    assert np.all(ch04.image_batches()[1][0] == 0.5)  # a flat image
    cases = ch04.ascent_cases()
    assert np.all(cases[-1][1] == 0)  # a zero gradient
    assert all(dy != dx and dy != -dx for _, (dy, dx) in ch04.jitter_cases())


# --- Exercise 1: total variation ------------------------------------------------------

def total_variation(images):
    vertical = np.abs(images[:, 1:] - images[:, :-1]).sum(axis=(1, 2, 3))
    horizontal = np.abs(images[:, :, 1:] - images[:, :, :-1]).sum(axis=(1, 2, 3))
    return vertical + horizontal


def test_total_variation_solution():
    assert_correct(ch04.check_total_variation(total_variation))
    assert_correct(ch04.check_total_variation(lambda images: total_variation(images).tolist()))
    assert_correct(ch04.check_total_variation(
        lambda images: np.abs(np.diff(images, axis=1)).sum(axis=(1, 2, 3))
        + np.abs(np.diff(images, axis=2)).sum(axis=(1, 2, 3))))


def test_total_variation_agrees_with_tensorflow():
    tf = pytest.importorskip("tensorflow")
    for images in ch04.image_batches():
        np.testing.assert_allclose(total_variation(images),
                                   tf.image.total_variation(tf.constant(images)).numpy(),
                                   rtol=1e-5)


@pytest.mark.parametrize("function, fragments", [
    (lambda images: np.abs(np.diff(images, axis=1)).sum(axis=(1, 2, 3)),
     ["only the differences between vertical neighbors"]),
    (lambda images: np.abs(np.diff(images, axis=2)).sum(axis=(1, 2, 3)),
     ["only the differences between horizontal neighbors"]),
    (lambda images: (np.diff(images, axis=1) ** 2).sum(axis=(1, 2, 3))
     + (np.diff(images, axis=2) ** 2).sum(axis=(1, 2, 3)), ["squared differences"]),
    (lambda images: np.diff(images, axis=1).sum(axis=(1, 2, 3))
     + np.diff(images, axis=2).sum(axis=(1, 2, 3)), ["signed differences"]),
    (lambda images: total_variation(images).sum(), ["one number for the whole batch"]),
    (lambda images: (np.abs(images - np.roll(images, 1, axis=1))
                     + np.abs(images - np.roll(images, 1, axis=2))).sum(axis=(1, 2, 3)),
     ["wraps around"]),
    (lambda images: total_variation(images) / images.shape[-1], ["mean over the channels"]),
    (lambda images: np.abs(np.diff(images, axis=1)).mean(axis=(1, 2, 3)) / 2
     + np.abs(np.diff(images, axis=2)).mean(axis=(1, 2, 3)) / 2 + 1,
     ["shape (2, 5, 4, 3)", "differs at"]),
    (lambda images: total_variation(images)[:, None], ["shape (2, 1), expected (2,)",
                                                       "extra axes"]),
    (lambda images: np.abs(np.diff(images, axis=1)) + 0, ["shape (2, 4, 4, 3), expected (2,)"]),
    (lambda images: np.full(len(images), np.nan), ["NaN"]),
    (lambda images: images.reshape(-1, 7), ["ValueError", "an array of shape (2, 5, 4, 3)"]),
    (lambda images: "12", ["returned a str", "array of numbers"]),
    (lambda images: None, ["returned None", "placeholder", "return"]),
    (lambda: 0.5, ["TypeError"]),
    (..., ["placeholder"]),
    (np.zeros(3), ["expected a function"]),
])
def test_total_variation_slips(function, fragments):
    assert_not_yet(ch04.check_total_variation(function), *fragments)


# --- Exercise 2: one normalized ascent step -------------------------------------------

def ascent_step(image, gradient, step_size):
    rms = np.sqrt(np.mean(np.square(gradient)))
    return image + step_size * gradient / (rms + 1e-8)


def test_ascent_step_solution():
    assert_correct(ch04.check_ascent_step(ascent_step))
    assert_correct(ch04.check_ascent_step(
        lambda image, gradient, step_size: image + step_size * gradient
        / (np.linalg.norm(gradient) / np.sqrt(gradient.size) + 1e-8)))


@pytest.mark.parametrize("function, fragments", [
    (lambda image, gradient, step_size: image - step_size * gradient
     / (np.sqrt(np.mean(gradient ** 2)) + 1e-8), ["against the gradient (descent)"]),
    (lambda image, gradient, step_size: image + step_size * gradient,
     ["not normalized", "root mean square"]),
    (lambda image, gradient, step_size: image + step_size * gradient
     / (np.sqrt(np.sum(gradient ** 2)) + 1e-8), ["L2 norm"]),
    (lambda image, gradient, step_size: image + step_size * gradient
     / (np.abs(gradient).max() + 1e-8), ["largest absolute value"]),
    (lambda image, gradient, step_size: image + step_size * gradient
     / (np.mean(gradient ** 2) + 1e-8), ["mean square", "square root"]),
    (lambda image, gradient, step_size: step_size * gradient
     / (np.sqrt(np.mean(gradient ** 2)) + 1e-8), ["the step alone"]),
    (lambda image, gradient, step_size: np.clip(ascent_step(image, gradient, step_size), 0, 1),
     ["clipped to [0, 1]"]),
    (lambda image, gradient, step_size: image + step_size * gradient
     / np.sqrt(np.mean(gradient ** 2)), ["all zero", "returned NaN", "add 1e-8"]),
    (lambda image, gradient, step_size: ascent_step(image, gradient, 2 * step_size),
     ["step_size=0.1", "differs at"]),
    (lambda image, gradient, step_size: ascent_step(image, gradient, step_size)[..., 0],
     ["shape (5, 4), expected (5, 4, 1)"]),
    (lambda image, gradient, step_size: image.reshape(3, -1), ["ValueError"]),
    (lambda image, gradient, step_size: None, ["returned None", "placeholder"]),
    (lambda image: image, ["TypeError"]),
    (..., ["placeholder"]),
])
@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # the NaN slip divides 0 by 0
def test_ascent_step_slips(function, fragments):
    assert_not_yet(ch04.check_ascent_step(function), *fragments)


# --- Exercise 3: jitter by rolling ----------------------------------------------------

def jitter(image, shift):
    return np.roll(image, shift, axis=(0, 1))


def test_jitter_solution():
    assert_correct(ch04.check_jitter(jitter))
    assert_correct(ch04.check_jitter(
        lambda image, shift: np.roll(np.roll(image, shift[0], axis=0), shift[1], axis=1)))


@pytest.mark.parametrize("function, fragments", [
    (lambda image, shift: np.roll(image, (-shift[0], -shift[1]), axis=(0, 1)),
     ["opposite way"]),
    (lambda image, shift: np.roll(image, (shift[1], shift[0]), axis=(0, 1)),
     ["dy and dx are swapped"]),
    (lambda image, shift: np.roll(image, sum(shift)), ["without axis="]),
    (lambda image, shift: np.roll(image, shift[0], axis=0), ["only the rows moved"]),
    (lambda image, shift: np.roll(image, shift[1], axis=1), ["only the columns moved"]),
    (lambda image, shift: np.roll(image, shift, axis=(1, 2)),
     ["shape (5, 7, 3)", "differs at"]),
    (lambda image, shift: np.roll(image, shift, axis=(0, 1))[..., 0],
     ["shape (5, 7), expected (5, 7, 3)"]),
    (lambda image, shift: image[len(image) + shift[0]], ["IndexError"]),
    (lambda image, shift: None, ["returned None", "placeholder"]),
    (lambda image: image, ["TypeError"]),
    (..., ["placeholder"]),
])
def test_jitter_slips(function, fragments):
    assert_not_yet(ch04.check_jitter(function), *fragments)


def test_jitter_zero_filled_shift_is_recognized():
    def shift_with_zeros(image, shift):
        dy, dx = shift
        out = np.zeros_like(image)
        height, width = image.shape[:2]
        out[max(dy, 0):height + min(dy, 0), max(dx, 0):width + min(dx, 0)] = image[
            max(-dy, 0):height + min(-dy, 0), max(-dx, 0):width + min(-dx, 0)]
        return out

    assert_not_yet(ch04.check_jitter(shift_with_zeros), "replaced by zeros")


# --- Exercise 4: one unit or the whole channel ----------------------------------------

def test_single_unit_sizes_are_the_course_models_receptive_fields():
    # Chapter 01's receptive field of the course model up to each layer.
    assert ch04.single_unit_sizes() == {"conv2": 5, "conv4": 14, "conv5": 24}
    assert [name for name, _, _ in ch04.COURSE_MODEL_LAYERS] == [
        "conv1", "conv2", "pool1", "conv3", "conv4", "pool2", "conv5"]


def test_single_unit_sizes_solution():
    assert_correct(ch04.check_single_unit_sizes({"conv2": 5, "conv4": 14, "conv5": 24}))
    assert_correct(ch04.check_single_unit_sizes({"conv5": 24.0, "conv4": np.int64(14),
                                                 "conv2": 5, "conv1": 3}))


@pytest.mark.parametrize("sizes, fragments", [
    ({"conv2": 28, "conv4": 28, "conv5": 28}, ["whole image", "whole channel",
                                               "gradient is exactly 0"]),
    ({"conv2": 28, "conv4": 14, "conv5": 7}, ["sides of the layers' maps"]),
    ({"conv2": 5, "conv4": 10, "conv5": 13}, ["left out the poolings' strides"]),
    ({"conv2": 5, "conv4": 15, "conv5": 27}, ["own stride does not widen"]),
    ({"conv2": 6, "conv4": 14, "conv5": 19}, ["stacked windows overlap"]),
    ({"conv2": 1, "conv4": 2, "conv5": 4}, ["distances between neighboring units"]),
    ({"conv2": 5, "conv4": 14, "conv5": 28}, ["conv5: a unit of conv5 does not see the whole"]),
    ({"conv2": 5, "conv4": 12, "conv5": 24}, ["conv4: 12 is not the side", "product of the "
                                                                          "strides"]),
    ({"conv2": 5, "conv4": 14}, ["no entry for conv5"]),
    ({"conv2": ..., "conv4": 14, "conv5": 24}, ["placeholder"]),
    ({"conv2": "5", "conv4": 14, "conv5": 24}, ["sizes['conv2'] is '5'", "one number"]),
    ({"conv2": float("nan"), "conv4": 14, "conv5": 24}, ["one number"]),
    ({"conv2": True, "conv4": 14, "conv5": 24}, ["one number"]),
    ({"conv2": np.True_, "conv4": 14, "conv5": 24}, ["one number"]),
    ({"conv2": 5, "conv4": 14, "conv5": [24]}, ["one number"]),
    ([5, 14, 24], ["expected a dict", "got list"]),
    (None, ["expected a dict", "got NoneType"]),
    (..., ["placeholder"]),
])
def test_single_unit_sizes_slips(sizes, fragments):
    assert_not_yet(ch04.check_single_unit_sizes(sizes), *fragments)

"""Chapter 01's self-checks: they pass the worked solutions and explain typical slips."""

import math

import numpy as np
import pytest
import tensorflow as tf
from checking import assert_checks_listed, assert_correct, assert_not_yet

from helpers.conv import conv2d
from helpers.exercises import ch01

KERNEL_1_TO_9 = np.arange(1.0, 10.0).reshape(3, 3)


def test_checks_are_listed_and_reachable_from_the_package():
    assert_checks_listed(ch01)


@pytest.mark.parametrize("name", ch01.__all__)
@pytest.mark.parametrize("answer", [None, ..., 3, "abc", object(), [[1, 2], [3]],
                                    np.full((3, 3), np.nan), np.zeros((4, 4)),
                                    lambda *args: 1 / 0, lambda *args: None,
                                    lambda *args: "text", lambda *args: [[1, 2], [3]],
                                    lambda *args: math.nan, lambda *args: ...],
                         ids=["None", "Ellipsis", "int", "str", "object", "ragged", "nan",
                              "zeros", "raises", "returns-None", "returns-str",
                              "returns-ragged", "returns-nan", "returns-Ellipsis"])
def test_no_check_ever_raises(name, answer):
    assert_not_yet(getattr(ch01, name)(answer))


# --- Exercise 1: the output size of a convolution -----------------------------------------

def conv_output_size(n, k, p, s):
    return (n + 2 * p - k) // s + 1


def test_output_size_solution():
    assert_correct(ch01.check_conv_output_size(conv_output_size))
    assert_correct(ch01.check_conv_output_size(
        lambda n, k, p, s: math.floor((n + 2 * p - k) / s) + 1))
    assert_correct(ch01.check_conv_output_size(lambda *args: np.int64(conv_output_size(*args))))


@pytest.mark.parametrize("n, k, p, s", ch01.OUTPUT_SIZE_CASES)
def test_output_size_cases_agree_with_tensorflow(n, k, p, s):
    images = tf.zeros([1, n, n, 1])
    paddings = [[0, 0], [p, p], [p, p], [0, 0]]
    output = tf.nn.conv2d(images, tf.zeros([k, k, 1, 1]), s, paddings)
    assert output.shape[1] == ch01._output_size(n, k, p, s) == conv_output_size(n, k, p, s)


@pytest.mark.parametrize("function, fragments", [
    (lambda n, k, p, s: (n + 2 * p - k) / s + 1, ["returned 112.5", "round the division down"]),
    (lambda n, k, p, s: math.ceil((n + 2 * p - k) / s) + 1, ["rounded up"]),
    (lambda n, k, p, s: (n + 2 * p - k) // s, ["returned 27, expected 28", "`+ 1`"]),
    (lambda n, k, p, s: (n + p - k) // s + 1, ["on *each* side"]),               # wrong padding
    (lambda n, k, p, s: (n - k) // s + 1, ["left out the padding"]),
    (lambda n, k, p, s: n + 2 * p - k + 1, ["left out the stride"]),
    (lambda n, k, p, s: math.ceil(n / s), ["padding='same'"]),
    (lambda n, k, p, s: (n + 2 * p - k + 1) // s, ["then add 1"]),
    (lambda n, k, p, s: 28, ["conv_output_size(n=28, k=3, p=0, s=1) returned 28, expected 26"]),
    (lambda n, k, p, s: str(conv_output_size(n, k, p, s)), ["returned '28'", "expected a number"]),
    (lambda n, k, p, s: [conv_output_size(n, k, p, s)], ["expected a number"]),
    (lambda n, k, p, s: True, ["expected a number"]),
    (lambda n, k, p: n, ["TypeError", "called with 28, 3, 1, 1"]),
    (lambda n, k, p, s: n // 0, ["ZeroDivisionError"]),
    (lambda n, k, p, s: None, ["returned None", "placeholder", "return"]),
    (..., ["placeholder"]),
    (np.zeros(3), ["expected a function"]),
])
def test_output_size_slips(function, fragments):
    assert_not_yet(ch01.check_conv_output_size(function), *fragments)


# --- Exercise 2: a kernel that moves the image one pixel to the right ---------------------

def shift_right_kernel():
    kernel = np.zeros((3, 3))
    kernel[1, 0] = 1.0
    return kernel


def test_shift_kernel_solution():
    kernel = shift_right_kernel()
    assert_correct(ch01.check_shift_kernel(kernel))
    assert_correct(ch01.check_shift_kernel(kernel.tolist()))
    assert_correct(ch01.check_shift_kernel(kernel[:, :, None, None]))
    assert_correct(ch01.check_shift_kernel(tf.constant(kernel)))


def test_shift_kernel_moves_right_in_tensorflow_and_left_in_a_true_convolution():
    image = np.random.default_rng(3).normal(size=(5, 6)).astype(np.float32)
    kernel = shift_right_kernel().astype(np.float32)
    moved = tf.nn.conv2d(image[None, :, :, None], kernel[:, :, None, None], 1, "SAME")
    assert np.array_equal(moved.numpy()[0, :, 1:, 0], image[:, :-1])
    from scipy.signal import convolve2d

    assert np.array_equal(convolve2d(image, kernel, mode="same")[:, :-1], image[:, 1:])


def kernel_with_one(row, col, value=1.0):
    kernel = np.zeros((3, 3))
    kernel[row, col] = value
    return kernel


@pytest.mark.parametrize("kernel, fragments", [
    (kernel_with_one(1, 2), ["to the left", "does not flip the kernel"]),   # flipped kernel
    (kernel_with_one(1, 1), ["leaves the image where it is"]),
    (kernel_with_one(0, 1), ["moves the image down", "first axis"]),
    (kernel_with_one(2, 1), ["moves the image up"]),
    (kernel_with_one(0, 0), ["down and to the right"]),
    (kernel_with_one(1, 0, 2.0), ["to the right but also multiplies", "by 2"]),
    (kernel_with_one(1, 2, 0.5), ["to the left but also multiplies", "by 0.5"]),
    (np.ones((3, 3)) / 9, ["does not move", "single 1"]),
    (np.zeros((3, 3)), ["does not move"]),
    (np.zeros((2, 2)), ["shape (2, 2)", "3x3"]),                             # wrong shape
    (np.pad(kernel_with_one(1, 0), 1), ["shape (5, 5)"]),
    (kernel_with_one(1, 0).ravel(), ["shape (9,)"]),
    (np.full((3, 3), np.inf), ["NaN or infinity"]),
    ([[0, 0, 0], [1, 0], [0, 0, 0]], ["3x3 array of numbers"]),
    ("[[0, 0, 0], [1, 0, 0], [0, 0, 0]]", ["3x3 array of numbers", "'[[0, 0"]),
    (shift_right_kernel, ["3x3 array of numbers"]),
    (None, ["None"]),
    (..., ["placeholder"]),
])
def test_shift_kernel_slips(kernel, fragments):
    assert_not_yet(ch01.check_shift_kernel(kernel), *fragments)


# --- Exercise 3: the receptive field of a stack of layers ---------------------------------

def receptive_field(layers):
    size, jump = 1, 1
    for kernel_size, stride in layers:
        size += (kernel_size - 1) * jump
        jump *= stride
    return size


def test_receptive_field_solution():
    assert_correct(ch01.check_receptive_field(receptive_field))


def receptive_field_backwards(layers):  # from the output down: r -> s * r + (k - s)
    size = 1
    for kernel_size, stride in reversed(layers):
        size = stride * size + kernel_size - stride
    return size


def test_receptive_field_other_derivation():
    assert_correct(ch01.check_receptive_field(receptive_field_backwards))


def test_receptive_field_of_the_course_model_is_24():
    assert receptive_field(ch01.COURSE_MODEL_LAYERS) == 24


@pytest.mark.parametrize("layers", ch01.RECEPTIVE_FIELD_CASES)
def test_receptive_field_cases_agree_with_a_gradient(layers):
    """The gradient of one output pixel is nonzero exactly on its receptive field."""
    size = 64
    image = tf.ones([1, size, size, 1])
    with tf.GradientTape() as tape:
        tape.watch(image)
        x = image
        for kernel_size, stride in layers:
            x = tf.nn.conv2d(x, tf.ones([kernel_size, kernel_size, 1, 1]), stride, "VALID")
        pixel = x[0, x.shape[1] // 2, x.shape[2] // 2, 0]
    gradient = tape.gradient(pixel, image)[0, :, :, 0].numpy()
    rows, cols = np.flatnonzero(gradient.any(axis=1)), np.flatnonzero(gradient.any(axis=0))
    assert len(rows) == len(cols) == rows[-1] - rows[0] + 1 == receptive_field(layers)


def mutating(layers):
    layers.reverse()
    return receptive_field(layers[::-1])


def test_receptive_field_check_survives_a_function_that_modifies_its_argument():
    assert_correct(ch01.check_receptive_field(mutating))
    assert ch01.RECEPTIVE_FIELD_CASES[4] == ((3, 1), (2, 2), (3, 1))


@pytest.mark.parametrize("function, fragments", [
    (lambda layers: 1 + sum(k - 1 for k, _ in layers),
     ["receptive_field([(3, 1), (2, 2), (3, 1)]) returned 6, expected 8", "left out the strides"]),
    (ch01._receptive_field_own_stride, ["own stride"]),
    (lambda layers: receptive_field(layers[::-1]), ["from the input up"]),
    (lambda layers: sum(k for k, _ in layers),
     ["returned 6, expected 5", "adds k - 1 pixels, not k"]),
    (lambda layers: math.prod(k for k, _ in layers), ["by addition"]),
    (lambda layers: 24, ["receptive_field([(3, 1)]) returned 24, expected 3"]),
    (lambda layers: receptive_field(layers) + 0.5, ["returned 3.5, expected 3"]),
    (lambda layers: str(receptive_field(layers)), ["expected a number"]),
    (lambda layers: (receptive_field(layers),) * 2, ["expected a number"]),
    (lambda layers: receptive_field(layers[0]), ["TypeError", "called with [(3, 1)]"]),
    (lambda: 3, ["TypeError"]),
    (lambda layers: None, ["returned None", "placeholder"]),
    (..., ["placeholder"]),
    ([(3, 1)], ["expected a function"]),
])
def test_receptive_field_slips(function, fragments):
    assert_not_yet(ch01.check_receptive_field(function), *fragments)


# --- Exercise 4: predict the gradient of one output pixel ---------------------------------

ANSWER = np.array([[4, 5, 6, 0], [7, 8, 9, 0], [0, 0, 0, 0], [0, 0, 0, 0]], dtype=float)


def tape_gradient(row, col, kernel=KERNEL_1_TO_9, upstream=None):
    image = tf.ones([1, 4, 4, 1])
    if upstream is None:
        upstream = np.zeros((1, 4, 4, 1), np.float32)
        upstream[0, row, col, 0] = 1.0
    with tf.GradientTape() as tape:
        tape.watch(image)
        output = tf.nn.conv2d(image, tf.constant(kernel, tf.float32)[:, :, None, None], 1, "SAME")
    return tape.gradient(output, image, output_gradients=upstream)


def test_pixel_gradient_answer_is_what_tensorflow_computes():
    np.testing.assert_array_equal(tape_gradient(0, 1).numpy().reshape(4, 4), ANSWER)


def test_pixel_gradient_solution():
    assert_correct(ch01.check_pixel_gradient(ANSWER))
    assert_correct(ch01.check_pixel_gradient(ANSWER.astype(int).tolist()))
    assert_correct(ch01.check_pixel_gradient(tape_gradient(0, 1)))            # (1, 4, 4, 1)
    assert_correct(ch01.check_pixel_gradient(tape_gradient(0, 1).numpy()[0]))  # (4, 4, 1)


def test_source_example_is_the_receptive_field():
    """The worked example the chapter reproduces: one-hot at (1, 1), kernel and input ones."""
    gradient = tape_gradient(1, 1, kernel=np.ones((3, 3))).numpy().reshape(4, 4)
    np.testing.assert_array_equal(gradient, [[1, 1, 1, 0], [1, 1, 1, 0], [1, 1, 1, 0],
                                             [0, 0, 0, 0]])


def test_backward_pass_is_a_convolution_with_the_flipped_kernel():
    upstream = np.random.default_rng(4).normal(size=(1, 4, 4, 1)).astype(np.float32)
    backward = tape_gradient(0, 0, upstream=upstream).numpy()
    flipped = np.flip(KERNEL_1_TO_9)[:, :, None, None]
    np.testing.assert_allclose(backward, conv2d(upstream, flipped, padding="same"), atol=1e-4)


@pytest.mark.parametrize("answer, fragments", [
    (tape_gradient(0, 1, kernel=np.flip(KERNEL_1_TO_9)),                          # convolution
     ["rotated by 180 degrees", "true convolution", "no flip"]),
    (tape_gradient(0, 1, kernel=KERNEL_1_TO_9[:, ::-1]), ["flipped the kernel left",
                                                          "flips neither"]),
    (tape_gradient(0, 1, kernel=KERNEL_1_TO_9[::-1]), ["flipped the kernel up"]),
    (tape_gradient(0, 1, kernel=KERNEL_1_TO_9.T), ["transposed the kernel"]),
    (np.pad(np.flip(KERNEL_1_TO_9)[:2], ((0, 2), (0, 1))),
     ["two slips", "true convolution", "middle row"]),
    (tape_gradient(1, 0, kernel=np.flip(KERNEL_1_TO_9)), ["two slips", "output[1, 0]"]),
    (tape_gradient(0, 1, kernel=np.ones((3, 3))), ["nonzero places are right"]),
    (np.pad(KERNEL_1_TO_9[:2], ((0, 2), (0, 1))), ["middle row"]),               # wrong padding
    (np.pad(KERNEL_1_TO_9, ((0, 1), (1, 0))), ["padding 'valid'"]),
    (tape_gradient(1, 0), ["output[1, 0]"]),
    (tape_gradient(0, 0, upstream=np.ones((1, 4, 4, 1), np.float32)), ["sum of all 16 outputs"]),
    (tape_gradient(1, 1), ["differs at"]),
    (ANSWER[:3], ["shape (3, 4), expected (4, 4)"]),                              # wrong shape
    (ANSWER + np.eye(4) * 0.5, ["differs at 4 of 16 positions", "index (0, 0)"]),
    (np.full((4, 4), np.nan), ["NaN"]),
    ([[4, 5, 6, 0], [7, 8, 9]], ["4x4 array of numbers"]),
    (lambda: ANSWER, ["4x4 array of numbers"]),
    ("ANSWER", ["4x4 array of numbers"]),
    (None, ["None"]),
    (..., ["placeholder"]),
])
def test_pixel_gradient_slips(answer, fragments):
    assert_not_yet(ch01.check_pixel_gradient(answer), *fragments)


def test_pixel_gradient_slips_are_all_different_and_all_wrong():
    """Each typical wrong answer gets its own hint: no two slips give the same array."""
    slips = ch01._gradient_slips()
    right = ch01._pixel_gradient(ch01.GRADIENT_PIXEL)
    for index, (wrong, hint) in enumerate(slips):
        assert not np.allclose(wrong, right), hint
        for other, other_hint in slips[:index]:
            assert not np.allclose(wrong, other), (hint, other_hint)
        result = ch01.check_pixel_gradient(wrong)
        assert not result and result.message == hint


def test_a_true_convolution_gives_the_flipped_answer():
    """What the flipped-kernel hint claims: scipy's convolve2d (a true convolution) has the
    180-degree-rotated kernel as the gradient of its output pixel."""
    from scipy.signal import convolve2d

    # convolve2d(x, K, "same") is linear in x: d output[0, 1] / d x[r, c] is output[0, 1]
    # for the image that is 1 at (r, c) and 0 elsewhere.
    gradient = np.array([convolve2d(pixel.reshape(4, 4), KERNEL_1_TO_9, "same")[0, 1]
                         for pixel in np.eye(16)]).reshape(4, 4)
    assert_not_yet(ch01.check_pixel_gradient(gradient), "true convolution")

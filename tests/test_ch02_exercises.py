"""Chapter 02's self-checks: they pass the worked solutions and explain typical slips."""

import math

import numpy as np
import pytest
from checking import assert_checks_listed, assert_correct, assert_not_yet

from helpers.exercises import ch02

RELU_POOL_INPUT = np.array([[2, -4, 1, 3], [-2, 0, -1, 5], [6, -6, -3, -1], [1, -3, 2, -2]],
                           dtype=float)


def test_checks_are_listed_and_reachable_from_the_package():
    assert_checks_listed(ch02)


@pytest.mark.parametrize("name", ch02.__all__)
@pytest.mark.parametrize("answer", [None, ..., 3, "abc", object(), [[1, 2], [3]],
                                    lambda *args: 1 / 0, lambda *args: None,
                                    lambda *args: "text", lambda *args: [[1, 2], [3]]],
                         ids=["None", "Ellipsis", "int", "str", "object", "ragged",
                              "raises", "returns-None", "returns-str", "returns-ragged"])
def test_no_check_ever_raises(name, answer):
    assert_not_yet(getattr(ch02, name)(answer))


# --- Exercise 1: ReLU, then 2x2 average pooling -----------------------------------------

def average_pool_2x2(x):
    return x.reshape(2, 2, 2, 2).mean(axis=(1, 3))


def test_relu_average_pool_solution():
    answer = average_pool_2x2(np.maximum(RELU_POOL_INPUT, 0))
    np.testing.assert_allclose(answer, [[0.5, 2.25], [1.75, 0.5]])
    assert_correct(ch02.check_relu_average_pool(answer))
    assert_correct(ch02.check_relu_average_pool([[0.5, 2.25], [1.75, 0.5]]))  # typed by hand


@pytest.mark.parametrize("answer, fragment", [
    (average_pool_2x2(RELU_POOL_INPUT), "forgot ReLU's zero"),
    (np.maximum(average_pool_2x2(RELU_POOL_INPUT), 0), "after the pooling"),
    (RELU_POOL_INPUT.reshape(2, 2, 2, 2).max(axis=(1, 3)), "maxima"),
    ([[2.0, 3.0], [3.5, 2.0]], "positive values only"),
    (average_pool_2x2(np.abs(RELU_POOL_INPUT)), "abs"),
    (np.maximum(RELU_POOL_INPUT, 0), "now average it"),
    ([0.5, 2.25, 1.75, 0.5], "shape (4,), expected (2, 2)"),
    ([[0.5, 2.25], [1.75, 0.75]], "index (1, 1)"),
    (..., "placeholder"),
    (None, "None"),
])
def test_relu_average_pool_slips(answer, fragment):
    assert_not_yet(ch02.check_relu_average_pool(answer), fragment)


# --- Exercise 2: max pooling with any window and stride ---------------------------------

def max_pool_loop(x, size, stride):
    out_h, out_w = (x.shape[0] - size) // stride + 1, (x.shape[1] - size) // stride + 1
    out = np.empty((out_h, out_w), dtype=x.dtype)
    for i in range(out_h):
        for j in range(out_w):
            out[i, j] = x[i * stride:i * stride + size, j * stride:j * stride + size].max()
    return out


def max_pool_windows(x, size, stride):
    windows = np.lib.stride_tricks.sliding_window_view(x, (size, size))
    return windows[::stride, ::stride].max(axis=(2, 3))


def pool_with(reduce):
    def pool(x, size, stride):
        return reduce(np.lib.stride_tricks.sliding_window_view(x, (size, size))
                      [::stride, ::stride], axis=(2, 3))
    return pool


@pytest.mark.parametrize("max_pool", [max_pool_loop, max_pool_windows])
def test_max_pool_solutions(max_pool):
    assert_correct(ch02.check_max_pool(max_pool))


def test_max_pool_agrees_with_keras():
    import keras

    x = np.random.default_rng(0).normal(size=(9, 11)).astype(np.float32)
    layer = keras.layers.MaxPooling2D(pool_size=3, strides=2)
    expected = np.asarray(layer(x[None, :, :, None]))[0, :, :, 0]
    np.testing.assert_allclose(ch02._pool(x, 3, 2), expected)


def padded_max_pool(x, size, stride):  # rounds up, as padding="same" would
    out_h, out_w = -(-(x.shape[0] - size) // stride) + 1, -(-(x.shape[1] - size) // stride) + 1
    padded = np.pad(x, ((0, size), (0, size)), constant_values=-np.inf)
    return max_pool_loop(padded, size, stride)[:out_h, :out_w]


@pytest.mark.parametrize("max_pool, fragments", [
    (pool_with(np.min), ["minimum"]),
    (pool_with(np.mean), ["mean", "average pooling"]),
    (lambda x, size, stride: max_pool_loop(x, size, size), ["by `size` instead of `stride`"]),
    (lambda x, size, stride: max_pool_loop(x, stride, stride), ["`stride` wide"]),
    (lambda x, size, stride: max_pool_loop(np.maximum(x, 0), size, stride), ["negative"]),
    (padded_max_pool, ["rounded up", "(3, 2)"]),
    (lambda x, size, stride: max_pool_loop(x, size, stride)[None], ["(1, 2, 2)", "extra axes"]),
    (lambda x, size, stride: max_pool_loop(x, size, stride).T if x.shape == (9, 8)
     else max_pool_loop(x, size, stride), ["shape (2, 3), expected (3, 2)"]),
    (lambda x, size, stride: max_pool_loop(x, size, stride) + (x.shape == (6, 7)),
     ["differs at 30 of 30 positions"]),
    (lambda x, size: x, ["TypeError", "called with an array of shape (4, 4), 2, 2"]),
    (lambda x, size, stride: x[size, stride, 0], ["IndexError"]),
    (lambda x, size, stride: None, ["returned None", "placeholder", "return"]),
    (..., ["placeholder"]),
    (np.zeros((2, 2)), ["expected a function"]),
])
def test_max_pool_slips(max_pool, fragments):
    assert_not_yet(ch02.check_max_pool(max_pool), *fragments)


# --- Exercise 3: a convolution's parameters ---------------------------------------------

def conv_params(kernel_size, in_channels, filters, use_bias=True):
    k_h, k_w = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    return k_h * k_w * in_channels * filters + (filters if use_bias else 0)


def test_conv_params_solution():
    assert_correct(ch02.check_conv_params(conv_params))
    assert_correct(ch02.check_conv_params(lambda *args: float(conv_params(*args))))


def test_conv_params_agrees_with_keras():
    import keras

    for kernel_size, in_channels, filters, use_bias in ch02.CONV_PARAMS_CASES:
        layer = keras.layers.Conv2D(filters, kernel_size, use_bias=use_bias)
        layer.build((None, 12, 12, in_channels))
        assert layer.count_params() == conv_params(kernel_size, in_channels, filters, use_bias)


def kernel_area(kernel_size):
    return math.prod((kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size)


@pytest.mark.parametrize("function, fragments", [
    (lambda k, c_in, c_out, use_bias=True: kernel_area(k) * c_in * c_out,
     ["conv_params(3, 1, 32, use_bias=True) returned 288, expected 320", "biases"]),
    (lambda k, c_in, c_out, use_bias=True: kernel_area(k) * c_in * c_out + c_out,
     ["use_bias=False", "no biases"]),
    (lambda k, c_in, c_out, use_bias=True: conv_params(k, 1, c_out, use_bias),
     ["conv_params(3, 32, 64, use_bias=True) returned 640", "in_channels"]),
    (lambda k, c_in, c_out, use_bias=True: kernel_area(k) * c_in * c_out + c_in * c_out,
     ["one bias per filter"]),
    (lambda k, c_in, c_out, use_bias=True: kernel_area(k) * c_in * c_out + c_in,
     ["one bias per filter"]),
    (lambda k, c_in, c_out, use_bias=True: (k * k * c_in + 1) * c_out,
     ["TypeError", "(3, 5)"]),
    (lambda k, c_in, c_out, use_bias=True: conv_params(k if isinstance(k, int) else k[0], c_in,
                                                       c_out, use_bias),
     ["returned 292, expected 484", "k_h * k_w"]),
    (lambda k, c_in, c_out, use_bias=True: str(conv_params(k, c_in, c_out, use_bias)),
     ["returned a str"]),
    (lambda k, c_in, c_out: conv_params(k, c_in, c_out), ["TypeError"]),
    (lambda k, c_in, c_out, use_bias=True: None, ["returned None", "placeholder"]),
    (..., ["placeholder"]),
])
def test_conv_params_slips(function, fragments):
    assert_not_yet(ch02.check_conv_params(function), *fragments)


# --- Exercise 4: conv5's output shape for any input size --------------------------------

def conv5_shape(size):
    for _ in ("pool1", "pool2"):
        size = size // 2
    return size, size, 128


def test_conv5_shape_solution():
    assert_correct(ch02.check_conv5_shape(conv5_shape))
    assert_correct(ch02.check_conv5_shape(lambda size: np.array(conv5_shape(size))))
    assert_correct(ch02.check_conv5_shape(lambda size: list(conv5_shape(size))))


def test_conv5_shape_agrees_with_keras():
    from helpers.models import build_course_model

    model = build_course_model()
    for size in ch02.CONV5_SIZES:
        x = np.zeros((1, size, size, 1), np.float32)
        for layer in model.layers:
            x = layer(x)
            if layer.name == "conv5":
                break
        assert tuple(x.shape[1:]) == conv5_shape(size)


@pytest.mark.parametrize("function, fragments", [
    (lambda size: (-(-size // 4), -(-size // 4), 128), ["conv5_shape(30)", "rounded up"]),
    (lambda size: ((size - 4) // 2 - 4) // 2 - 2, ["expected a tuple of 3 ints"]),
    (lambda size: (((size - 4) // 2 - 4) // 2 - 2,) * 2 + (128,), ["padding='same'"]),
    (lambda size: (size // 2, size // 2, 128), ["two 2x2 max poolings"]),
    (lambda size: (size // 8, size // 8, 128), ["not three"]),
    (lambda size: (size // 4, size // 4, 64), ["128 channels"]),
    (lambda size: (size // 4, size // 4), ["2 values, expected 3"]),
    (lambda size: (1, size // 4, size // 4, 128), ["batch axis"]),
    (lambda size: (7, 7, 128), ["conv5_shape(56) returned (7, 7, 128), expected (14, 14, 128)"]),
    (lambda size: "7x7x128", ["expected a tuple"]),
    (lambda: (7, 7, 128), ["TypeError"]),
    (lambda size: None, ["returned None", "placeholder"]),
    (..., ["placeholder"]),
])
def test_conv5_shape_slips(function, fragments):
    assert_not_yet(ch02.check_conv5_shape(function), *fragments)


# --- Exercise 5: where the gradient of a max pooling goes -------------------------------

POOL_ANSWER = np.array([[0, 0, 2, 0], [0, 1, 0, 0], [3, 0, 0, 4], [0, 0, 0, 0]], dtype=float)
UPSTREAM = np.array([[1, 2], [3, 4]], dtype=float)


def pool_gradient_by_tape(pool=None, upstream=UPSTREAM):
    import tensorflow as tf

    pool = pool or (lambda x: tf.nn.max_pool2d(x, 2, 2, "VALID"))
    x = tf.constant(ch02.POOL_GRADIENT_INPUT[None, :, :, None], tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        pooled = pool(x)
    return tape.gradient(pooled, x, output_gradients=upstream[None, :, :, None].astype("float32"))


def test_pool_gradient_answer_is_what_tensorflow_computes():
    np.testing.assert_array_equal(pool_gradient_by_tape().numpy()[0, :, :, 0], POOL_ANSWER)
    np.testing.assert_array_equal(ch02.POOL_GRADIENT_INPUT,
                                  np.maximum([[1, -2, 3, 0], [-1, 5, -3, 2], [4, -6, 0, 1],
                                              [-2, 3, -1, -4]], 0))  # the chapter's map


def test_pool_gradient_solution():
    assert_correct(ch02.check_max_pool_gradient(POOL_ANSWER))
    assert_correct(ch02.check_max_pool_gradient(POOL_ANSWER.astype(int).tolist()))
    assert_correct(ch02.check_max_pool_gradient(pool_gradient_by_tape()))  # (1, 4, 4, 1)


def test_pool_gradient_average_pooling_slip_is_what_tensorflow_computes():
    import tensorflow as tf

    average = pool_gradient_by_tape(lambda x: tf.nn.avg_pool2d(x, 2, 2, "VALID"))
    assert_not_yet(ch02.check_max_pool_gradient(average), "*average* pooling")


def windows_mask(rows, cols):
    mask = np.zeros((4, 4))
    mask[rows, cols] = 1
    return mask


@pytest.mark.parametrize("answer, fragments", [
    (UPSTREAM, ["upstream gradient itself", "*input*, 4x4"]),
    (np.kron(UPSTREAM, np.ones((2, 2))), ["only the largest", "derivative is 0"]),
    ((POOL_ANSWER > 0).astype(float), ["the right places", "chain rule"]),
    (ch02.POOL_GRADIENT_INPUT * (POOL_ANSWER > 0), ["the forward pass"]),
    (np.kron(UPSTREAM.T, np.ones((2, 2))) * (POOL_ANSWER > 0), ["upstream[0, 1] = 2"]),
    (np.kron(UPSTREAM, np.ones((2, 2))) * windows_mask([0, 0, 2, 2], [0, 2, 0, 2]),
     ["top-left corner"]),
    (POOL_ANSWER + windows_mask([3], [1]), ["differs at 1 of 16", "index (3, 1)",
                                            "1 of your nonzero derivatives"]),
    (POOL_ANSWER * 2, ["differs at 4 of 16", "index (0, 2): got 4, expected 2"]),
    (POOL_ANSWER[:3], ["shape (3, 4), expected (4, 4)"]),
    (np.full((4, 4), np.nan), ["NaN"]),
    ([[0, 0, 2, 0], [0, 1]], ["4x4 array of numbers"]),
    ("POOL_ANSWER", ["4x4 array of numbers"]),
    (lambda: POOL_ANSWER, ["4x4 array of numbers"]),
    (None, ["None"]),
    (..., ["placeholder"]),
])
def test_pool_gradient_slips(answer, fragments):
    assert_not_yet(ch02.check_max_pool_gradient(answer), *fragments)


# --- Exercise 6: a separable convolution's parameters ---------------------------------------

def separable_params(kernel_size, in_channels, out_channels):
    return kernel_size * kernel_size * in_channels + in_channels * out_channels


def test_separable_params_solution_and_message():
    result = ch02.check_separable_params(separable_params)
    assert_correct(result)
    assert "K x K weights per input channel" in str(result)


def test_separable_params_agrees_with_keras():
    import keras

    for kernel_size, in_channels, out_channels in ch02.SEPARABLE_PARAMS_CASES:
        layer = keras.layers.SeparableConv2D(out_channels, kernel_size, use_bias=False)
        layer.build((None, 12, 12, in_channels))
        assert layer.count_params() == separable_params(kernel_size, in_channels, out_channels)


@pytest.mark.parametrize("function, fragments", [
    (lambda k, c_in, c_out: k * k * c_in * c_out,
     ["separable_params(3, 32, 16) returned 4608, expected 800", "full convolution"]),
    (lambda k, c_in, c_out: k * k * c_in, ["depthwise part alone"]),
    (lambda k, c_in, c_out: c_in * c_out, ["1x1 convolution alone"]),
    (lambda k, c_in, c_out: k * k + c_in * c_out, ["its own K x K kernel"]),
    (lambda k, c_in, c_out: k * k * c_out + c_in * c_out, ["not x C_out"]),
    (lambda k, c_in, c_out: separable_params(k, c_in, c_out) + c_in + c_out, ["no biases"]),
    (lambda k, c_in, c_out: k * c_in + c_in * c_out, ["K * K weights"]),
    (lambda k, c_in, c_out: separable_params(k, c_in, c_out) + 1, ["returned 801, expected 800"]),
    (lambda k, c_in, c_out: None, ["returned None", "placeholder"]),
    (..., ["placeholder"]),
])
def test_separable_params_slips(function, fragments):
    assert_not_yet(ch02.check_separable_params(function), *fragments)

"""Self-checks for chapter 02 (notebooks/02_pooling_and_activations.ipynb), as the
package describes them; the pooled map and its gradient are answers, the others functions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from helpers.exercises._common import (
    Case,
    CheckResult,
    array_of,
    check_answer,
    check_function,
    compare_arrays,
    returned,
    shown,
)

__all__ = [
    "check_conv5_shape",
    "check_conv_params",
    "check_max_pool",
    "check_max_pool_gradient",
    "check_relu_average_pool",
    "check_separable_params",
]

#: The pre-activation feature map of the exercise "ReLU, then average pooling, by hand".
RELU_POOL_INPUT = np.array(
    [[2.0, -4.0, 1.0, 3.0],
     [-2.0, 0.0, -1.0, 5.0],
     [6.0, -6.0, -3.0, -1.0],
     [1.0, -3.0, 2.0, -2.0]],
)


def _windows(x: np.ndarray, size: int, stride: int) -> np.ndarray:
    """Every ``size`` x ``size`` window of a 2-D array (no padding): (out_h, out_w, size, size)."""
    x = np.asarray(x, dtype=np.float64)
    out_h = (x.shape[0] - size) // stride + 1
    out_w = (x.shape[1] - size) // stride + 1
    rows = np.arange(out_h)[:, None] * stride + np.arange(size)  # (out_h, size)
    cols = np.arange(out_w)[:, None] * stride + np.arange(size)  # (out_w, size)
    return x[rows[:, None, :, None], cols[None, :, None, :]]


def _pool(x: np.ndarray, size: int, stride: int, reduce: Callable = np.max) -> np.ndarray:
    """The reference pooling of a 2-D array (``padding="valid"``)."""
    return reduce(_windows(x, size, stride), axis=(2, 3))


# -- Exercise 1: ReLU, then 2x2 average pooling, by hand ----------------------------------
def check_relu_average_pool(answer: Any) -> CheckResult:
    """Check ReLU followed by 2x2 average pooling (stride 2) of the exercise's 4x4 map.

    Parameters
    ----------
    answer
        A 2x2 array (or nested list) of numbers.
    """
    return check_answer(answer, "answer", [_relu_average_pool_case(RELU_POOL_INPUT)],
                        "ReLU first sets the negative values to 0, then each 2x2 window is "
                        "averaged over all 4 of its values.",
                        read=array_of((2, 2), "the 2x2 array of means, for example with "
                                      "np.array([[...], [...]])"))


def _relu_average_pool_case(x: np.ndarray) -> Case:
    windows = _windows(x, 2, 2)
    positive_sums = np.where(windows > 0, windows, 0).sum(axis=(2, 3))
    positive_counts = np.maximum((windows > 0).sum(axis=(2, 3)), 1)
    return Case((), "", _pool(np.maximum(x, 0), 2, 2, np.mean), [
        (_pool(x, 2, 2, np.mean),
         "these are the means of the raw values: you forgot ReLU's zero. Set the negative "
         "values to 0 first, then average."),
        (np.maximum(_pool(x, 2, 2, np.mean), 0),
         "you applied ReLU after the pooling. With average pooling the order matters: ReLU "
         "comes first, so negative values count as 0 in each mean."),
        (_pool(x, 2, 2, np.max),
         "these are the maxima of the windows (max pooling); this exercise asks for means."),
        (positive_sums / positive_counts,
         "you averaged over the positive values only. The zeros that ReLU leaves count too: "
         "divide each window's sum by 4."),
        (_pool(np.abs(x), 2, 2, np.mean),
         "ReLU sets negative values to 0; it does not flip their sign (that is `abs`)."),
        (np.maximum(x, 0),
         "this is the ReLU output; now average it over each 2x2 window (stride 2)."),
    ])


# -- Exercise 2: max pooling with any window size and stride ------------------------------
def _max_pool_cases() -> list[tuple[np.ndarray, int, int]]:
    rng = np.random.default_rng(2)
    return [
        (rng.normal(size=(4, 4)).round(2), 2, 2),           # the usual: 2x2, stride 2
        (rng.normal(size=(5, 5)).round(2), 3, 2),           # overlapping windows
        (rng.normal(size=(6, 7)).round(2), 2, 1),           # stride 1
        (rng.normal(size=(9, 8)).round(2), 3, 3),           # a leftover column is dropped
        (-rng.uniform(1, 2, size=(7, 7)).round(2), 3, 2),   # all negative
    ]


def check_max_pool(max_pool: Callable) -> CheckResult:
    """Check ``max_pool(x, size, stride)`` on 2-D arrays against the reference.

    Parameters
    ----------
    max_pool
        A function of a 2-D array ``x``, a window side ``size`` and a ``stride`` (ints) that
        returns the max-pooled 2-D array, without padding (Keras' ``padding="valid"``).
    """
    cases = _max_pool_cases()
    return check_function(max_pool, "max_pool", (_max_pool_case(*case) for case in cases),
                          f"max_pool agrees with the reference on {len(cases)} inputs, "
                          "including overlapping windows (size 3, stride 2), stride 1 and "
                          "sizes that leave a remainder.", what="the output")


def _max_pool_case(x: np.ndarray, size: int, stride: int) -> Case:
    expected = _pool(x, size, stride, np.max)
    call = f"max_pool(x, size={size}, stride={stride}) with x of shape {x.shape}"
    formula = ", ".join(f"floor(({n} - {size}) / {stride}) + 1 = {m}"
                        for n, m in zip(x.shape, expected.shape, strict=True))
    shape_hints = [
        (_pool(x, size, size).shape, " It looks as if the window moves by `size` instead of "
                                     "`stride`."),
        (_pool(x, stride, stride).shape, " It looks as if the windows are `stride` wide "
                                         "instead of `size`."),
        (tuple(-(-(n - size) // stride) + 1 for n in x.shape),
         " It looks as if you rounded up: a window that does not fit entirely inside the "
         "input is dropped (no padding)."),
    ]

    def wrong_shape(array):
        hint = next((why for shape, why in shape_hints if array.shape == shape), "")
        if not hint and np.squeeze(array).shape == expected.shape:
            hint = " The same values with extra axes of size 1? Return a 2-D array."
        return (f"{call} returned shape {array.shape}, expected {expected.shape} "
                f"({formula}).{hint}")

    return Case((x, size, stride), call, expected, [
        (lambda array: array.shape != expected.shape, wrong_shape),
        (_pool(x, size, stride, np.min), "your function took the minimum of each window "
                                         "instead of the maximum."),
        (_pool(x, size, stride, np.mean), "your function took the mean of each window "
                                          "(average pooling) instead of the maximum."),
        (_pool(np.maximum(x, 0), size, stride, np.max),
         "your function clipped negative values at 0 (a ReLU): a window whose values are "
         "all negative has a negative maximum."),
        (_pool(x, size, size, np.max), "your function moved the window by `size` instead "
                                       "of `stride`."),
        (_pool(x, stride, stride, np.max), "your function used windows `stride` wide "
                                           "instead of `size`."),
    ])


# -- Exercise 3: the parameters of a convolution layer ------------------------------------
#: ``(kernel_size, in_channels, filters, use_bias)`` of the layers the check tries.
CONV_PARAMS_CASES: tuple[tuple[Any, int, int, bool], ...] = (
    (3, 1, 32, True),         # conv1 of the course model
    (3, 32, 64, True),        # conv3
    (5, 3, 16, True),         # a first layer on RGB images
    ((3, 5), 8, 4, True),     # a rectangular kernel
    (1, 64, 10, True),        # a 1x1 convolution
    (3, 16, 32, False),       # no bias (as before batch normalization)
)


def check_conv_params(conv_params: Callable) -> CheckResult:
    """Check ``conv_params(kernel_size, in_channels, filters, use_bias=True)``.

    Parameters
    ----------
    conv_params
        A function returning the number of trainable parameters of a ``Conv2D`` layer;
        ``kernel_size`` is an int (a square kernel) or a pair ``(k_h, k_w)``.
    """
    return check_function(conv_params, "conv_params",
                          (_conv_params_case(*case) for case in CONV_PARAMS_CASES),
                          f"conv_params is right on {len(CONV_PARAMS_CASES)} layers: square "
                          "and rectangular kernels, 1x1 convolutions, with and without "
                          "biases.")


def _conv_params_case(kernel_size: Any, in_channels: int, filters: int,
                      use_bias: bool) -> Case:
    call = f"conv_params({kernel_size!r}, {in_channels}, {filters}, use_bias={use_bias})"
    k_h, k_w = (kernel_size,) * 2 if np.isscalar(kernel_size) else tuple(kernel_size)
    weights = k_h * k_w * in_channels * filters
    bias = filters if use_bias else 0
    expected = weights + bias

    def slip(wrong, applies, why):
        return lambda array: applies and array == wrong != expected, returned(call, expected, why)

    return Case((kernel_size, in_channels, filters, use_bias), call,
                lambda array: array.ndim == 0 and array == expected, [
        (lambda array: array.ndim != 0,
         lambda array: f"{call} returned {shown(array)}, expected a number."),
        slip(weights, use_bias, "you left out the biases: one per filter."),
        slip(weights + filters, not use_bias, "with use_bias=False the layer has no biases."),
        slip(k_h * k_w * filters + bias, True, "each filter has a k_h x k_w kernel for every "
                                               "input channel: multiply by in_channels."),
        slip(weights + in_channels * filters, use_bias, "there is one bias per filter, not "
                                                        "one per (input channel, filter) "
                                                        "pair."),
        slip(weights + in_channels, use_bias, "there is one bias per filter (output "
                                              "channel), not one per input channel."),
        slip(k_h * in_channels * filters + bias, True, "a kernel has k_h * k_w weights per "
                                                       "input channel."),
        slip(k_h * k_h * in_channels * filters + bias, k_h != k_w,
             "a kernel of size (k_h, k_w) has k_h * k_w weights per input channel, "
             "not k_h * k_h."),
        (lambda array: True, returned(call, expected)),
    ], expects="a number")


# -- Exercise 4: the shape of conv5's output, for any input size --------------------------
CONV5_SIZES = (28, 56, 30, 17, 9, 100)


def _conv5_shape(size: int) -> tuple[int, int, int]:
    side = size // 2 // 2  # 'same' convolutions keep the size; each 2x2 'valid' pool floors
    return side, side, 128


def _ceil_half(n: int) -> int:
    return -(-n // 2)


def _valid_conv5_side(size: int) -> int:
    side = size - 2 - 2            # conv1, conv2 without padding
    side = side // 2 - 2 - 2       # pool1, conv3, conv4
    return side // 2 - 2           # pool2, conv5


def check_conv5_shape(conv5_shape: Callable) -> CheckResult:
    """Check ``conv5_shape(size)``: conv5's output shape for a ``size`` x ``size`` x 1 image.

    Parameters
    ----------
    conv5_shape
        A function of the side ``size`` (int) of a square gray input image that returns the
        shape ``(height, width, channels)`` of the course model's ``conv5`` output, without
        the batch axis.
    """
    return check_function(conv5_shape, "conv5_shape", map(_conv5_shape_case, CONV5_SIZES),
                          f"conv5_shape is right for inputs of side "
                          f"{', '.join(map(str, CONV5_SIZES))}: only the height and width "
                          "change, and global average pooling turns every one of these maps "
                          "into the same 128 numbers.")


def _conv5_shape_case(size: int) -> Case:
    expected = _conv5_shape(size)
    call = f"conv5_shape({size})"

    def side_is(side, hint):
        return (lambda array: array[0] == array[1] and array[2] == 128 and array[0] == side,
                returned(call, expected, hint))

    return Case((size,), call, lambda array: array.shape == (3,) and tuple(array) == expected, [
        (lambda array: array.ndim != 1,
         lambda array: f"{call} returned {shown(array)}; expected a tuple of 3 ints "
                       "(height, width, channels)."),
        (lambda array: len(array) == 4 and tuple(array[1:]) == expected,
         lambda array: f"{call} returned {shown(array)}: leave out the batch axis and give "
                       "(height, width, channels)."),
        (lambda array: len(array) != 3,
         lambda array: f"{call} returned {len(array)} values, expected 3: (height, width, "
                       "channels)."),
        (lambda array: array[0] != array[1], returned(call, expected, "the input is square and "
                                                      "every layer treats height and width "
                                                      "alike.")),
        (lambda array: array[2] != 128, returned(call, expected, "conv5 has 128 filters, so its "
                                                 "output has 128 channels.")),
        side_is(_valid_conv5_side(size),
                "the course model's convolutions use padding='same': they keep the height "
                "and width; only the two poolings shrink them."),
        side_is(_ceil_half(_ceil_half(size)),
                "you rounded up. MaxPooling2D(2) has no padding: an odd row or column left "
                "over is dropped, so each pooling gives floor(n / 2)."),
        side_is(size, "the map goes through two 2x2 max poolings (pool1 and pool2) before "
                      "conv5."),
        side_is(size // 2, "the map goes through two 2x2 max poolings (pool1 and pool2) "
                           "before conv5."),
        side_is(size // 8, "there are two poolings before conv5, not three."),
        (lambda array: True, returned(call, expected)),
    ], expects="a tuple of 3 ints (height, width, channels)")


# -- Exercise 5: where the gradient of a max pooling goes ---------------------------------
#: The chapter's feature map after ReLU (``relu_by_hand``), the input of the pooling.
POOL_GRADIENT_INPUT = np.array(
    [[1.0, 0.0, 3.0, 0.0],
     [0.0, 5.0, 0.0, 2.0],
     [4.0, 0.0, 0.0, 1.0],
     [0.0, 3.0, 0.0, 0.0]],
)
#: The upstream gradient: one value per output of the 2x2 max pooling.
POOL_UPSTREAM = np.array([[1.0, 2.0], [3.0, 4.0]])


def _spread(per_window: np.ndarray, where: np.ndarray) -> np.ndarray:
    """A 4x4 array: each 2x2 window's value from ``per_window``, kept where ``where`` is True."""
    return np.kron(per_window, np.ones((2, 2))) * where


def _window_maxima_mask(x: np.ndarray) -> np.ndarray:
    """True at the largest value of each 2x2 window (the maxima of the exercise are unique)."""
    return x == np.kron(_pool(x, 2, 2, np.max), np.ones((2, 2)))


def check_max_pool_gradient(answer: Any) -> CheckResult:
    """Check the gradient of a 2x2 max pooling with respect to its 4x4 input.

    The input is :data:`POOL_GRADIENT_INPUT` (the chapter's ReLU output), the pooling
    ``MaxPooling2D(2)`` (windows 2x2, stride 2) and the upstream gradient
    :data:`POOL_UPSTREAM`: the answer is d(sum of upstream * pooled) / d input.

    Parameters
    ----------
    answer
        A 4x4 array (or nested list) of numbers; ``(1, 4, 4, 1)``, as ``tape.gradient``
        returns it, is accepted too.
    """
    return check_answer(answer, "answer", [_max_pool_gradient_case(POOL_GRADIENT_INPUT,
                                                                   POOL_UPSTREAM)],
                        "Each window passes its upstream gradient to its largest value only: "
                        "the other three values could change a little without changing the "
                        "maximum, so their derivative is 0. One value in four gets a gradient.",
                        read=array_of((4, 4), "the 4x4 array of derivatives, one per input "
                                      "value, for example with np.array([[...], [...], [...], "
                                      "[...]])"))


def _max_pool_gradient_case(x: np.ndarray, g: np.ndarray) -> Case:
    maxima = _window_maxima_mask(x)
    expected = _spread(g, maxima)
    top_left = np.zeros((4, 4), dtype=bool)
    top_left[::2, ::2] = True
    return Case((), "", expected, [
        (g, "this is the upstream gradient itself. The answer has the shape of the pooling's "
            "*input*, 4x4: one derivative per input value."),
        (_spread(g, True) / 4,
         "this is the gradient of *average* pooling, which shares each window's upstream "
         "gradient equally among its 4 values. A maximum depends on one value only."),
        (_spread(g, True),
         "not every value of a window reaches the output: only the largest. The other three "
         "could change a little and the maximum would not move, so their derivative is 0."),
        (maxima.astype(float),
         "the right places, the largest value of each window. Now apply the chain rule: "
         "multiply each by its window's upstream gradient."),
        (x * maxima,
         "these are the maxima put back where they came from: the forward pass, not the "
         "gradient. The derivative of a maximum with respect to its largest input is 1, times "
         "the window's upstream gradient."),
        (_spread(g.T, maxima),
         "the right places, but window (i, j) gets upstream[i, j]: the top-right window "
         "(columns 2 and 3) gets upstream[0, 1] = 2, the bottom-left one upstream[1, 0] = 3."),
        (_spread(g, top_left),
         "the gradient goes to the largest value of each window, wherever it sits in the "
         "window, not to the window's top-left corner."),
        (lambda array: array.shape == (4, 4) and np.isfinite(array).all()
         and np.count_nonzero(array[~maxima]) > 0,
         lambda array: f"{compare_arrays(array, expected, 'answer')} "
                       f"{np.count_nonzero(array[~maxima])} of your nonzero derivatives are on "
                       "values that are not the largest of their window: those values do not "
                       "reach the output."),
    ])


# -- Exercise 6: a depthwise separable convolution's parameters ---------------------------
#: ``(kernel_size, in_channels, out_channels)``: EfficientNet-Lite0's blocks 1 and 13 (the
#: depthwise convolution and the 1x1 projection after it), and a small layer.
SEPARABLE_PARAMS_CASES: tuple[tuple[int, int, int], ...] = (
    (3, 32, 16),
    (5, 1152, 192),
    (3, 8, 24),
)


def check_separable_params(separable_params: Callable) -> CheckResult:
    """Check ``separable_params(kernel_size, in_channels, out_channels)``.

    Parameters
    ----------
    separable_params
        A function returning the number of weights of a depthwise ``kernel_size x
        kernel_size`` convolution on ``in_channels`` channels followed by a 1x1
        convolution to ``out_channels``, without biases (chapter 02, "The parts of a
        modern convnet").
    """
    return check_function(separable_params, "separable_params",
                          (_separable_params_case(*case) for case in SEPARABLE_PARAMS_CASES),
                          f"separable_params is right on {len(SEPARABLE_PARAMS_CASES)} layers: "
                          "K x K weights per input channel for the depthwise part, plus "
                          "C_in x C_out for the 1x1 convolution that mixes the channels.")


def _separable_params_case(kernel_size: int, in_channels: int, out_channels: int) -> Case:
    call = f"separable_params({kernel_size}, {in_channels}, {out_channels})"
    k, c_in, c_out = kernel_size, in_channels, out_channels
    expected = k * k * c_in + c_in * c_out

    def slip(wrong, why):
        return lambda array: array == wrong != expected, returned(call, expected, why)

    return Case((kernel_size, in_channels, out_channels), call,
                lambda array: array.ndim == 0 and array == expected, [
        (lambda array: array.ndim != 0,
         lambda array: f"{call} returned {shown(array)}, expected a number."),
        slip(k * k * c_in * c_out, "that is a full convolution, one K x K x C_in kernel per "
                                   "output channel; the separable one splits it into a "
                                   "depthwise and a 1x1 convolution."),
        slip(k * k * c_in, "that is the depthwise part alone; add the 1x1 convolution, "
                           "C_in x C_out weights."),
        slip(c_in * c_out, "that is the 1x1 convolution alone; add the depthwise part, one "
                           "K x K kernel per input channel."),
        slip(k * k + c_in * c_out, "a depthwise convolution has its own K x K kernel for "
                                   "every input channel: K x K x C_in weights."),
        slip(k * k * c_out + c_in * c_out, "the depthwise convolution runs on the input "
                                           "channels, before the 1x1 convolution turns them "
                                           "into C_out: K x K x C_in, not x C_out."),
        slip(expected + c_in + c_out, "no biases here: in EfficientNet a batch norm follows "
                                      "each convolution, and its shift does the bias's job."),
        slip(k * c_in + c_in * c_out, "a K x K kernel has K * K weights, not K."),
        (lambda array: True, returned(call, expected)),
    ])

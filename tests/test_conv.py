"""helpers.conv: the NumPy convolution of chapter 01, held to mathematical facts and to TF."""

import numpy as np
import pytest
import tensorflow as tf
from numpy.testing import assert_allclose, assert_array_equal
from scipy.signal import convolve2d, correlate2d

from helpers.conv import conv2d, conv_output_size, same_padding

RNG = np.random.default_rng(0)


def random(*shape):
    return RNG.normal(size=shape).astype(np.float32)


@pytest.mark.parametrize("image_shape, kernel_shape, strides, padding", [
    ((2, 9, 10, 3), (3, 3, 3, 4), 1, "VALID"),
    ((2, 9, 10, 3), (3, 3, 3, 4), 1, "SAME"),
    ((2, 9, 10, 3), (3, 3, 3, 4), 2, "VALID"),
    ((2, 9, 10, 3), (3, 3, 3, 4), 2, "SAME"),
    ((1, 8, 8, 2), (4, 4, 2, 1), 3, "SAME"),         # even kernel: lopsided padding
    ((1, 7, 12, 1), (2, 5, 1, 3), (2, 3), "SAME"),   # rectangular kernel, two strides
    ((3, 5, 5, 1), (5, 5, 1, 2), 1, "VALID"),        # a single window
    ((1, 6, 6, 2), (1, 1, 2, 5), 1, "VALID"),        # 1x1 convolution: a per-pixel matmul
])
def test_agrees_with_tensorflow(image_shape, kernel_shape, strides, padding):
    images, kernel = random(*image_shape), random(*kernel_shape)
    expected = tf.nn.conv2d(images, kernel, strides, padding).numpy()
    got = conv2d(images, kernel, strides, padding.lower())
    assert got.shape == expected.shape
    assert got.dtype == np.float32
    assert_allclose(got, expected, atol=1e-5)


def test_explicit_padding_agrees_with_tensorflow():
    images, kernel = random(1, 6, 7, 2), random(3, 3, 2, 2)
    expected = tf.nn.conv2d(images, kernel, 2, [[0, 0], [2, 2], [1, 1], [0, 0]]).numpy()
    assert_allclose(conv2d(images, kernel, 2, (2, 1)), expected, atol=1e-5)


def test_is_cross_correlation_not_convolution():
    image, kernel = random(6, 7), random(3, 3)
    got = conv2d(image[:, :, None], kernel[:, :, None, None])[:, :, 0]
    assert_allclose(got, correlate2d(image, kernel, mode="valid"), atol=1e-5)
    # A true convolution is the cross-correlation with the kernel rotated by 180 degrees.
    flipped = conv2d(image[:, :, None], np.flip(kernel)[:, :, None, None])[:, :, 0]
    assert_allclose(flipped, convolve2d(image, kernel, mode="valid"), atol=1e-5)


def test_impulse_response_is_the_rotated_kernel():
    impulse = np.zeros((5, 5, 1))
    impulse[2, 2] = 1.0
    kernel = np.arange(1.0, 10.0).reshape(3, 3, 1, 1)
    assert_array_equal(conv2d(impulse, kernel)[:, :, 0], np.rot90(kernel[:, :, 0, 0], 2))


def test_linear_in_images_and_in_kernel():
    a, b = random(2, 6, 6, 3), random(2, 6, 6, 3)
    kernel, other = random(3, 3, 3, 2), random(3, 3, 3, 2)
    assert_allclose(conv2d(2 * a - b, kernel), 2 * conv2d(a, kernel) - conv2d(b, kernel),
                    atol=1e-4)
    assert_allclose(conv2d(a, kernel + other), conv2d(a, kernel) + conv2d(a, other), atol=1e-4)


def test_filters_are_independent_and_channels_add_up():
    images, kernel = random(1, 6, 6, 3), random(3, 3, 3, 4)
    whole = conv2d(images, kernel, padding="same")
    for o in range(4):
        assert_allclose(whole[..., o:o + 1], conv2d(images, kernel[..., o:o + 1], padding="same"),
                        atol=1e-5)
    per_channel = sum(conv2d(images[..., c:c + 1], kernel[:, :, c:c + 1], padding="same")
                      for c in range(3))
    assert_allclose(whole, per_channel, atol=1e-4)


def test_identity_and_shift_kernels():
    image = random(5, 6, 1)
    identity = np.zeros((3, 3, 1, 1))
    identity[1, 1] = 1.0
    assert_allclose(conv2d(image, identity, padding="same"), image)
    shift_right = np.zeros((3, 3, 1, 1))
    shift_right[1, 0] = 1.0
    moved = conv2d(image, shift_right, padding="same")
    assert_allclose(moved[:, 1:], image[:, :-1])
    assert_array_equal(moved[:, 0], 0)


def test_stride_keeps_every_other_window():
    images, kernel = random(1, 9, 9, 1), random(3, 3, 1, 1)
    assert_allclose(conv2d(images, kernel, 2), conv2d(images, kernel)[:, ::2, ::2])


def test_single_image_and_dtypes():
    image, kernel = random(5, 5, 2), random(3, 3, 2, 1)
    assert_allclose(conv2d(image, kernel), conv2d(image[None], kernel)[0])
    assert conv2d(image.astype(np.float64), kernel).dtype == np.float64
    uint8_image = np.ones((4, 4, 1), np.uint8)
    assert conv2d(uint8_image, np.ones((2, 2, 1, 1), np.float32)).dtype == np.float32


@pytest.mark.parametrize("n, k, p, s", [(28, 3, 1, 1), (28, 3, 0, 1), (10, 3, 0, 2),
                                        (7, 2, 0, 2), (224, 7, 3, 2), (9, 4, 1, 3), (5, 5, 0, 1)])
def test_output_size_formula_matches_conv2d(n, k, p, s):
    shape = conv2d(np.zeros((1, n, n + 1, 1)), np.zeros((k, k, 1, 1)), s, p).shape
    assert shape == (1, conv_output_size(n, k, p, s), conv_output_size(n + 1, k, p, s), 1)


@pytest.mark.parametrize("size", [1, 4, 5, 9, 10])
@pytest.mark.parametrize("kernel_size", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("stride", [1, 2, 3])
def test_same_padding_gives_ceil_size(size, kernel_size, stride):
    before, after = same_padding(size, kernel_size, stride)
    assert 0 <= after - before <= 1  # the odd zero goes after, as in TensorFlow
    out = (size + before + after - kernel_size) // stride + 1
    assert out == -(-size // stride)


@pytest.mark.parametrize("kwargs, message", [
    (dict(images=np.zeros((4, 4))), "images must be"),
    (dict(kernel=np.zeros((3, 3))), "kernel must be"),
    (dict(kernel=np.zeros((3, 3, 2, 1))), "input channels"),
    (dict(padding="full"), "padding must be one of"),
    (dict(padding=-1), "padding must be non-negative"),
    (dict(strides=0), "strides must be positive"),
    (dict(kernel=np.zeros((7, 7, 1, 1))), "larger than the padded images"),
])
def test_bad_arguments_say_what_was_expected(kwargs, message):
    arguments = dict(images=np.zeros((1, 5, 5, 1)), kernel=np.zeros((3, 3, 1, 1)))
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        conv2d(**arguments)


@pytest.mark.parametrize("kwargs, message", [
    (dict(padding=(1, 2, 3)), "padding must be an int or a pair"),
    (dict(strides=1.5), "strides must be an int"),
])
def test_arguments_of_the_wrong_type_are_type_errors(kwargs, message):
    arguments = dict(images=np.zeros((1, 5, 5, 1)), kernel=np.zeros((3, 3, 1, 1)))
    with pytest.raises(TypeError, match=message):
        conv2d(**arguments, **kwargs)


def test_output_size_of_a_kernel_larger_than_the_input():
    with pytest.raises(ValueError, match="larger than the padded input"):
        conv_output_size(2, 5)


@pytest.mark.parametrize("name, value", [("strides", True), ("strides", (1, False)),
                                         ("padding", np.True_)])
def test_a_bool_is_not_a_stride_or_a_padding(name, value):
    # Python counts True as 1: without this check strides=True ran as strides=(1, 1).
    arguments = dict(images=np.zeros((1, 5, 5, 1)), kernel=np.zeros((3, 3, 1, 1)))
    with pytest.raises(TypeError, match=f"{name} must be an int or a pair of ints"):
        conv2d(**arguments, **{name: value})

"""Self-checks for chapter 01 (notebooks/01_convolution.ipynb), as the package describes
them; the kernel and the gradient are answers, the others functions."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from helpers.conv import conv2d
from helpers.exercises._common import Case, CheckResult, array_of, check_answer, check_numbers, same

__all__ = [
    "check_conv_output_size",
    "check_pixel_gradient",
    "check_receptive_field",
    "check_shift_kernel",
]


# -- Exercise 1: the output size of a convolution -----------------------------------------
#: ``(n, k, p, s)``: input size, kernel size, padding on each side, stride.
OUTPUT_SIZE_CASES: tuple[tuple[int, int, int, int], ...] = (
    (28, 3, 1, 1),     # a 'same' 3x3 convolution of the course model
    (28, 3, 0, 1),     # 'valid'
    (32, 5, 2, 1),     # 'same' with a 5x5 kernel
    (224, 7, 3, 2),    # the first layer of ResNet
    (10, 3, 0, 2),     # the last window does not fit: the size is rounded down
    (7, 2, 0, 2),      # 2x2 pooling of an odd size
    (9, 4, 1, 3),
    (5, 5, 0, 1),      # one window only
)


def _output_size(n: int, k: int, p: int, s: int) -> int:
    return (n + 2 * p - k) // s + 1


def check_conv_output_size(conv_output_size: Callable) -> CheckResult:
    """Check ``conv_output_size(n, k, p, s)``: the output size along one axis.

    Parameters
    ----------
    conv_output_size
        A function of the input size ``n``, the kernel size ``k``, the zero padding ``p``
        on each side and the stride ``s`` (ints) that returns the output size (an int).
    """
    return check_numbers(
        conv_output_size, "conv_output_size", OUTPUT_SIZE_CASES,
        lambda args: "n={}, k={}, p={}, s={}".format(*args), _output_size,
        f"conv_output_size is right on {len(OUTPUT_SIZE_CASES)} layers, including strides "
        "that leave part of the input uncovered (the size is rounded down).", [
            (lambda n, k, p, s: -(-(n + 2 * p - k) // s) + 1,
             "You rounded up: a window that sticks out past the padding is dropped, so round "
             "down with `//`."),
            (lambda n, k, p, s: (n + 2 * p - k) // s,
             "You forgot the `+ 1`: the first window sits at position 0, and (n + 2p - k) // s "
             "counts only the steps after it."),
            (lambda n, k, p, s: (n + p - k) // s + 1,
             "p zeros are added on *each* side, so the padded input is n + 2p long."),
            (lambda n, k, p, s: (n - k) // s + 1,
             "You left out the padding: the padded input is n + 2p long."),
            (lambda n, k, p, s: n + 2 * p - k + 1,
             "You left out the stride: the window moves s pixels at a time, so divide the "
             "distance it can travel, n + 2p - k, by s."),
            (lambda n, k, p, s: -(-n // s),
             "That is ceil(n / s), the size TensorFlow's padding='same' gives; it depends on "
             "p and k in general."),
            (lambda n, k, p, s: (n + 2 * p - k + 1) // s,
             "Divide only the distance the window travels, n + 2p - k, by s, then add 1 for the "
             "first window."),
        ], odd=lambda number: not number.is_integer(),
        odd_hint="which is not a whole number of windows. A window that does not fit entirely "
                 "inside the padded input is dropped: round the division down with `//`.")


# -- Exercise 2: a kernel that moves the image one pixel to the right ---------------------
def _shift_test_image() -> np.ndarray:
    return np.random.default_rng(1).uniform(0.1, 1.0, size=(6, 7))


def _shifted(image: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """``image`` moved down by ``rows`` and right by ``cols`` (|shift| <= 1), zeros enter."""
    padded = np.pad(image, 1)
    height, width = image.shape
    return padded[1 - rows:1 - rows + height, 1 - cols:1 - cols + width]


_DIRECTIONS = {(-1, 0): "up", (1, 0): "down", (0, -1): "to the left", (0, 1): "to the right",
               (-1, -1): "up and to the left", (-1, 1): "up and to the right",
               (1, -1): "down and to the left", (1, 1): "down and to the right"}


def check_shift_kernel(kernel: Any) -> CheckResult:
    """Check a 3x3 kernel that moves an image one pixel to the right.

    Parameters
    ----------
    kernel
        A ``(3, 3)`` array (or ``(3, 3, 1, 1)``, as ``conv2d`` takes it) such that
        ``conv2d(image, kernel, padding="same")`` moves ``image`` one pixel to the right:
        ``output[i, j] = image[i, j - 1]``, with zeros in the first column.
    """
    image = _shift_test_image()
    slips = [(image, "your kernel leaves the image where it is: the weight at the center, "
                     "kernel[1, 1], copies each pixel onto itself.")]
    for (rows, cols), direction in _DIRECTIONS.items():
        slips += _shift_slips(image, rows, cols, direction)
    slips.append((lambda output: True,
                  "conv2d(image, kernel, padding='same') with your kernel does not move the "
                  "test image: each output pixel is a mix of several input pixels. Moving an "
                  "image copies one neighbor, so the kernel needs a single 1 and eight 0s."))
    return check_answer(kernel, "kernel", [Case((), "", _shifted(image, 0, 1), slips)],
                        "output[i, j] = 1 * image[i, j - 1]: the single 1 at kernel[1, 0] "
                        "copies the pixel on the left. conv2d does not flip the kernel; a true "
                        "convolution would, and the same kernel would move the image left.",
                        read=lambda kernel, name: _filtered(kernel, name, image))


def _filtered(kernel: Any, name: str, image: np.ndarray) -> tuple[Any, str | None]:
    """What the check judges: ``conv2d(image, kernel, padding="same")``."""
    array, problem = array_of((3, 3), "a 3x3 array, for example `np.array([[0, 0, 0], "
                              "[0, 1, 0], [0, 0, 0]])` (which leaves the image as it is), "
                              "and change it")(kernel, name)
    if problem:
        return None, problem
    if array.shape != (3, 3):
        return None, (f"kernel has shape {array.shape}; expected a 3x3 kernel, shape (3, 3) "
                      "(or (3, 3, 1, 1) for one input and one output channel).")
    if not np.all(np.isfinite(array)):
        return None, "kernel contains NaN or infinity."
    return conv2d(image[:, :, None], array[:, :, None, None], padding="same")[:, :, 0], None


def _shift_slips(image: np.ndarray, rows: int, cols: int, direction: str) -> list:
    """A kernel that moves the image the wrong way: exactly, or with a weight other than 1."""
    shifted = _shifted(image, rows, cols)
    hint = f"your kernel moves the image {direction}."
    if (rows, cols) == (0, -1):
        hint += (" conv2d does not flip the kernel (it cross-correlates): output[i, j] = sum "
                 "of kernel[a, b] * image[i + a - 1, j + b - 1], so kernel[1, 2] copies the "
                 "pixel on the *right* of each position. (A true, flipped convolution would "
                 "move the image right with this kernel.)")
    elif rows != 0:
        hint += " The first axis of the kernel is rows (up and down), the second columns."

    def scale(output):
        return output[2, 3] / image[2 - rows, 3 - cols]

    return [(shifted, hint),
            (lambda output: abs(scale(output)) > 1e-6 and same(output, scale(output) * shifted),
             lambda output: f"your kernel moves the image {direction} but also multiplies its "
                            f"brightness by {scale(output):.3g}: to copy a pixel, its weight "
                            "must be 1 and every other weight 0.")]


# -- Exercise 3: the receptive field of a stack of layers ---------------------------------
#: Stacks of ``(kernel_size, stride)`` layers, first layer first.
COURSE_MODEL_LAYERS: tuple[tuple[int, int], ...] = (
    (3, 1), (3, 1), (2, 2), (3, 1), (3, 1), (2, 2), (3, 1),  # conv1 ... conv5
)
RECEPTIVE_FIELD_CASES: tuple[tuple[tuple[int, int], ...], ...] = (
    ((3, 1),),
    ((3, 1), (3, 1)),
    ((3, 1), (3, 1), (3, 1)),
    ((5, 1), (3, 1)),
    ((3, 1), (2, 2), (3, 1)),
    COURSE_MODEL_LAYERS,
    ((7, 2), (3, 2), (3, 1)),
    ((3, 2), (3, 2), (3, 2), (3, 2)),
)


def _receptive_field(layers: Sequence[tuple[int, int]]) -> int:
    size, jump = 1, 1  # jump: distance in input pixels between two neighbors of this layer
    for kernel_size, stride in layers:
        size += (kernel_size - 1) * jump
        jump *= stride
    return size


def _receptive_field_own_stride(layers: Sequence[tuple[int, int]]) -> int:
    size, jump = 1, 1
    for kernel_size, stride in layers:
        jump *= stride
        size += (kernel_size - 1) * jump
    return size


def check_receptive_field(receptive_field: Callable) -> CheckResult:
    """Check ``receptive_field(layers)``: the receptive field of a stack of layers.

    Parameters
    ----------
    receptive_field
        A function of a list of ``(kernel_size, stride)`` pairs, one per layer, first
        layer first, that returns the side of the square of input pixels one output pixel
        of the last layer depends on (an int).
    """
    side = _receptive_field(COURSE_MODEL_LAYERS)
    return check_numbers(
        receptive_field, "receptive_field", [(list(layers),) for layers in RECEPTIVE_FIELD_CASES],
        lambda args: repr(list(args[0])), _receptive_field,
        f"receptive_field is right on {len(RECEPTIVE_FIELD_CASES)} stacks. The course model's "
        f"conv5 sees {side}x{side} pixels of its 28x28 input.", [
            (lambda layers: 1 + sum(k - 1 for k, _ in layers),
             "You left out the strides: after a layer with stride 2, neighboring pixels are 2 "
             "input pixels apart, so each later layer's k - 1 extra pixels count double."),
            (_receptive_field_own_stride,
             "A layer's own stride does not widen its window; it only spaces out the layers after "
             "it. Multiply k - 1 by the product of the strides of the layers *before* it."),
            (lambda layers: _receptive_field(layers[::-1]),
             "The layers are listed from the input up: the strides of the first layers spread "
             "out the windows of the later ones, not the other way round."),
            (lambda layers: sum(k for k, _ in layers),
             "Two stacked windows overlap: each layer adds k - 1 pixels, not k, to the 1 pixel "
             "you start from."),
            (lambda layers: math.prod(k for k, _ in layers),
             "Receptive fields grow by addition (k - 1 more pixels per layer), not "
             "multiplication."),
        ])


# -- Exercise 4: predict the gradient of one output pixel ---------------------------------
#: The exercise's kernel, a 4x4 input, padding 'same', stride 1.
GRADIENT_KERNEL = np.arange(1.0, 10.0).reshape(3, 3)
GRADIENT_INPUT_SIZE = 4
GRADIENT_PIXEL = (0, 1)


def _pixel_gradient(pixel: tuple[int, int], kernel: np.ndarray = GRADIENT_KERNEL,
                    size: int = GRADIENT_INPUT_SIZE) -> np.ndarray:
    """d output[pixel] / d input for a 'same' correlation: the kernel placed on the window."""
    padded = np.zeros((size + 2, size + 2))
    row, col = pixel
    padded[row:row + 3, col:col + 3] = kernel
    return padded[1:-1, 1:-1]


#: The kernel read in another order, and what that order is: a true convolution flips both
#: axes; a learner may also flip one axis only, or read the kernel by columns.
_KERNEL_SLIPS = (
    (lambda kernel: kernel[::-1, ::-1],
     "you used the kernel rotated by 180 degrees (flipped up-down and left-right): that is "
     "the gradient of a true convolution, x * F. conv2d, like tf.nn.conv2d, cross-correlates "
     "(x ⋆ F, no flip): output[0, 1] = sum of kernel[a, b] * x[a - 1, b], so the weight on "
     "x[r, c] is kernel[r + 1, c], the kernel as it stands"),
    (lambda kernel: kernel[:, ::-1],
     "you flipped the kernel left-right (each row of it is reversed), but a true convolution "
     "flips both axes, and conv2d flips neither: the weight on x[r, c] is kernel[r + 1, c]"),
    (lambda kernel: kernel[::-1],
     "you flipped the kernel up-down (its rows are in reverse order), but a true convolution "
     "flips both axes, and conv2d flips neither: the weight on x[r, c] is kernel[r + 1, c]"),
    (lambda kernel: kernel.T,
     "you transposed the kernel (read it by columns): kernel[a, b] is row a, column b, and "
     "the weight on x[r, c] is kernel[r + 1, c]"),
    (lambda kernel: kernel[::-1, ::-1].T,
     "you transposed the kernel and rotated it by 180 degrees: neither happens in conv2d, "
     "where the weight on x[r, c] is kernel[r + 1, c]"),
)

#: Where the kernel was laid: (the answer's array for a kernel, what is wrong, or None).
_PLACEMENT_SLIPS = (
    (lambda kernel: _pixel_gradient(GRADIENT_PIXEL, kernel), None),
    (lambda kernel: np.pad(kernel[:2], ((0, 2), (0, 1))),
     "you laid the kernel one row too low: with padding 'same' the window of output[0, 1] "
     "starts one row above the image, in the zero padding, so the image's row 0 meets the "
     "kernel's middle row, not its top row"),
    (lambda kernel: np.pad(kernel, ((0, 1), (1, 0))),
     "you laid the kernel where padding 'valid' would put the window of output[0, 1]; with 'same' "
     "the window is centered on input pixel (0, 1), so it reaches one row above the image"),
    (lambda kernel: _pixel_gradient(GRADIENT_PIXEL[::-1], kernel),
     "you laid the kernel on the window of output[1, 0]; the pixel is (row 0, column 1)"),
)


def _gradient_slips() -> list[tuple[np.ndarray, str]]:
    """The typical wrong answers to exercise 4, each with what it gets wrong."""
    all_outputs = conv2d(np.pad(np.ones((4, 4, 1)), ((1, 1), (1, 1), (0, 0))),
                         GRADIENT_KERNEL[::-1, ::-1, None, None])[:, :, 0]
    slips = [
        (_pixel_gradient(GRADIENT_PIXEL, np.ones((3, 3))),
         "the nonzero places are right (the receptive field of output[0, 1]), but each pixel "
         "is multiplied by a kernel weight: that weight is its derivative."),
        (all_outputs,
         "this is the gradient of the sum of all 16 outputs (an upstream gradient of ones); "
         "the exercise asks for one output pixel, (0, 1)."),
    ]
    for place, where in _PLACEMENT_SLIPS:
        if where is not None:  # the kernel as it stands, in the wrong place
            slips.append((place(GRADIENT_KERNEL), f"{where}."))
        for flip, how in _KERNEL_SLIPS:
            hint = f"{how}." if where is None else f"two slips: {how}; and {where}."
            slips.append((place(flip(GRADIENT_KERNEL)), hint))
    return slips


def check_pixel_gradient(answer: Any) -> CheckResult:
    """Check the gradient of output pixel ``(0, 1)`` with respect to the 4x4 input.

    The convolution is ``conv2d(x, kernel, padding="same")`` with the 3x3 kernel
    ``[[1, 2, 3], [4, 5, 6], [7, 8, 9]]``, one input and one output channel, stride 1.

    Parameters
    ----------
    answer
        A ``(4, 4)`` array (or ``(1, 4, 4, 1)``, as ``tape.gradient`` returns it): the
        derivative of ``output[0, 1]`` with respect to every input pixel.
    """
    return check_answer(answer, "answer", [Case((), "", _pixel_gradient(GRADIENT_PIXEL),
                                                 _gradient_slips())],
                        "output[0, 1] = 4 x[0, 0] + 5 x[0, 1] + 6 x[0, 2] + 7 x[1, 0] + "
                        "8 x[1, 1] + 9 x[1, 2] (the kernel's top row meets the zero padding), "
                        "so its gradient is the kernel itself, not flipped, laid on the "
                        "receptive field and cut off at the border.",
                        read=array_of((4, 4), "the 4x4 array of derivatives, for example with "
                                      "np.array([[...], [...], [...], [...]])"))

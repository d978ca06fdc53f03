"""Self-checks for chapter 03 (notebooks/03_feature_maps.ipynb), as the package describes
them; they run the learner's function on small synthetic batches of feature maps
``(N, h, w, C)``, as they come out of a ReLU, so that no model has to be loaded."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from helpers.exercises._common import Case, CheckResult, check_function, returned, same

__all__ = [
    "check_class_top_channels",
    "check_global_average_pool",
    "check_input_window",
    "check_zero_fraction",
]


def feature_map_batches() -> list[np.ndarray]:
    """Small batches ``(N, h, w, C)`` of non-negative maps, as after a ReLU.

    In the first batch N, h, w and C all differ, so that a result averaged over the wrong
    axes has a shape that tells which ones. The second has a channel that is zero
    everywhere (a "dead" channel) and one that is never zero.
    """
    rng = np.random.default_rng(3)
    batches = [np.maximum(rng.normal(size=shape), 0).round(3).astype(np.float32)
               for shape in [(2, 5, 4, 3), (5, 7, 7, 8), (1, 3, 5, 2), (3, 6, 6, 4)]]
    batches[1][..., 2] = 0.0
    batches[1][..., 5] = np.abs(batches[1][..., 5]) + 0.25
    return batches


# -- Exercise 1: the fraction of zeros in each channel ------------------------------------
def check_zero_fraction(zero_fraction: Callable) -> CheckResult:
    """Check ``zero_fraction(maps)``: the fraction of zero values in each channel.

    Parameters
    ----------
    zero_fraction
        A function of a batch of feature maps ``(N, h, w, C)`` that returns an array of
        shape ``(C,)``: for each channel, the fraction of its ``N * h * w`` values that are
        exactly 0 (chapter 03, "How sparse are the maps?").
    """
    batches = feature_map_batches()
    return check_function(zero_fraction, "zero_fraction", map(_zero_fraction_case, batches),
                          f"zero_fraction is right on {len(batches)} batches, including a "
                          "channel that is zero everywhere (1.0: a 'dead' channel) and one "
                          "that is never zero (0.0).")


def _zero_fraction_case(maps: np.ndarray) -> Case:
    expected = (maps == 0).mean(axis=(0, 1, 2))
    call = f"zero_fraction(maps) with maps of shape {maps.shape}"
    zeros = maps == 0
    per_value = maps.shape[0] * maps.shape[1] * maps.shape[2]
    return Case((maps,), call, expected, [
        (1 - expected, "this is the fraction of non-zero (active) values; the exercise "
                       "asks for the fraction of zeros."),
        (zeros.sum(axis=(0, 1, 2)), "these are counts of zeros; divide each by the number of "
                                    f"values in a channel, N * h * w = {per_value}."),
        (zeros.mean(), "this is one fraction for the whole batch; the exercise asks for "
                       "one per channel: average over the image, height and width axes "
                       "(0, 1, 2) and keep the channel axis."),
        (zeros.mean(axis=(1, 2, 3)), "this is one fraction per image (axis 0); the "
                                     "exercise asks for one per channel (the last axis)."),
        (zeros.mean(axis=(1, 2)), "this has one fraction per image and channel; average "
                                  "over the images (axis 0) too."),
        (zeros.mean(axis=3), "this averaged over the channels; keep the channel axis and "
                             "average over the other three."),
        ((maps < 0).mean(axis=(0, 1, 2)), "this counts negative values, and after a ReLU "
                                          "there are none: count the values equal to 0."),
        (lambda array: (array.shape == expected.shape and np.all(np.isfinite(array))
                        and (array.min() < 0 or array.max() > 1)),
         lambda array: f"{call} returned values from {array.min():.3g} to "
                       f"{array.max():.3g}; fractions lie between 0 and 1."),
    ])


# -- Exercise 2: global average pooling by hand -------------------------------------------
def check_global_average_pool(global_average_pool: Callable) -> CheckResult:
    """Check ``global_average_pool(maps)``: each channel of each image replaced by its mean.

    Parameters
    ----------
    global_average_pool
        A function of a batch of feature maps ``(N, h, w, C)`` that returns ``(N, C)``, what
        ``keras.layers.GlobalAveragePooling2D`` returns (chapter 03, "From maps to 128
        numbers").
    """
    batches = feature_map_batches()
    return check_function(global_average_pool, "global_average_pool",
                          map(_global_average_pool_case, batches),
                          f"global_average_pool is right on {len(batches)} batches, square "
                          "and rectangular maps: one mean per image and channel, shape (N, "
                          "C), as keras.layers.GlobalAveragePooling2D computes it.")


def _global_average_pool_case(maps: np.ndarray) -> Case:
    height, width = maps.shape[1:3]
    return Case((maps,), f"global_average_pool(maps) with maps of shape {maps.shape}",
                maps.mean(axis=(1, 2)), [
        (maps.sum(axis=(1, 2)), f"these are sums over each map; divide by its "
                                f"h * w = {height * width} values to get the mean."),
        (maps.max(axis=(1, 2)), "these are the maxima of the maps (global max pooling); "
                                "global average pooling takes their means."),
        (maps.mean(axis=3), "this averaged over the channels, giving one map per image; "
                            "average over the height and width (axes 1 and 2) instead."),
        *([(maps.mean(axis=(0, 1, 2)), "this averaged over the images too: keep one row "
                                       "per image, shape (N, C).")]
          if len(maps) > 1 else []),
        (maps.mean(axis=1), "this averaged over the height only; average over the width "
                            "(axis 2) as well."),
        (maps.mean(axis=2), "this averaged over the width only; average over the height "
                            "(axis 1) as well."),
        (maps.mean(), "this is one number for the whole batch; global average pooling "
                      "gives one per image and channel, shape (N, C)."),
        (maps.mean(axis=(1, 2)).T, "this is transposed: the result has one row per image "
                                   "and one column per channel, (N, C)."),
    ])


# -- Exercise 3: the channels that fire most for a class ----------------------------------
def top_channel_cases() -> list[tuple[np.ndarray, np.ndarray, int, int]]:
    """``(maps, labels, class_index, k)`` cases whose channel means are all distinct.

    Channels are boosted for some classes only, so that ranking the channels over all
    images, or by their maximum, gives another answer than ranking them over one class.
    """
    rng = np.random.default_rng(33)
    labels = np.array([0, 1, 2, 1, 0, 2, 2, 1, 0, 1, 2, 0])
    maps = np.maximum(rng.normal(size=(len(labels), 3, 3, 10)), 0)
    boost = rng.uniform(0, 2, size=(3, 10))  # class -> how much each channel fires
    maps = (maps * (1 + boost[labels][:, None, None, :])).round(3).astype(np.float32)
    return [(maps, labels, 1, 3), (maps, labels, 2, 5), (maps, labels, 0, 1)]


def _ranking(means: np.ndarray, k: int) -> np.ndarray:
    return np.argsort(-means, kind="stable")[:k]


def check_class_top_channels(top_channels: Callable) -> CheckResult:
    """Check ``top_channels(maps, labels, class_index, k)``.

    Parameters
    ----------
    top_channels
        A function of a batch of feature maps ``(N, h, w, C)``, their class ``labels``
        ``(N,)``, a ``class_index`` and a number ``k`` that returns the indices of the
        ``k`` channels whose mean activation over the images of that class is highest,
        strongest first (chapter 03, "Deeper maps are more class-specific").
    """
    cases = top_channel_cases()
    return check_function(top_channels, "top_channels",
                          (_top_channels_case(*case) for case in cases),
                          f"top_channels is right on {len(cases)} cases: the mean over the "
                          "class's images and positions, ranked strongest first.")


def _top_channels_case(maps: np.ndarray, labels: np.ndarray, class_index: int,
                       k: int) -> Case:
    in_class = maps[labels == class_index]
    means = in_class.mean(axis=(0, 1, 2))
    expected = _ranking(means, k)
    call = (f"top_channels(maps, labels, class_index={class_index}, k={k}) with maps of "
            f"shape {maps.shape}")
    ascending = np.argsort(means, kind="stable")

    def indices(array):  # a single index counts as a list of one
        return np.atleast_1d(array)

    def ranks(wrong, hint):
        return (lambda array: same(indices(array), wrong),
                lambda array: f"{call} returned {indices(array).astype(int).tolist()}: {hint}")

    return Case((maps, labels, class_index, k), call,
                lambda array: indices(array).tolist() == expected.tolist(), [
        (lambda array: array.ndim == 2 and array.shape[0] == len(in_class),
         lambda array: f"{call} returned one ranking per image, shape {array.shape}; "
                       "average over the images of the class first, then rank the channels "
                       f"once: {k} indices."),
        (lambda array: indices(array).ndim != 1,
         lambda array: f"{call} returned an array of shape {array.shape}; expected {k} "
                       f"channel indices, shape ({k},)."),
        (lambda array: not np.all(np.isfinite(array)),
         lambda array: f"{call} returned NaN or infinity; expected {k} channel indices."),
        (lambda array: same(indices(array), means[expected]),
         lambda array: f"{call} returned the mean activations of the top channels; return "
                       "their indices (np.argsort gives indices)."),
        (lambda array: not np.all(array == np.round(array)),
         lambda array: f"{call} returned {np.round(indices(array), 3).tolist()}; expected "
                       f"{k} channel indices (whole numbers from 0 to C - 1)."),
        (lambda array: len(indices(array)) != k,
         lambda array: f"{call} returned {len(indices(array))} channels, expected k = {k}."),
        ranks(_ranking(maps.mean(axis=(0, 1, 2)), k),
              "these are the top channels over all the images; keep only the images of the "
              "class, maps[labels == class_index], before averaging."),
        ranks(ascending[:k], "these are the weakest channels: sort by decreasing mean "
                             "(np.argsort(-means) or np.argsort(means)[::-1])."),
        ranks(ascending[-k:], "the right channels, but weakest first: put the strongest "
                              "first (reverse the order)."),
        ranks(_ranking(in_class.max(axis=(0, 1, 2)), k),
              "this ranks the channels by their largest value; rank them by their mean "
              "activation over the class's images and positions."),
        (lambda array: sorted(indices(array).tolist()) == sorted(expected.tolist()),
         lambda array: f"{call} returned {indices(array).astype(int).tolist()}: the right "
                       f"channels in the wrong order; expected {expected.tolist()}, "
                       "strongest first."),
        (lambda array: True,
         lambda array: f"{call} returned {indices(array).astype(int).tolist()}, expected "
                       f"{expected.tolist()}: the channels with the highest mean activation "
                       f"over the {len(in_class)} images of class {class_index}, strongest "
                       "first."),
    ], expects=f"a list or array of {k} channel indices (ints)")


# -- Exercise 4: which input rows one position of a deep map sees -------------------------
#: The course model from the input up, as ``(K, S, P)``: kernel size, stride, and the rows
#: of zero padding above the input ('same' 3x3 convolutions: P = 1; 2x2 max pooling: P = 0).
COURSE_MODEL_STACK: tuple[tuple[int, int, int], ...] = (
    (3, 1, 1), (3, 1, 1), (2, 2, 0), (3, 1, 1), (3, 1, 1), (2, 2, 0), (3, 1, 1))

#: ``(layers, row)`` cases, simplest first: one convolution, two, the course model cut after
#: pool1, conv3 and conv5 (a middle row, the top row, the bottom row), and a strided stack
#: with a 5x5 kernel.
WINDOW_CASES: tuple[tuple[tuple[tuple[int, int, int], ...], int], ...] = (
    (COURSE_MODEL_STACK[:1], 0),
    (COURSE_MODEL_STACK[:2], 5),
    (COURSE_MODEL_STACK[:3], 4),
    (COURSE_MODEL_STACK[:4], 7),
    (COURSE_MODEL_STACK, 3),
    (COURSE_MODEL_STACK, 0),
    (COURSE_MODEL_STACK, 6),
    (((3, 2, 0), (3, 1, 1), (5, 2, 1)), 2),
)


def input_window(layers, row: int) -> tuple[int, int]:
    """The first and last input rows that ``row`` of the last layer's output depends on.

    Walking back from the last layer to the input: output rows ``first`` to ``last`` of a
    layer ``(K, S, P)`` are computed from its input rows ``S * first - P`` to
    ``S * last - P + K - 1``. Rows outside ``0 .. n - 1`` are the zero padding.
    """
    first = last = row
    for kernel, stride, padding in reversed(list(layers)):
        first, last = stride * first - padding, stride * last - padding + kernel - 1
    return first, last


def _window_kernel_not_minus_one(layers, row):
    first = last = row
    for kernel, stride, padding in reversed(list(layers)):
        first, last = stride * first - padding, stride * last - padding + kernel
    return first, last


def _window_centered(layers, row):
    """A window of the right width, centered on ``jump * row``, as a learner may guess."""
    jump = int(np.prod([s for _, s, _ in layers]))
    first, last = input_window(layers, row)
    width = last - first + 1
    return jump * row - (width - 1) // 2, jump * row + width // 2


def check_input_window(input_window_function: Callable) -> CheckResult:
    """Check ``input_window(layers, row)``: the input rows one row of a deep map sees.

    Parameters
    ----------
    input_window_function
        A function of a stack of layers, listed from the input up as ``(K, S, P)`` triples
        (kernel size, stride, rows of zero padding above the input), and a row of the last
        layer's output, that returns ``(first, last)``: the first and last input rows that
        row depends on, counting rows of the padding too (negative, or past the image's
        last row). The same holds for columns. Chapter 03, "How far one position sees".
    """
    return check_function(input_window_function, "input_window",
                          (_input_window_case(*case) for case in WINDOW_CASES),
                          _input_window_success())


def _input_window_case(layers, row: int) -> Case:
    call = f"input_window({list(layers)}, row={row})"
    expected = input_window(layers, row)
    width = expected[1] - expected[0] + 1

    def walked(slip, hint):
        return (lambda array: tuple(array.tolist()) == tuple(slip(layers, row)),
                returned(call, expected, hint))

    return Case((list(layers), row), call,
                lambda array: array.shape == (2,) and tuple(array.tolist()) == expected, [
        (lambda array: array.ndim == 0 and array == width,
         lambda array: f"{call} returned {array:g}, the window's width (its receptive "
                       "field); return where the window is: its first and last input rows, "
                       "(first, last), with last - first + 1 equal to that width."),
        (lambda array: array.ndim == 0,
         lambda array: f"{call} returned one number, {array:g}; expected two row numbers, "
                       "(first, last)."),
        (lambda array: array.shape != (2,),
         lambda array: f"{call} returned an array of shape {array.shape}; expected two row "
                       "numbers, (first, last)."),
        (lambda array: not np.all(np.isfinite(array)),
         lambda array: f"{call} returned NaN or infinity; expected two row numbers."),
        (lambda array: tuple(array.tolist()) == expected[::-1],
         returned(call, expected, "The first row comes first: (first, last), first <= last.")),
        walked(lambda layers, row: input_window([(k, s, 0) for k, s, _ in layers], row),
               "The padding is missing: a layer with P rows of zeros above its input computes "
               "its output row i from input rows S i - P to S i - P + K - 1, so the window "
               "starts P rows higher, in the padding for the top rows."),
        walked(lambda layers, row: input_window(list(layers)[::-1], row),
               "The layers were walked from the input up. Start from the last layer's row and "
               "go back toward the input: it is the later layers' rows that the earlier "
               "layers' strides spread apart."),
        walked(lambda layers, row: input_window([(k, 1, p) for k, _, p in layers], row),
               "The strides are missing: going back through a layer with stride S multiplies "
               "the row numbers by S (output row i starts at input row S i - P), so after two "
               "2x2 poolings neighboring rows of conv5 are 4 input rows apart."),
        walked(_window_kernel_not_minus_one,
               "The window is one row too long at each layer: a K x K window covers K rows, "
               "so it ends K - 1 rows after its first row, not K."),
        walked(_window_centered,
               "The width is right but the window is centered on jump x row, and windows are "
               "not centered: a 2x2 pooling's output row i covers its input rows 2i and "
               "2i + 1, not 2i - 1 to 2i + 1. Walk the window back layer by layer."),
        (lambda array: True,
         returned(call, expected, "Walk back from the last layer: a layer (K, S, P) computes "
                  "its output rows first..last from its input rows S first - P to S last - P + "
                  "K - 1.")),
    ], expects="two row numbers, (first, last)")


def _input_window_success() -> str:
    course = [input_window(COURSE_MODEL_STACK, row) for row in (0, 3)]
    return (f"input_window is right on {len(WINDOW_CASES)} stacks and rows. Row 3, the "
            f"middle of conv5's 7 rows, sees input rows {course[1][0]} to {course[1][1]} "
            f"of 28; row 0 sees rows {course[0][0]} to {course[0][1]}, the first "
            f"{-course[0][0]} of them in the zero padding.")

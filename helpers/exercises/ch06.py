"""Self-checks for chapter 06 (notebooks/06_class_activation_maps.ipynb), as the package
describes them; they run the learner's function on small synthetic arrays (gradients,
feature maps, heatmaps), so that no model has to be loaded."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from helpers.exercises._common import Case, CheckResult, check_function

__all__ = [
    "check_cam_combination",
    "check_grad_cam_plus_plus_weights",
    "check_grad_cam_weights",
    "check_normalize_cam",
]


# -- Exercise 1: Grad-CAM's channel weights from the gradients ----------------------------
def gradient_batches() -> list[np.ndarray]:
    """Small batches of gradients ``(N, h, w, C)``, signed, as d(score)/dA comes out.

    In the first batch N, h, w and C all differ, so that a result reduced over the wrong
    axes has a shape that tells which ones; the maps are not square in the third.
    """
    rng = np.random.default_rng(6)
    return [rng.normal(size=shape).round(3).astype(np.float32)
            for shape in [(2, 5, 4, 3), (3, 7, 7, 6), (1, 3, 5, 2)]]


def check_grad_cam_weights(grad_cam_weights: Callable) -> CheckResult:
    """Check ``grad_cam_weights(gradients)``: one weight per image and channel.

    Parameters
    ----------
    grad_cam_weights
        A function of the gradients of a class score with respect to a layer's output,
        ``(N, h, w, C)``, that returns Grad-CAM's channel weights ``(N, C)``: the mean of
        each channel's gradient over the ``h * w`` positions (chapter 06, "Grad-CAM by
        hand").
    """
    batches = gradient_batches()
    return check_function(grad_cam_weights, "grad_cam_weights",
                          map(_grad_cam_weights_case, batches),
                          f"grad_cam_weights is right on {len(batches)} batches: the signed "
                          "mean of each channel's gradient over the positions, one weight per "
                          "image and channel, (N, C).")


def _grad_cam_weights_case(gradients: np.ndarray) -> Case:
    height, width = gradients.shape[1:3]
    return Case((gradients,),
                f"grad_cam_weights(gradients) with gradients of shape {gradients.shape}",
                gradients.mean(axis=(1, 2)), [
        (gradients.sum(axis=(1, 2)), "these are sums over the positions; Grad-CAM averages "
                                     f"them: divide by h * w = {height * width}."),
        (gradients.max(axis=(1, 2)), "these are the largest gradients of each channel; "
                                     "Grad-CAM takes their mean over the positions."),
        (np.abs(gradients).mean(axis=(1, 2)), "this averaged the absolute values; keep "
                                              "the sign: a channel whose gradient is "
                                              "negative counts against the class."),
        (np.maximum(gradients, 0).mean(axis=(1, 2)),
         "this averaged only the positive gradients; Grad-CAM averages the signed gradient (its "
         "ReLU comes after the weighted sum)."),
        (gradients.mean(axis=3), "this averaged over the channels, giving one map per image; "
                                 "average over the height and width (axes 1 and 2) instead."),
        *([(gradients.mean(axis=(0, 1, 2)), "this averaged over the images too: keep one "
                                            "row of weights per image, shape (N, C).")]
          if len(gradients) > 1 else []),
        (gradients.mean(axis=1), "this averaged over the height only; average over the "
                                 "width (axis 2) as well."),
        (gradients.mean(axis=2), "this averaged over the width only; average over the "
                                 "height (axis 1) as well."),
        (gradients.mean(axis=(1, 2)).T, "this is transposed: one row per image and one "
                                        "column per channel, (N, C)."),
    ])


# -- Exercise 2: weigh the channels, sum, then ReLU ---------------------------------------
def combination_cases() -> list[tuple[np.ndarray, np.ndarray]]:
    """``(activations, weights)`` pairs: maps ``(N, h, w, C)`` after a ReLU, weights ``(N, C)``.

    The weights have both signs, so that a ReLU applied to each weighted channel before
    the sum, or no ReLU at all, gives another map; and they differ from image to image.
    """
    rng = np.random.default_rng(60)
    cases = []
    for shape in [(2, 5, 4, 3), (3, 7, 7, 6), (1, 3, 5, 2)]:
        activations = np.maximum(rng.normal(size=shape), 0).round(3).astype(np.float32)
        weights = rng.normal(size=(shape[0], shape[3])).round(3).astype(np.float32)
        weights[0, 0], weights[0, -1] = -abs(weights[0, 0]), abs(weights[0, -1])
        cases.append((activations, weights))
    return cases


def check_cam_combination(combine: Callable) -> CheckResult:
    """Check ``combine(activations, weights)``: ``ReLU(sum_k w_k A^k)`` for each image.

    Parameters
    ----------
    combine
        A function of a layer's output ``(N, h, w, C)`` and channel weights ``(N, C)``
        (one row per image) that returns the coarse maps ``(N, h, w)``: each channel times
        its weight, summed over the channels, then the positive part (chapter 06, "CAM by
        hand").
    """
    cases = combination_cases()
    return check_function(combine, "combine", (_combination_case(*case) for case in cases),
                          f"combine is right on {len(cases)} cases: each image's channels "
                          "weighed by its own weights and summed, negative evidence "
                          "cancelling positive evidence before the ReLU.")


def _combination_case(activations: np.ndarray, weights: np.ndarray) -> Case:
    weighted = activations * weights[:, None, None, :]
    total = weighted.sum(axis=3)
    channels = activations.shape[3]
    return Case((activations, weights),
                f"combine(activations, weights) with activations of shape "
                f"{activations.shape} and weights of shape {weights.shape}",
                np.maximum(total, 0), [
        (total, "this is the weighted sum without the ReLU: keep only its positive part "
                "(np.maximum(..., 0)), the evidence for the class."),
        (np.maximum(weighted, 0).sum(axis=3),
         "this applied the ReLU to each weighted channel before the sum, so negative evidence "
         "never cancels positive evidence; sum over the channels first, then ReLU."),
        (np.abs(total), "this took the absolute value of the sum; the ReLU sets the "
                        "negative positions to 0 instead."),
        (np.maximum(weighted.mean(axis=3), 0), "this averaged over the channels; CAM sums them "
                                               f"(the mean is {channels} times smaller)."),
        (np.maximum(np.einsum("nhwk,k->nhw", activations, weights[0]), 0),
         "this used the first image's weights for every image; each image has its own "
         "row of weights, weights[n]."),
        (np.maximum(activations.sum(axis=3), 0), "this ignored the weights: multiply each "
                                                 "channel by its weight before summing."),
        (np.maximum(weighted, 0), "this kept the channel axis, shape (N, h, w, C); sum "
                                  "the weighted channels over the last axis."),
    ])


# -- Exercise 3: scale heatmaps to [0, 1], safely -----------------------------------------
def heatmap_batches() -> list[np.ndarray]:
    """Batches of non-negative heatmaps ``(N, H, W)`` with very different maxima.

    The second map of the first batch is all zero (a class with no positive evidence), and
    in the second batch no map reaches down to 0, so that min-max scaling differs from
    dividing by the maximum.
    """
    rng = np.random.default_rng(66)
    first = np.maximum(rng.normal(size=(3, 6, 5)), 0) * np.array([1.0, 0.0, 40.0])[:, None, None]
    second = rng.uniform(0.5, 2.0, size=(2, 4, 4)) * np.array([1.0, 8.0])[:, None, None]
    return [first.round(3).astype(np.float32), second.round(3).astype(np.float32)]


def _by_max(heatmaps: np.ndarray) -> np.ndarray:
    peak = heatmaps.max(axis=(1, 2), keepdims=True)
    return np.divide(heatmaps, peak, out=np.zeros_like(heatmaps), where=peak > 0)


def check_normalize_cam(normalize: Callable) -> CheckResult:
    """Check ``normalize(heatmaps)``: each heatmap divided by its own maximum, safely.

    Parameters
    ----------
    normalize
        A function of non-negative heatmaps ``(N, H, W)`` that returns the same shape, each
        map divided by its own maximum, so that its peak is 1 and 0 stays 0; an all-zero
        map stays all zero instead of becoming NaN (chapter 06, "Overlays").
    """
    batches = heatmap_batches()
    return check_function(normalize, "normalize", map(_normalize_case, batches),
                          f"normalize is right on {len(batches)} batches: each map divided by "
                          "its own maximum, its peak at 1, and an all-zero map left at 0 (no "
                          "NaN).")


def _normalize_case(heatmaps: np.ndarray) -> Case:
    expected = _by_max(heatmaps)
    zero_maps = [int(n) for n in np.flatnonzero(heatmaps.max(axis=(1, 2)) == 0)]
    low = heatmaps.min(axis=(1, 2), keepdims=True)
    spread = heatmaps.max(axis=(1, 2), keepdims=True) - low
    min_max = np.divide(heatmaps - low, spread, out=np.zeros_like(heatmaps), where=spread > 0)
    total = heatmaps.sum(axis=(1, 2), keepdims=True)
    return Case((heatmaps,), f"normalize(heatmaps) with heatmaps of shape {heatmaps.shape}",
                expected, [
        *([(lambda array: (array.shape == expected.shape
                           and not np.all(np.isfinite(array[zero_maps]))),
            f"heatmap {zero_maps[0]} is all zero, and 0 / 0 gave NaN; return zeros for a "
            "map whose maximum is 0 (np.divide with `where=`, or a test on the maximum).")]
          if zero_maps else []),
        (min_max, "this is min-max scaling, which moves each map's smallest value to 0; "
                  "divide by the maximum only, so that a weak but positive region keeps "
                  "its share of the evidence."),
        (heatmaps / heatmaps.max(), "this divided every map by the largest value of the "
                                    "whole batch; divide each map by its own maximum "
                                    "(max over axes 1 and 2, keepdims=True)."),
        (np.divide(heatmaps, total, out=np.zeros_like(heatmaps), where=total > 0),
         "this divided each map by its sum, so the values add up to 1; divide by the "
         "maximum, so that the peak is 1."),
    ])


# -- Exercise 4: Grad-CAM++'s weights in closed form, behind global average pooling -------
def gap_head_cases() -> list[tuple[np.ndarray, np.ndarray]]:
    """``(activations, dense_weights)`` pairs: maps ``(N, h, w, C)`` after a ReLU and each
    image's row of Dense weights ``(N, C)``, as behind global average pooling.

    The numbers of positions differ from case to case (so that a forgotten ``1 / Z`` shows),
    the weights have both signs (so that a forgotten ReLU shows), and ``|w * mean(A)|``
    reaches about 1 (so that the denominator's second term matters). In the last case one
    channel has ``w * mean(A) = -3``, below -2: there a ReLU applied after the division
    turns the negative weight into a positive one (both numerator and denominator are
    negative), so the place of the ReLU shows. No product is exactly -2, so no wrong answer
    divides by zero.
    """
    rng = np.random.default_rng(606)
    cases = []
    for shape in [(2, 4, 5, 3), (3, 7, 7, 6), (1, 3, 3, 4)]:
        activations = np.maximum(rng.normal(0.4, 1.0, size=shape), 0).round(3)
        weights = rng.uniform(-1.5, 1.5, size=(shape[0], shape[3])).round(3)
        weights[0, 0], weights[0, -1] = -abs(weights[0, 0]), abs(weights[0, -1]) + 0.5
        cases.append((activations.astype(np.float32), weights.astype(np.float32)))
    activations = np.maximum(rng.normal(0.4, 1.0, size=(2, 3, 4, 5)), 0).round(3)
    activations[0, ..., 1] = 1.5  # mean(A) = 1.5, and w = -2: w * mean(A) = -3
    weights = rng.uniform(-1.0, 1.0, size=(2, 5)).round(3)
    weights[0, 1], weights[0, 2] = -2.0, 1.2
    cases.append((activations.astype(np.float32), weights.astype(np.float32)))
    return cases


def gap_grad_cam_plus_plus_weights(activations: np.ndarray,
                                   dense_weights: np.ndarray) -> np.ndarray:
    """The closed form: ``ReLU(w) / (2 + ReLU(w) * mean(A))``, one weight per channel."""
    positive = np.maximum(np.asarray(dense_weights, dtype=np.float64), 0)
    mean_activation = np.asarray(activations, dtype=np.float64).mean(axis=(1, 2))
    return positive / (2 + positive * mean_activation)


def check_grad_cam_plus_plus_weights(grad_cam_plus_plus_weights: Callable) -> CheckResult:
    """Check ``grad_cam_plus_plus_weights(activations, dense_weights)`` on a GAP head.

    Parameters
    ----------
    grad_cam_plus_plus_weights
        A function of a layer's output ``A`` ``(N, h, w, C)`` (followed by global average
        pooling and a Dense layer) and each image's row of Dense weights ``w^c`` ``(N, C)``
        that returns Grad-CAM++'s channel weights ``(N, C)`` as
        :func:`helpers.explain.grad_cam_plus_plus` computes them (without the paper's
        factor ``exp(y^c)``), in closed form, with no gradient (chapter 06, exercise
        "Grad-CAM++ on a global-average-pooling head").
    """
    cases = gap_head_cases()
    return check_function(grad_cam_plus_plus_weights, "grad_cam_plus_plus_weights",
                          (_gap_head_case(*case) for case in cases),
                          f"grad_cam_plus_plus_weights is right on {len(cases)} cases: behind "
                          "global average pooling a = 1 / (2 + w mean(A)) at every position, "
                          "so Grad-CAM++ weighs channel k by ReLU(w_k) / (2 + w_k mean(A^k)).")


@np.errstate(all="ignore")  # a wrong answer may divide by 0: its hint says so
def _gap_head_case(activations: np.ndarray, weights: np.ndarray) -> Case:
    positions = activations.shape[1] * activations.shape[2]
    expected = gap_grad_cam_plus_plus_weights(activations, weights)
    w = weights.astype(np.float64)
    positive = np.maximum(w, 0)
    mean = activations.astype(np.float64).mean(axis=(1, 2))
    total = activations.astype(np.float64).sum(axis=(1, 2))
    gradient = w / positions
    return Case((activations, weights),
                f"grad_cam_plus_plus_weights(activations, dense_weights) with activations of "
                f"shape {activations.shape} and dense_weights of shape {weights.shape}",
                expected, [
        (w / (2 + w * mean), "channels whose Dense weight is negative came out nonzero; "
                             "Grad-CAM++ sums ReLU(G), and a negative gradient "
                             "counts 0: those channels weigh nothing."),
        (np.maximum(w / (2 + w * mean), 0),
         "the ReLU came after the division: where w_k mean(A^k) is below -2 the denominator "
         "is negative too, and a channel with a negative weight comes out positive. The ReLU "
         "belongs to the gradient, ReLU(G) with G = w / Z, before anything is divided."),
        (positive / (2 / positions + positive * mean),
         f"this took the gradient dy/dA_ij to be w; global average pooling divides "
         f"by the Z = h * w = {positions} positions, so it is w / Z."),
        (expected / positions, "this is one position's term a * ReLU(G); the weight sums it "
                               f"over all Z = {positions} positions (here they are all equal)."),
        (positive / (2 + positive * mean / positions),
         "the denominator has the sum of the activations over the positions, "
         "sum_ab A_ab, not their mean: with G = w / Z, G * sum_ab A_ab = w * mean(A)."),
        (positive / (2 + positive * total),
         f"this used w itself for one G and w / Z for another; with G = w / Z "
         f"everywhere, G * sum_ab A_ab = w * mean(A) (Z = {positions})."),
        (gradient, "these are Grad-CAM's weights, the mean gradient w / Z; "
                   "Grad-CAM++ weighs each positive gradient with its coefficient "
                   "a = G^2 / (2 G^2 + sum_ab A_ab G^3)."),
        (np.maximum(gradient, 0), "this is Grad-CAM's weight w / Z with a ReLU; the coefficient "
                                  "a = 1 / (2 + G sum_ab A_ab) is missing."),
        (w, "these are the Dense weights, CAM's; Grad-CAM++ weighs each positive "
            "gradient with its coefficient a."),
        (positive, "this is ReLU(w), without the coefficient a = 1 / (2 + G sum_ab A_ab)."),
        (positive / 2, "the denominator's second term, sum_ab A_ab G^3, is missing: "
                       "that is where the activations enter."),
        (1 / (2 + w * mean), "these are the coefficients a themselves; the weight is "
                             "the sum over the positions of a * ReLU(G)."),
        (np.where(w > 0, 1 / (2 + w * mean), 0.0),
         "these are the coefficients a of the positive channels; the weight is the "
         "sum over the positions of a * ReLU(G), with G = w / Z."),
        (positive * mean / (2 + positive * mean),
         "this multiplied by the mean activation; the weight is sum_ij a * ReLU(G), "
         "and the activations enter only through the denominator of a."),
        (lambda array: array.shape == activations.shape,
         "this kept the positions, shape (N, h, w, C); the weight sums over them (axes 1 "
         "and 2), one per image and channel, (N, C)."),
    ])

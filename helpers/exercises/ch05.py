"""Self-checks for chapter 05 (notebooks/05_saliency.ipynb).

Each check takes the learner's function and returns a
:class:`~helpers.exercises._common.CheckResult`: ``Correct! ...``, or ``Not yet: ...`` with
what is off. A check never raises, whatever it is given. The checks run in NumPy on small
synthetic gradients, images and scores (linear and quadratic), whose answers are known in
closed form, so that no model has to be loaded.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from helpers.exercises._common import (
    CheckResult,
    as_numbers,
    call_safely,
    failed,
    judge,
    not_attempted,
    passed,
)

__all__ = [
    "check_integrated_gradients",
    "check_path_points",
    "check_saliency_from_gradients",
]


def gradient_batches() -> list[np.ndarray]:
    """Small signed gradient batches ``(N, H, W, C)``.

    In the first, N, H, W and C all differ, so that a reduction over the wrong axis shows in
    the shape; its channels disagree in sign, so that the maximum of the signed values, the
    sum and the maximum of the absolute values all differ. The last has one channel.
    """
    rng = np.random.default_rng(5)
    batches = [rng.normal(size=shape).round(3).astype(np.float32)
               for shape in [(2, 5, 4, 3), (3, 6, 6, 3), (2, 4, 7, 1)]]
    # A pixel whose strongest derivative is negative: max of signed values misses it.
    batches[0][0, 0, 0] = [-3.0, 0.5, 0.25]
    return batches


def image_pairs() -> list[tuple[np.ndarray, np.ndarray]]:
    """``(image, baseline)`` pairs ``(H, W, C)``: a black baseline and a non-zero one."""
    rng = np.random.default_rng(7)
    image = rng.uniform(size=(4, 5, 2)).round(3).astype(np.float32)
    other = rng.uniform(size=(3, 3, 1)).round(3).astype(np.float32)
    gray = np.full_like(other, 0.5)
    return [(image, np.zeros_like(image)), (other, gray)]


# ---------------------------------------------------------------------------------------
# Exercise 1: from gradients to a saliency map
# ---------------------------------------------------------------------------------------

def check_saliency_from_gradients(saliency_from_gradients: Callable) -> CheckResult:
    """Check ``saliency_from_gradients(gradients)``: Simonyan et al.'s reduction.

    Parameters
    ----------
    saliency_from_gradients
        A function of input gradients ``(N, H, W, C)`` that returns the saliency maps
        ``(N, H, W)``: the absolute value, then the maximum over the channels (chapter 05,
        "The gradient of a class score").
    """
    if saliency_from_gradients is Ellipsis:
        return not_attempted("saliency_from_gradients")
    batches = gradient_batches()
    for gradients in batches:
        expected = np.abs(gradients).max(axis=-1)
        call = f"saliency_from_gradients(gradients) with gradients of shape {gradients.shape}"
        got, error = call_safely(saliency_from_gradients, gradients.copy(),
                                 name="saliency_from_gradients")
        if error:
            return failed(error)
        slips = [
            (gradients.max(axis=-1), "this is the maximum of the signed gradients; take the "
                                     "absolute value first, so that a strong negative "
                                     "derivative counts too."),
            (np.abs(gradients.max(axis=-1)), "this is the absolute value of the largest "
                                             "signed gradient; take the absolute values "
                                             "first, then the maximum."),
            (np.abs(gradients).sum(axis=-1), "this sums the absolute gradients over the "
                                             "channels; the saliency map takes their "
                                             "maximum."),
            (np.abs(gradients.sum(axis=-1)), "this is the absolute value of the sum over "
                                             "the channels; take the maximum of the absolute "
                                             "values."),
            (np.abs(gradients).mean(axis=-1), "this averages the absolute gradients over the "
                                              "channels; the saliency map takes their "
                                              "maximum."),
            ((gradients ** 2).max(axis=-1), "this squares the gradients; the saliency map "
                                            "uses their absolute value."),
            (np.abs(gradients).max(axis=-1, keepdims=True), "this keeps the channel axis of "
                                                            "size 1; the maps have shape "
                                                            "(N, H, W)."),
            (np.abs(gradients).max(axis=0), "this took the maximum over the images (axis "
                                            "0); take it over the channels (the last axis)."),
        ]
        verdict = judge(call, got, expected, slips)
        if verdict is not None:
            return verdict
        array = as_numbers(got)
        if array is not None and array.min() < 0:
            return failed(f"{call} has negative values; a saliency map is non-negative.")
    return passed(f"saliency_from_gradients is right on {len(batches)} batches: the absolute "
                  "value first, then the maximum over the channels, shape (N, H, W).")


# ---------------------------------------------------------------------------------------
# Exercise 2: the points of the path (midpoint rule)
# ---------------------------------------------------------------------------------------

def _path(image: np.ndarray, baseline: np.ndarray, alphas: np.ndarray) -> np.ndarray:
    return baseline[None] + np.asarray(alphas)[:, None, None, None] * (image - baseline)[None]


def check_path_points(path_points: Callable) -> CheckResult:
    """Check ``path_points(image, baseline, steps)``: the midpoint rule's path points.

    Parameters
    ----------
    path_points
        A function that returns ``(steps, H, W, C)``: ``baseline + alpha * (image -
        baseline)`` for ``alpha = (k + 0.5) / steps``, ``k = 0, ..., steps - 1``, in order
        of increasing alpha (chapter 05, "Integrated Gradients").
    """
    if path_points is Ellipsis:
        return not_attempted("path_points")
    cases = [(image, baseline, steps) for image, baseline in image_pairs() for steps in (4, 7)]
    cases.append((image_pairs()[1][0], image_pairs()[1][1], 1))
    for image, baseline, steps in cases:
        midpoints = (np.arange(steps) + 0.5) / steps
        expected = _path(image, baseline, midpoints)
        call = (f"path_points(image, baseline, steps={steps}) with images of shape "
                f"{image.shape} and a {'black' if not baseline.any() else 'gray'} baseline")
        got, error = call_safely(path_points, image.copy(), baseline.copy(), steps,
                                 name="path_points")
        if error:
            return failed(error)
        slips = [
            (_path(image, baseline, np.arange(steps) / steps),
             "these are the left end points alpha = k / steps (starting at the baseline); "
             "the midpoint rule uses alpha = (k + 0.5) / steps."),
            (_path(image, baseline, np.arange(1, steps + 1) / steps),
             "these are the right end points alpha = (k + 1) / steps (ending at the image); "
             "the midpoint rule uses alpha = (k + 0.5) / steps."),
            (_path(image, baseline, midpoints[::-1]),
             "the points run from the image to the baseline; order them by increasing "
             "alpha, from the baseline towards the image."),
            (midpoints[:, None, None, None] * image[None],
             "these are alpha * image: the path starts at the baseline, baseline + alpha * "
             "(image - baseline)."),
            (_path(baseline, image, midpoints),
             "image and baseline are swapped: the path is baseline + alpha * (image - "
             "baseline)."),
        ]
        if steps > 1:
            slips.append((_path(image, baseline, np.linspace(0, 1, steps)),
                          "np.linspace(0, 1, steps) includes both end points; the midpoint "
                          "rule uses the middles of steps equal intervals, (k + 0.5) / "
                          "steps."))
        verdict = judge(call, got, expected, slips)
        if verdict is not None:
            return verdict
    return passed(f"path_points is right on {len(cases)} cases: steps points from the "
                  "baseline towards the image at alpha = (k + 0.5) / steps, shape "
                  "(steps, H, W, C).")


# ---------------------------------------------------------------------------------------
# Exercise 3: Integrated Gradients for any function
# ---------------------------------------------------------------------------------------

def _score_functions(shape: tuple[int, ...]):
    """A linear, a quadratic and a cubic score on images of ``shape``: their gradients."""
    rng = np.random.default_rng(11)
    weights = rng.normal(size=shape).round(2)
    curvature = rng.uniform(0.5, 2.0, size=shape).round(2)
    return [("a linear score", lambda points: np.broadcast_to(weights, np.shape(points)).copy()),
            ("a quadratic score", lambda points: 2 * curvature * np.asarray(points)),
            ("a cubic score", lambda points: 3 * curvature * np.asarray(points) ** 2)]


def _path_mean(gradient: Callable, image: np.ndarray, baseline: np.ndarray,
               alphas: np.ndarray) -> np.ndarray:
    """The mean of ``gradient`` over the path points at ``alphas``."""
    return gradient(_path(image, baseline, alphas)).mean(axis=0)


def check_integrated_gradients(integrated_gradients: Callable) -> CheckResult:
    """Check ``integrated_gradients(gradient, image, baseline, steps)``.

    Parameters
    ----------
    integrated_gradients
        A function that returns the attributions ``(H, W, C)``: ``(image - baseline)``
        times the mean of ``gradient(points)`` over the midpoint rule's ``steps`` points of
        the straight path (chapter 05, "Integrated Gradients"). ``gradient`` maps a batch
        of points ``(steps, H, W, C)`` to the gradients of the score, same shape.

    Notes
    -----
    The check uses a linear score ``sum(w * x)``, whose attributions are ``(x - x') * w``
    for any number of steps, and a quadratic one ``sum(a * x**2)``, for which the midpoint
    rule is exact too: ``(x - x') * a * (x + x')``. Both add up to ``y(x) - y(x')``. A
    cubic score ``sum(a * x**3)`` tells the midpoint rule from other rules whose points are
    symmetric about the middle of the path (``np.linspace(0, 1, steps)``); there the check
    compares with the midpoint rule's own value.
    """
    if integrated_gradients is Ellipsis:
        return not_attempted("integrated_gradients")
    count = 0
    for image, baseline in image_pairs():
        for name, gradient in _score_functions(image.shape):
            for steps in (5, 16):
                count += 1
                difference = image - baseline
                midpoints = (np.arange(steps) + 0.5) / steps

                def path_mean(alphas, gradient=gradient, image=image, baseline=baseline):
                    return _path_mean(gradient, image, baseline, alphas)

                expected = difference * path_mean(midpoints)
                call = (f"integrated_gradients(gradient, image, baseline, steps={steps}) for "
                        f"{name} on images of shape {image.shape}")
                got, error = call_safely(integrated_gradients, gradient, image.copy(),
                                         baseline.copy(), steps, name="integrated_gradients")
                if error:
                    return failed(error)
                slips = [
                    (path_mean(midpoints), "this is the mean gradient along the path; "
                                           "multiply it by (image - baseline)."),
                    (difference * gradient(_path(image, baseline, midpoints)).sum(axis=0),
                     f"this sums the {steps} gradients; the integral over [0, 1] is their "
                     f"mean (the sum divided by steps)."),
                    (difference * gradient(image[None])[0],
                     "this is the gradient at the image times (image - baseline) "
                     "(gradient x input); average the gradients along the path instead."),
                    (difference * path_mean(np.arange(steps) / steps),
                     "this uses the left end points alpha = k / steps; the midpoint rule "
                     "uses alpha = (k + 0.5) / steps."),
                    (difference * path_mean(np.arange(1, steps + 1) / steps),
                     "this uses the right end points alpha = (k + 1) / steps; the midpoint "
                     "rule uses alpha = (k + 0.5) / steps."),
                    (image * path_mean(midpoints),
                     "this multiplies by the image, not by (image - baseline): with a "
                     "non-black baseline they differ."),
                ]
                if steps > 1:
                    slips.append((difference * path_mean(np.linspace(0, 1, steps)),
                                  "this uses np.linspace(0, 1, steps), both end points; the "
                                  "midpoint rule uses alpha = (k + 0.5) / steps."))
                verdict = judge(call, got, expected, slips)
                if verdict is not None:
                    return verdict
    return passed(f"integrated_gradients is right on {count} cases, linear, quadratic and "
                  "cubic scores, black and gray baselines: (image - baseline) times the mean "
                  "gradient at the midpoints of the path.")

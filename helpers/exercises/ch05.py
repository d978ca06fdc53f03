"""Self-checks for chapter 05 (notebooks/05_saliency.ipynb), as the package describes them.

They run in NumPy on small synthetic gradients, images and scores (linear and quadratic),
whose answers are known in closed form, so that no model has to be loaded; only
:func:`check_fooling_image` runs the course model, on the image the learner changed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from helpers.exercises._common import (
    Case,
    CheckResult,
    as_numbers,
    check_answer,
    check_function,
    compare_arrays,
    same,
)

__all__ = [
    "check_fooling_image",
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


# -- Exercise 1: from gradients to a saliency map -----------------------------------------
def check_saliency_from_gradients(saliency_from_gradients: Callable) -> CheckResult:
    """Check ``saliency_from_gradients(gradients)``: Simonyan et al.'s reduction.

    Parameters
    ----------
    saliency_from_gradients
        A function of input gradients ``(N, H, W, C)`` that returns the saliency maps
        ``(N, H, W)``: the absolute value, then the maximum over the channels (chapter 05,
        "The gradient of a class score").
    """
    batches = gradient_batches()
    return check_function(saliency_from_gradients, "saliency_from_gradients",
                          map(_saliency_case, batches),
                          f"saliency_from_gradients is right on {len(batches)} batches: the "
                          "absolute value first, then the maximum over the channels, shape "
                          "(N, H, W).")


def _saliency_case(gradients: np.ndarray) -> Case:
    expected = np.abs(gradients).max(axis=-1)
    call = f"saliency_from_gradients(gradients) with gradients of shape {gradients.shape}"
    return Case((gradients,), call, lambda array: same(array, expected) and array.min() >= 0, [
        (lambda array: same(array, expected),
         lambda array: f"{call} has negative values; a saliency map is non-negative."),
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
        (np.abs(gradients).max(axis=-1, keepdims=True),
         "this keeps the channel axis of size 1; the maps have shape (N, H, W)."),
        (np.abs(gradients).max(axis=0), "this took the maximum over the images (axis "
                                        "0); take it over the channels (the last axis)."),
        (lambda array: True,
         lambda array: f"{call}: {compare_arrays(array, expected, 'the result')}"),
    ])


# -- Exercise 2: the points of the path (midpoint rule) -----------------------------------
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
    cases = [(image, baseline, steps) for image, baseline in image_pairs() for steps in (4, 7)]
    cases.append((image_pairs()[1][0], image_pairs()[1][1], 1))
    return check_function(path_points, "path_points",
                          (_path_points_case(*case) for case in cases),
                          f"path_points is right on {len(cases)} cases: steps points from the "
                          "baseline towards the image at alpha = (k + 0.5) / steps, shape "
                          "(steps, H, W, C).")


def _path_points_case(image: np.ndarray, baseline: np.ndarray, steps: int) -> Case:
    midpoints = (np.arange(steps) + 0.5) / steps
    return Case((image, baseline, steps),
                f"path_points(image, baseline, steps={steps}) with images of shape "
                f"{image.shape} and a {'black' if not baseline.any() else 'gray'} baseline",
                _path(image, baseline, midpoints), [
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
         "image and baseline are swapped: the path is baseline + alpha * (image - baseline)."),
        *([(_path(image, baseline, np.linspace(0, 1, steps)),
            "np.linspace(0, 1, steps) includes both end points; the midpoint rule uses the "
            "middles of steps equal intervals, (k + 0.5) / steps.")] if steps > 1 else []),
    ])


# -- Exercise 3: Integrated Gradients for any function ------------------------------------
def _score_functions(shape: tuple[int, ...]):
    """A linear, a quadratic and a cubic score on images of ``shape``: their gradients."""
    rng = np.random.default_rng(11)
    weights = rng.normal(size=shape).round(2)
    curvature = rng.uniform(0.5, 2.0, size=shape).round(2)
    return [("a linear score", lambda points: np.broadcast_to(weights, np.shape(points)).copy()),
            ("a quadratic score", lambda points: 2 * curvature * np.asarray(points)),
            ("a cubic score", lambda points: 3 * curvature * np.asarray(points) ** 2)]


#: The quadrature rules the check accepts: (name, alphas and weights for ``steps``).
def _rule(name: str, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """The points ``alphas`` in [0, 1] and the weights (summing to 1) of a rule."""
    if name == "midpoint":
        return (np.arange(steps) + 0.5) / steps, np.full(steps, 1 / steps)
    intervals = steps if name == "trapezoid, steps intervals" else steps - 1
    weights = np.ones(intervals + 1)
    weights[[0, -1]] = 0.5
    return np.linspace(0, 1, intervals + 1), weights / intervals


RULES = ("midpoint", "trapezoid, steps intervals", "trapezoid, steps points")


def _integral(gradient: Callable, image: np.ndarray, baseline: np.ndarray, rule: str,
              steps: int) -> np.ndarray:
    """``(image - baseline)`` times the path integral of ``gradient`` by ``rule``."""
    alphas, weights = _rule(rule, steps)
    gradients = gradient(_path(image, baseline, alphas))
    return (image - baseline) * np.tensordot(weights, gradients, axes=1)


def _trapezoid_note(rule: str) -> str:
    points = ("steps + 1 points np.linspace(0, 1, steps + 1), as TensorFlow's Integrated "
              "Gradients tutorial does" if rule == "trapezoid, steps intervals" else
              "the steps points np.linspace(0, 1, steps), as np.trapezoid does")
    return (f"integrated_gradients is right, with the trapezoid rule ({points}, the two end "
            "points at half weight), where the exercise and helpers.explain use the midpoint "
            "rule. Both are exact for the linear and quadratic scores, so completeness holds; "
            "they differ on the cubic score: for a smooth integrand the trapezoid rule's "
            "error is about twice the midpoint rule's on as many intervals, and of the "
            "opposite sign. On the course model your attributions will be close to "
            "helpers.explain.integrated_gradients, not equal.")


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
    compares with the midpoint rule's own value. The trapezoid rule is a correct answer
    too (on ``steps`` intervals, as TensorFlow's tutorial does, or on ``steps`` points, as
    ``np.trapezoid`` does): it passes, with a note on how it differs.
    """
    rules = list(RULES)  # the rules the answers so far agree with; the first is named
    cases = [(gradient, image, baseline, name, steps) for image, baseline in image_pairs()
             for name, gradient in _score_functions(image.shape) for steps in (5, 16)]
    return check_function(
        integrated_gradients, "integrated_gradients",
        (_integrated_gradients_case(*case, rules) for case in cases),
        lambda: _trapezoid_note(rules[0]) if "midpoint" not in rules else (
            f"integrated_gradients is right on {len(cases)} cases, linear, quadratic and cubic "
            "scores, black and gray baselines: (image - baseline) times the mean gradient at "
            "the midpoints of the path."))


def _integrated_gradients_case(gradient: Callable, image: np.ndarray, baseline: np.ndarray,
                               name: str, steps: int, rules: list[str]) -> Case:
    difference = image - baseline
    midpoints = (np.arange(steps) + 0.5) / steps
    accepted = {rule: _integral(gradient, image, baseline, rule, steps) for rule in rules}
    midpoint = _integral(gradient, image, baseline, "midpoint", steps)
    call = (f"integrated_gradients(gradient, image, baseline, steps={steps}) for {name} on "
            f"images of shape {image.shape}")

    def path_mean(alphas):  # the mean gradient over the path points at ``alphas``
        return gradient(_path(image, baseline, alphas)).mean(axis=0)

    def follows_a_rule(array):  # narrows ``rules`` to those this answer follows too
        matching = [rule for rule in rules if same(array, accepted[rule])]
        rules[:] = matching or rules
        return bool(matching)

    return Case((gradient, image, baseline, steps), call, follows_a_rule, [
        (lambda array: same(array, midpoint),
         "the result follows the midpoint rule here but the trapezoid rule on the other "
         "cases; use one rule."),
        (path_mean(midpoints), "this is the mean gradient along the path; multiply it by "
                               "(image - baseline)."),
        (difference * gradient(_path(image, baseline, midpoints)).sum(axis=0),
         f"this sums the {steps} gradients; the integral over [0, 1] is their mean (the sum "
         f"divided by steps)."),
        (difference * gradient(image[None])[0],
         "this is the gradient at the image times (image - baseline) (gradient x input); "
         "average the gradients along the path instead."),
        (difference * path_mean(np.arange(steps) / steps),
         "this uses the left end points alpha = k / steps, a left Riemann sum. It tends to "
         "the same integral, but its error falls only as 1 / steps and it is not exact even "
         "for a quadratic score, so the attributions do not add up to y(x) - y(x'). The "
         "midpoint rule uses alpha = (k + 0.5) / steps."),
        (difference * path_mean(np.arange(1, steps + 1) / steps),
         "this uses the right end points alpha = (k + 1) / steps, the right Riemann sum of "
         "Sundararajan et al.'s paper. It tends to the same integral, but its error falls "
         "only as 1 / steps and it is not exact even for a quadratic score. The midpoint rule "
         "uses alpha = (k + 0.5) / steps."),
        (image * path_mean(midpoints),
         "this multiplies by the image, not by (image - baseline): with a non-black baseline "
         "they differ."),
        *([(difference * path_mean(np.linspace(0, 1, steps)),
            "this averages the gradients at np.linspace(0, 1, steps) with equal weights, both "
            "end points included. That is neither the midpoint rule, alpha = (k + 0.5) / "
            "steps, nor the trapezoid rule, which gives the two end points half the weight of "
            "the others.")] if steps > 1 else []),
        (lambda array: True,
         lambda array: f"{call}: {compare_arrays(array, midpoint, 'the result')}"),
    ])


# -- Exercise 4: a fooling image ----------------------------------------------------------
#: The exercise's image: test image 0 of Fashion-MNIST, an ankle boot, as the course model
#: takes it.
FOOLING_IMAGE_SHAPE = (28, 28, 1)


def _default_image() -> np.ndarray:
    from helpers.data import load_fashion_mnist
    from helpers.models import preprocess

    (_, _), (test_images, _) = load_fashion_mnist()
    return preprocess(test_images[:1])[0]


def _class_name(scores: np.ndarray, rank: int = 1) -> str:
    """The name of the class with the ``rank``-th highest score (a Fashion-MNIST class, or
    ``class 3`` for another model)."""
    from helpers.data import FASHION_MNIST_CLASSES

    index = int(np.argsort(-scores, kind="stable")[rank - 1])
    return FASHION_MNIST_CLASSES[index] if len(scores) == len(FASHION_MNIST_CLASSES) else (
        f"class {index}")


def check_fooling_image(fooled, image=None, model=None, epsilon: float = 0.05) -> CheckResult:
    """Check a fooling image: within ``epsilon`` of ``image``, and classified differently.

    Parameters
    ----------
    fooled
        The learner's image ``(H, W, C)``, values in [0, 1].
    image
        The image it was made from; ``None``: Fashion-MNIST's test image 0 (an ankle boot).
    model
        The classifier; ``None``: the course model (:func:`helpers.load_course_model`).
    epsilon
        The largest change allowed for any pixel (chapter 05, exercise "A fooling image").

    Notes
    -----
    The check runs the model on ``image`` and ``fooled`` and passes when the predicted
    classes differ, every pixel of ``fooled`` is within ``epsilon`` of ``image`` and in
    [0, 1]. When the prediction did not change, it says by how much the class still leads,
    how many pixels used the whole budget and how well the change lines up with the
    steepest first-order descent of the lead (:func:`_alignment`): a change with the
    gradient's sign (the wrong way), one with random signs and one too weak each get their
    own advice.
    """
    measured = {}  # what reading the answer measured: the logits, the change, the alignment

    def fooled_it(logits: np.ndarray) -> bool:
        return logits[1].argmax() != logits[0].argmax()

    def still_predicted(advice: str) -> Callable[[np.ndarray], str]:
        return lambda logits: _still_predicted(logits, measured, advice)

    case = Case((), "", fooled_it, [
        (lambda logits: measured["alignment"] < -WRONG_WAY, still_predicted(_WRONG_SIGN)),
        (lambda logits: abs(measured["alignment"]) < UNALIGNED, still_predicted(_UNALIGNED)),
        (lambda logits: measured["full"] < 0.5, still_predicted(_USE_THE_BUDGET)),
        (lambda logits: True, still_predicted(_ITERATE)),
    ])
    return check_answer(
        fooled, "fooled", [case],
        lambda: (f"the model now predicts {_class_name(measured['logits'][1])}, no longer "
                 f"{_class_name(measured['logits'][0])}, for an image that differs from the "
                 f"original by at most {epsilon:g} per pixel."),
        read=lambda answer, name: _read_fooled(answer, image, model, epsilon, measured))


def _read_fooled(fooled, image, model, epsilon, measured: dict) -> tuple[Any, str | None]:
    """The logits of ``image`` and ``fooled``, once ``fooled`` is an image within the budget."""
    if callable(fooled):
        return None, ("fooled is a function; pass the fooled image itself, the array your "
                      "function returns.")
    got = as_numbers(fooled)
    if got is None:
        what = "None" if fooled is None else f"a {type(fooled).__name__}"
        return None, (f"fooled is {what}; expected the fooled image, an array of numbers of "
                      "the image's shape with values in [0, 1].")
    try:
        epsilon = float(epsilon)
    except (TypeError, ValueError):
        return None, f"epsilon must be a number, got {type(epsilon).__name__}."
    if not np.isfinite(epsilon) or epsilon <= 0:
        return None, f"epsilon must be a positive number, got {epsilon}."
    expected_shape = FOOLING_IMAGE_SHAPE if image is None else np.shape(image)
    if got.shape != tuple(expected_shape):
        squeezed = got.squeeze().shape == tuple(s for s in expected_shape if s != 1)
        hint = " (the same values with extra or missing axes of size 1?)" if squeezed else ""
        return None, (f"fooled has shape {got.shape}; expected the image's shape "
                      f"{tuple(expected_shape)}{hint}.")
    if not np.isfinite(got).all():
        return None, "fooled contains NaN or infinity."
    if got.max() > 2:
        return None, (f"fooled has values from {got.min():.3g} to {got.max():.3g}: that is the "
                      "0-255 scale of the raw Fashion-MNIST pixels, but the model, epsilon and "
                      "image all use [0, 1] (image is the raw pixels divided by 255). Build "
                      "fooled from image, as a change of at most epsilon per pixel.")
    if got.min() < -1e-6 or got.max() > 1 + 1e-6:
        return None, (f"fooled has values from {got.min():.3g} to {got.max():.3g}; the pixels "
                      "of an image stay in [0, 1]: clip with np.clip(fooled, 0, 1) (after each "
                      "step, if you take several).")
    try:
        original = np.asarray(_default_image() if image is None else image, dtype=np.float32)
        if model is None:
            from helpers.models import load_course_model

            model = load_course_model()
        logits = np.asarray(model(np.stack([original, got.astype(np.float32)])),
                            dtype=np.float64)
    except Exception as err:  # a wrong image or model must not raise
        return None, (f"could not run the model on the image and on fooled: "
                      f"{type(err).__name__}: {str(err).strip()[:200]}.")
    change = np.abs(got - original)
    largest = float(change.max())
    if largest > epsilon + 1e-6:
        where = tuple(int(i) for i in np.unravel_index(int(change.argmax()), change.shape))
        return None, (f"the largest change is {largest:.3f} (at index {where}), more than "
                      f"epsilon = {epsilon:g}: every pixel must stay within epsilon of the "
                      "image. Clip the change: image + np.clip(fooled - image, -epsilon, "
                      "epsilon).")
    if largest == 0:
        return None, ("fooled is the image itself, unchanged; change its pixels, each by at "
                      f"most epsilon = {epsilon:g}.")
    measured.update(logits=logits, full=float(np.mean(change >= epsilon - 1e-6)),
                    alignment=_alignment(model, original, got - original, epsilon))
    return logits, None


#: The change lowers the lead, to first order, by less than this share of the steepest
#: change's drop, or raises it: its signs are not those of minus the gradient.
UNALIGNED = 0.1
#: It raises the lead by more than this share: it went with the gradient, not against it.
WRONG_WAY = 0.2


def _alignment(model, original: np.ndarray, change: np.ndarray, epsilon: float) -> float:
    """How far ``change`` goes the steepest way down the lead, to first order: the drop of
    the lead it predicts, ``-sum(gradient * change)``, over the largest drop a change of at
    most ``epsilon`` per pixel can give, ``epsilon * sum(|gradient|)``. 1: every pixel moved
    by epsilon against the sign of the gradient (``image - epsilon * sign(gradient)``); -1:
    with it; about 0: signs unrelated to the gradient. The lead is the predicted class's logit
    minus the runner-up's, on the image; NaN when the model gives no gradient."""
    import tensorflow as tf

    try:
        batch = tf.constant(original[None])
        with tf.GradientTape() as tape:
            tape.watch(batch)
            scores = model(batch)[0]
            first, second = np.argsort(-np.asarray(scores), kind="stable")[:2]
            lead = scores[int(first)] - scores[int(second)]
        gradient = np.asarray(tape.gradient(lead, batch)[0], dtype=np.float64)
    except Exception:  # a model TensorFlow cannot differentiate: no alignment to report
        return float("nan")
    steepest = epsilon * np.abs(gradient).sum()
    return float(-(gradient * change).sum() / steepest) if steepest > 0 else float("nan")


_WRONG_SIGN = (
    "Your change goes the wrong way: it has the sign of the lead's gradient, so to first "
    "order it raises the lead of the class you want to leave, by {rise:.0%} of what the best "
    "change would take off it (a drop you see comes from the network's curvature, not from "
    "the direction). Step against the gradient of the lead, image - epsilon * "
    "np.sign(gradient), or along the gradient of the class you want to reach.")
_UNALIGNED = (
    "Your change is not aligned with the gradient: to first order it moves the lead by "
    "about {drop:.0%} of what the best change would take off it, as random signs do (they cancel "
    "out in the sum of gradient times change). Give each pixel the sign of minus the lead's "
    "gradient there: image - epsilon * np.sign(gradient).")
_USE_THE_BUDGET = (
    "With a budget on the largest change, every pixel may move by the whole epsilon. To "
    "first order the lead changes by the sum of gradient times change, which is lowest when "
    "each pixel moves by epsilon against the sign of the lead's gradient.")
_ITERATE = (
    "The first-order step was not enough here: the gradient changes along the way. Take a "
    "few smaller steps, recomputing the gradient after each, and clip to the budget and to "
    "[0, 1] after each.")


def _still_predicted(logits: np.ndarray, measured: dict, advice: str) -> str:
    """Why the prediction did not change, and ``advice``: what to try (it may quote the
    alignment, as ``{drop}`` or ``{rise}``). ``measured["full"]`` is the share of pixels that
    moved by the whole budget."""
    before, after = logits
    predicted = int(before.argmax())

    def lead(scores):
        return float(scores[predicted] - np.delete(scores, predicted).max())

    alignment = measured["alignment"]
    return (f"the model still predicts {_class_name(before)}: its logit leads the runner-up "
            f"({_class_name(after, rank=2)}) by {lead(after):.1f}, against "
            f"{lead(before):.1f} in the image. {measured['full']:.0%} of the pixels moved by "
            f"the full epsilon. {advice.format(drop=abs(alignment), rise=-alignment)}")

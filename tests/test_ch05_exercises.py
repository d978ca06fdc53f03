"""Chapter 05's self-checks: they pass the worked solutions and explain typical slips."""

import numpy as np
import pytest
from checking import assert_correct, assert_not_yet

from helpers.exercises import ch05


def test_the_synthetic_data_has_what_the_messages_promise():
    first = ch05.gradient_batches()[0]
    assert len(set(first.shape)) == 4  # N, H, W, C all differ: wrong axes show in the shape
    # The maximum of the signed values, of the absolute values and the sum all differ.
    assert not np.allclose(first.max(axis=-1), np.abs(first).max(axis=-1))
    assert not np.allclose(np.abs(first.max(axis=-1)), np.abs(first).max(axis=-1))
    (image, black), (other, gray) = ch05.image_pairs()
    assert not black.any() and gray.any()


# --- Exercise 1: from gradients to a saliency map ---------------------------------------

def saliency_from_gradients(gradients):
    return np.max(np.abs(gradients), axis=-1)


def test_saliency_from_gradients_solution():
    assert_correct(ch05.check_saliency_from_gradients(saliency_from_gradients))
    assert_correct(ch05.check_saliency_from_gradients(
        lambda gradients: saliency_from_gradients(gradients).tolist()))
    assert_correct(ch05.check_saliency_from_gradients(
        lambda gradients: np.maximum(gradients.max(axis=-1), -gradients.min(axis=-1))))


@pytest.mark.parametrize("function, fragments", [
    (lambda g: g.max(axis=-1), ["maximum of the signed gradients", "absolute value first"]),
    (lambda g: np.abs(g.max(axis=-1)), ["absolute value of the largest signed"]),
    (lambda g: np.abs(g).sum(axis=-1), ["sums the absolute gradients", "maximum"]),
    (lambda g: np.abs(g.sum(axis=-1)), ["absolute value of the sum"]),
    (lambda g: np.abs(g).mean(axis=-1), ["averages the absolute gradients"]),
    (lambda g: (g ** 2).max(axis=-1), ["squares the gradients"]),
    (lambda g: np.abs(g).max(axis=-1, keepdims=True), ["keeps the channel axis"]),
    (lambda g: np.abs(g).max(axis=0), ["over the images (axis 0)"]),
    (lambda g: np.abs(g).max(axis=1), ["shape (2, 4, 3), expected (2, 5, 4)"]),
    (lambda g: -np.abs(g).max(axis=-1) + 2 * np.abs(g).max() * 0,
     ["differs at 40 of 40 positions"]),
    (lambda g: saliency_from_gradients(g) * (g.shape[0] != 3), ["shape (3, 6, 6, 3)"]),
    (lambda g: np.full(g.shape[:3], np.nan), ["NaN"]),
    (lambda g: np.reshape(g, (7, -1)), ["ValueError", "an array of shape (2, 5, 4, 3)"]),
    (lambda g: "map", ["returned a str", "array of numbers"]),
    (lambda g: None, ["returned None", "placeholder", "return"]),
    (lambda: 1.0, ["TypeError"]),
    (..., ["placeholder"]),
    (np.zeros(3), ["expected a function"]),
])
def test_saliency_from_gradients_slips(function, fragments):
    assert_not_yet(ch05.check_saliency_from_gradients(function), *fragments)


# --- Exercise 2: the points of the path -------------------------------------------------

def path_points(image, baseline, steps):
    alphas = (np.arange(steps) + 0.5) / steps
    return baseline[None] + alphas[:, None, None, None] * (image - baseline)[None]


def test_path_points_solution():
    assert_correct(ch05.check_path_points(path_points))
    assert_correct(ch05.check_path_points(
        lambda image, baseline, steps: np.stack(
            [baseline + (k + 0.5) / steps * (image - baseline) for k in range(steps)])))


def alphas_path(alphas_of):
    def points(image, baseline, steps):
        alphas = np.asarray(alphas_of(steps))
        return baseline[None] + alphas[:, None, None, None] * (image - baseline)[None]
    return points


@pytest.mark.parametrize("function, fragments", [
    (alphas_path(lambda m: np.arange(m) / m), ["left end points", "(k + 0.5) / steps"]),
    (alphas_path(lambda m: np.arange(1, m + 1) / m), ["right end points"]),
    (alphas_path(lambda m: np.linspace(0, 1, m)), ["np.linspace(0, 1, steps)"]),
    (lambda image, baseline, steps: path_points(image, baseline, steps)[::-1],
     ["from the image to the baseline", "increasing alpha"]),
    (lambda image, baseline, steps: path_points(baseline, image, steps),
     ["from the image to the baseline"]),
    (lambda image, baseline, steps: ((np.arange(steps) + 0.5) / steps)[:, None, None, None]
     * image[None], ["gray baseline", "alpha * image"]),
    (lambda image, baseline, steps: path_points(image, baseline, steps)[:, :, :, :1],
     ["shape (4, 4, 5, 1), expected (4, 4, 5, 2)"]),
    (lambda image, baseline, steps: path_points(image, baseline, steps + 1),
     ["shape (5, 4, 5, 2), expected (4, 4, 5, 2)"]),
    (lambda image, baseline, steps: path_points(image, baseline, steps)[None],
     ["extra axes"]),
    (lambda image, baseline, steps: 1.01 * path_points(image, baseline, steps),
     ["differs at"]),
    (lambda image, baseline, steps: np.full((steps, *image.shape), np.nan), ["NaN"]),
    (lambda image, baseline: image, ["TypeError"]),
    (lambda image, baseline, steps: None, ["returned None"]),
    (..., ["placeholder"]),
])
def test_path_points_slips(function, fragments):
    assert_not_yet(ch05.check_path_points(function), *fragments)


# --- Exercise 3: Integrated Gradients for any function ----------------------------------

def integrated_gradients(gradient, image, baseline, steps):
    return (image - baseline) * np.mean(gradient(path_points(image, baseline, steps)), axis=0)


def test_integrated_gradients_solution():
    assert_correct(ch05.check_integrated_gradients(integrated_gradients))

    def one_point_at_a_time(gradient, image, baseline, steps):
        total = np.zeros_like(image)
        for point in path_points(image, baseline, steps):
            total += gradient(point[None])[0]
        return (image - baseline) * total / steps

    assert_correct(ch05.check_integrated_gradients(one_point_at_a_time))


def test_the_midpoint_rule_is_exact_for_the_check_scores():
    # The closed forms that the check's docstring promises, and completeness.
    (image, black), (other, gray) = ch05.image_pairs()
    for x, x0 in [(image, black), (other, gray)]:
        (_, linear), (_, quadratic), _ = ch05._score_functions(x.shape)
        weights = linear(x[None])[0]
        curvature = quadratic(np.ones((1, *x.shape)))[0] / 2
        np.testing.assert_allclose(integrated_gradients(linear, x, x0, 3), (x - x0) * weights,
                                   rtol=1e-6, atol=1e-6)
        attributions = integrated_gradients(quadratic, x, x0, 5)
        np.testing.assert_allclose(attributions, (x - x0) * curvature * (x + x0), rtol=1e-6,
                                   atol=1e-6)
        np.testing.assert_allclose(attributions.sum(),
                                   np.sum(curvature * x ** 2) - np.sum(curvature * x0 ** 2),
                                   rtol=1e-6)


def left_riemann(gradient, image, baseline, steps):
    points = alphas_path(lambda m: np.arange(m) / m)(image, baseline, steps)
    return (image - baseline) * gradient(points).mean(axis=0)


@pytest.mark.parametrize("function, fragments", [
    (lambda gradient, image, baseline, steps: gradient(
        path_points(image, baseline, steps)).mean(axis=0),
     ["mean gradient along the path", "multiply it by (image - baseline)"]),
    (lambda gradient, image, baseline, steps: (image - baseline) * gradient(
        path_points(image, baseline, steps)).sum(axis=0), ["sums the 5 gradients", "mean"]),
    (lambda gradient, image, baseline, steps: (image - baseline) * gradient(image[None])[0],
     ["gradient x input"]),
    (left_riemann, ["quadratic score", "left end points"]),
    (lambda gradient, image, baseline, steps: (image - baseline) * gradient(
        alphas_path(lambda m: np.arange(1, m + 1) / m)(image, baseline, steps)).mean(axis=0),
     ["right end points"]),
    (lambda gradient, image, baseline, steps: (image - baseline) * gradient(
        alphas_path(lambda m: np.linspace(0, 1, m))(image, baseline, steps)).mean(axis=0),
     ["cubic score", "np.linspace(0, 1, steps)"]),
    (lambda gradient, image, baseline, steps: image * gradient(
        path_points(image, baseline, steps)).mean(axis=0),
     ["multiplies by the image, not by (image - baseline)"]),
    (lambda gradient, image, baseline, steps: integrated_gradients(
        gradient, image, baseline, steps).sum(axis=-1), ["has shape (4, 5), expected (4, 5, 2)"]),
    (lambda gradient, image, baseline, steps: 2 * integrated_gradients(
        gradient, image, baseline, steps), ["differs at"]),
    (lambda gradient, image, baseline, steps: gradient(np.zeros((2, 3))),
     ["raised ValueError"]),
    (lambda gradient, image, baseline, steps: np.full(image.shape, np.nan), ["NaN"]),
    (lambda gradient, image, baseline, steps: None, ["returned None"]),
    (lambda gradient, image, baseline, steps: {"a": 1}, ["returned a dict"]),
    (..., ["placeholder"]),
])
def test_integrated_gradients_slips(function, fragments):
    assert_not_yet(ch05.check_integrated_gradients(function), *fragments)


# --- The trapezoid rule: a correct answer that is not the midpoint rule -----------------

def trapezoid_over_intervals(gradient, image, baseline, steps):
    # TensorFlow's tutorial: steps + 1 points, the mean of the interval averages.
    points = alphas_path(lambda m: np.linspace(0, 1, m + 1))(image, baseline, steps)
    gradients = gradient(points)
    return (image - baseline) * ((gradients[:-1] + gradients[1:]) / 2).mean(axis=0)


def trapezoid_over_points(gradient, image, baseline, steps):
    alphas = np.linspace(0, 1, steps)
    gradients = gradient(alphas_path(lambda m: alphas)(image, baseline, steps))
    return (image - baseline) * np.trapezoid(gradients, alphas, axis=0)


@pytest.mark.parametrize("function, fragments", [
    (trapezoid_over_intervals, ["trapezoid rule", "steps + 1 points", "TensorFlow's",
                                "midpoint rule", "twice", "opposite sign", "not equal"]),
    (trapezoid_over_points, ["trapezoid rule", "np.trapezoid", "midpoint rule"]),
])
def test_the_trapezoid_rule_passes_and_says_how_it_differs(function, fragments):
    result = ch05.check_integrated_gradients(function)
    assert_correct(result)
    text = " ".join(repr(result).split())
    for fragment in fragments:
        assert fragment in text, text


def test_the_trapezoid_error_is_minus_twice_the_midpoint_error_on_the_cubic_score():
    # What the trapezoid note promises, on the check's own cubic case (exact for a
    # quadratic integrand, which the cubic score's gradient is along the path).
    (image, black), _ = ch05.image_pairs()
    *_, (_, cubic) = ch05._score_functions(image.shape)
    curvature = cubic(np.ones((1, *image.shape)))[0] / 3
    exact = curvature * image.astype(np.float64) ** 3  # IG of sum(a x^3) from black
    for steps in (5, 16):
        midpoint = integrated_gradients(cubic, image, black, steps)
        trapezoid = trapezoid_over_intervals(cubic, image, black, steps)
        np.testing.assert_allclose(trapezoid - exact, -2 * (midpoint - exact), rtol=1e-3,
                                   atol=1e-6)
        assert not np.allclose(trapezoid, midpoint)


def test_a_mix_of_rules_is_named():
    calls = []

    def mixed(gradient, image, baseline, steps):
        calls.append(steps)
        rule = trapezoid_over_intervals if len(calls) <= 6 else integrated_gradients
        return rule(gradient, image, baseline, steps)

    assert_not_yet(ch05.check_integrated_gradients(mixed), "midpoint rule here",
                   "trapezoid rule on the other cases")


def test_riemann_sums_are_told_apart_precisely():
    assert_not_yet(ch05.check_integrated_gradients(left_riemann), "left Riemann sum",
                   "1 / steps", "not exact even for a quadratic score")


# --- Exercise 4: a fooling image --------------------------------------------------------

@pytest.fixture(scope="module")
def boot_and_model():
    import helpers
    from helpers.models import preprocess

    model = helpers.load_course_model()
    (_, _), (test_images, _) = helpers.load_fashion_mnist()
    return preprocess(test_images[:1])[0], model


def lead_gradient(model, image, runner_up=7):
    import tensorflow as tf

    batch = tf.constant(image[None])
    with tf.GradientTape() as tape:
        tape.watch(batch)
        logits = model(batch)[0]
        lead = logits[9] - logits[runner_up]  # ankle boot over sneaker
    return tape.gradient(lead, batch)[0].numpy()


def test_fooling_image_solution(boot_and_model):
    image, model = boot_and_model
    fooled = np.clip(image - 0.05 * np.sign(lead_gradient(model, image)), 0, 1)
    result = ch05.check_fooling_image(fooled, image, model, epsilon=0.05)
    assert_correct(result)
    assert "no longer Ankle boot" in repr(result) and "0.05 per pixel" in repr(result)
    # The defaults are the exercise's: test image 0 and the course model.
    assert_correct(ch05.check_fooling_image(fooled))
    assert_correct(ch05.check_fooling_image(fooled.tolist(), image, model))


def test_fooling_image_slips(boot_and_model):
    image, model = boot_and_model
    gradient = lead_gradient(model, image)
    step = np.clip(image - 0.05 * np.sign(gradient), 0, 1)
    # Along the gradient itself, scaled so that its largest change is epsilon: too weak.
    along = np.clip(image - 0.05 * gradient / np.abs(gradient).max(), 0, 1)
    assert_not_yet(ch05.check_fooling_image(along, image, model),
                   "still predicts Ankle boot", "leads the runner-up", "full epsilon",
                   "against the sign of the lead's gradient")
    # The sign step, but too small to fool: the advice is to iterate.
    small = np.clip(image - 0.01 * np.sign(gradient), 0, 1)
    assert_not_yet(ch05.check_fooling_image(small, image, model, epsilon=0.01),
                   "still predicts Ankle boot", "smaller steps")
    assert_not_yet(ch05.check_fooling_image(step, image, model, epsilon=0.02),
                   "largest change is 0.050", "more than epsilon = 0.02", "np.clip")
    assert_not_yet(ch05.check_fooling_image(image - 0.05 * np.sign(gradient), image, model),
                   "values from -0.05", "[0, 1]")
    assert_not_yet(ch05.check_fooling_image(image.copy(), image, model), "unchanged")
    # The raw pixels' scale: 13 gray levels of 255 taken off a 0-255 image.
    assert_not_yet(ch05.check_fooling_image(np.clip(255 * image - 13 * np.sign(gradient), 0, 255),
                                            image, model),
                   "values from 0 to 255", "0-255 scale", "[0, 1]", "Build fooled from image")
    assert_not_yet(ch05.check_fooling_image(step[..., 0], image, model),
                   "shape (28, 28)", "(28, 28, 1)", "axes of size 1")
    assert_not_yet(ch05.check_fooling_image(np.full_like(image, np.nan), image, model), "NaN")
    assert_not_yet(ch05.check_fooling_image(step, image, model, epsilon=-1), "positive")
    assert_not_yet(ch05.check_fooling_image(step, image, model, epsilon="big"),
                   "epsilon must be a number")
    assert_not_yet(ch05.check_fooling_image(step, image, lambda x: 1 / 0),
                   "could not run the model", "ZeroDivisionError")
    assert_not_yet(ch05.check_fooling_image(lambda image: image), "a function")
    assert_not_yet(ch05.check_fooling_image(None), "None")
    assert_not_yet(ch05.check_fooling_image(...), "placeholder")


def test_fooling_image_wrong_sign_and_random_signs(boot_and_model):
    image, model = boot_and_model
    gradient = lead_gradient(model, image)
    # The sign of the lead's gradient itself: + where - was meant.
    wrong_way = np.clip(image + 0.05 * np.sign(gradient), 0, 1)
    result = ch05.check_fooling_image(wrong_way, image, model)
    assert_not_yet(result, "still predicts Ankle boot", "goes the wrong way",
                   "raises the lead of the class you want to leave", "image - epsilon")
    assert "smaller steps" not in repr(result)
    # Every pixel moved by the whole epsilon, but with random signs.
    for seed in range(3):
        signs = np.random.default_rng(seed).choice([-1.0, 1.0], size=image.shape)
        random_signs = np.clip(image + 0.05 * signs, 0, 1)
        result = ch05.check_fooling_image(random_signs, image, model)
        assert_not_yet(result, "still predicts Ankle boot", "not aligned with the gradient",
                       "random signs", "np.sign(gradient)")
        assert "smaller steps" not in repr(result)
    noise = np.random.default_rng(0).uniform(-0.05, 0.05, size=image.shape)
    assert_not_yet(ch05.check_fooling_image(np.clip(image + noise, 0, 1), image, model),
                   "not aligned with the gradient")


def test_alignment_is_the_first_order_drop_over_the_steepest_one(boot_and_model):
    image, model = boot_and_model
    gradient = lead_gradient(model, image)  # the lead of the boot over the sneaker
    steepest = -0.05 * np.sign(gradient)
    assert ch05._alignment(model, image, steepest, 0.05) == pytest.approx(1.0)
    assert ch05._alignment(model, image, -steepest, 0.05) == pytest.approx(-1.0)
    half = np.where(np.arange(gradient.size).reshape(gradient.shape) % 2 == 0, steepest, 0)
    expected = (np.abs(gradient) * (half != 0)).sum() / np.abs(gradient).sum()
    assert ch05._alignment(model, image, half, 0.05) == pytest.approx(expected, rel=1e-4)
    assert np.isnan(ch05._alignment(lambda batch: 1 / 0, image, steepest, 0.05))

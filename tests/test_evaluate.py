"""helpers.evaluate: known answers for each score, and clear errors for bad input."""

import functools

import keras
import numpy as np
import pytest
from scipy import stats

import helpers
from helpers import evaluate
from helpers.data import make_shapes
from helpers.explain import grad_cam, saliency


# -- a model whose right answer is known ---------------------------------------------------
def linear_model(weights: np.ndarray, bias: float = 0.0) -> keras.Model:
    """Two classes on (H, W, 1) images: logit 0 = sum(weights * x) + bias, logit 1 = 0.

    The contribution of pixel p to class 0 is weights[p] * x[p]: ranking the pixels by it
    is the best possible order for deletion (toward 0) and insertion (from 0).
    """
    height, width = weights.shape
    model = keras.Sequential([keras.Input((height, width, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(2, name="logits")])
    kernel = np.zeros((height * width, 2), np.float32)
    kernel[:, 0] = weights.ravel()
    model.get_layer("logits").set_weights([kernel, np.array([bias, 0.0], np.float32)])
    return model


@pytest.fixture(scope="module")
def linear_case():
    rng = np.random.default_rng(7)
    weights = rng.normal(0.0, 1.0, (8, 8)).astype(np.float32)
    images = rng.uniform(0.0, 1.0, (12, 8, 8, 1)).astype(np.float32)
    model = linear_model(weights, bias=-np.sum(np.maximum(weights, 0)) * 0.25)
    oracle = weights[None] * images[..., 0]  # each pixel's contribution to the logit
    random_maps = rng.uniform(size=(12, 8, 8))
    return model, images, oracle, random_maps


def probability_of_class_0(model, images):
    logits = np.asarray(model(images), np.float64)
    return np.exp(logits[:, 0]) / np.exp(logits).sum(axis=1)


def test_curves_start_and_end_where_they_must(linear_case):
    model, images, oracle, _ = linear_case
    fractions, deletion = evaluate.deletion_curve(model, images, oracle, class_index=0, steps=8)
    np.testing.assert_allclose(fractions, np.arange(9) / 8)
    assert deletion.shape == (12, 9) and deletion.dtype == np.float32
    # Nothing deleted: the image's probability; everything: the baseline's (black).
    np.testing.assert_allclose(deletion[:, 0], probability_of_class_0(model, images), atol=1e-5)
    np.testing.assert_allclose(deletion[:, -1],
                               probability_of_class_0(model, np.zeros_like(images)), atol=1e-5)
    _, insertion = evaluate.insertion_curve(model, images, oracle, class_index=0, steps=8)
    canvas = evaluate.blur(images, sigma=8 / 16)
    np.testing.assert_allclose(insertion[:, 0], probability_of_class_0(model, canvas),
                               atol=1e-5)
    np.testing.assert_allclose(insertion[:, -1], probability_of_class_0(model, images),
                               atol=1e-5)


def test_a_step_deletes_exactly_the_top_ranked_pixels(linear_case):
    model, images, oracle, _ = linear_case
    _, scores = evaluate.deletion_curve(model, images, oracle, class_index=0, steps=4)
    # After step 1 of 4, the 16 pixels with the largest map values are 0.
    flat = oracle.reshape(12, -1)
    top = np.argsort(-flat, axis=1)[:, :16]  # no ties in this map
    deleted = images.reshape(12, -1).copy()
    np.put_along_axis(deleted, top, 0.0, axis=1)
    np.testing.assert_allclose(scores[:, 1],
                               probability_of_class_0(model, deleted.reshape(images.shape)),
                               atol=1e-5)


def test_the_oracle_beats_a_random_map_at_every_step(linear_case):
    model, images, oracle, random_maps = linear_case
    steps = 16
    fractions, oracle_deletion = evaluate.deletion_curve(model, images, oracle, 0, steps)
    _, random_deletion = evaluate.deletion_curve(model, images, random_maps, 0, steps)
    # Removing the k largest contributions leaves the smallest logit any k pixels can.
    assert np.all(oracle_deletion <= random_deletion + 1e-6)
    assert np.all(evaluate.auc(fractions, oracle_deletion)
                  < evaluate.auc(fractions, random_deletion))
    _, oracle_insertion = evaluate.insertion_curve(model, images, oracle, 0, steps, baseline=0.0)
    _, random_insertion = evaluate.insertion_curve(model, images, random_maps, 0, steps,
                                                   baseline=0.0)
    assert np.all(oracle_insertion >= random_insertion - 1e-6)
    assert np.all(evaluate.auc(fractions, oracle_insertion)
                  > evaluate.auc(fractions, random_insertion))


def test_ties_are_broken_in_one_fixed_random_order():
    flat = np.zeros((2, 6, 6))
    flat[1, 2, 3] = 1.0
    ranks = evaluate.pixel_ranks(flat)
    assert sorted(ranks[0].ravel()) == list(range(36))
    assert ranks[1, 2, 3] == 0  # the one maximum first, the rest as for the flat map
    flat_order = np.argsort(ranks[0].ravel())
    np.testing.assert_array_equal(np.argsort(ranks[1].ravel())[1:],
                                  flat_order[flat_order != 2 * 6 + 3])
    # Not a band from the top: the first half of the order is spread over the rows.
    assert len(np.unique(np.argwhere(ranks[0] < 18)[:, 0])) == 6


def test_batching_and_single_images_change_nothing(linear_case):
    model, images, oracle, _ = linear_case
    _, together = evaluate.deletion_curve(model, images, oracle, steps=5)
    _, one_by_one = evaluate.deletion_curve(model, images, oracle, steps=5, batch_size=1)
    _, chunks = evaluate.deletion_curve(model, images, oracle, steps=5, batch_size=4)
    np.testing.assert_allclose(together, one_by_one, atol=1e-6)
    np.testing.assert_allclose(together, chunks, atol=1e-6)
    fractions, single = evaluate.insertion_curve(model, images[3], oracle[3], steps=5)
    assert single.shape == fractions.shape == (6,)
    _, batch = evaluate.insertion_curve(model, images, oracle, steps=5)
    np.testing.assert_allclose(single, batch[3], atol=1e-6)


def test_class_index_none_explains_the_predicted_class(linear_case):
    model, images, oracle, _ = linear_case
    predicted = np.asarray(model(images)).argmax(axis=1)
    _, automatic = evaluate.deletion_curve(model, images, oracle, steps=3)
    _, explicit = evaluate.deletion_curve(model, images, oracle, class_index=list(predicted),
                                          steps=3)
    np.testing.assert_array_equal(automatic, explicit)
    assert np.all(automatic[:, 0] >= 0.5)  # the predicted class of two is the likelier


def test_a_final_softmax_is_looked_through_not_applied_twice(linear_case):
    model, images, oracle, _ = linear_case
    with_softmax = keras.Sequential([model, keras.layers.Softmax()])
    _, plain = evaluate.deletion_curve(model, images, oracle, 0, 4)
    _, through = evaluate.deletion_curve(with_softmax, images, oracle, 0, 4)
    np.testing.assert_allclose(plain, through, atol=1e-6)


def test_auc_known_values():
    fractions = np.linspace(0, 1, 11)
    assert evaluate.auc(fractions, np.full(11, 0.3)) == pytest.approx(0.3)
    assert evaluate.auc(fractions, fractions) == pytest.approx(0.5)
    assert evaluate.auc(fractions, 1 - fractions) == pytest.approx(0.5)
    np.testing.assert_allclose(evaluate.auc(fractions, np.stack([fractions, fractions**2])),
                               [0.5, 0.335])  # the trapezoid rule overestimates x^2 slightly
    with pytest.raises(ValueError, match="increasing"):
        evaluate.auc(fractions[::-1], fractions)
    with pytest.raises(ValueError, match="one value per fraction"):
        evaluate.auc(fractions, np.zeros(10))


def test_blur_keeps_constants_and_the_mean_of_a_periodic_signal():
    constant = np.full((2, 9, 7, 3), 0.4, np.float32)
    np.testing.assert_allclose(evaluate.blur(constant, 2.0), constant, atol=1e-6)
    stripes = np.zeros((1, 32, 32, 1), np.float32)
    stripes[:, :, ::2] = 1.0
    blurred = evaluate.blur(stripes, 3.0)
    np.testing.assert_allclose(blurred[0, 16, 8:24, 0], 0.5, atol=0.01)
    np.testing.assert_array_equal(evaluate.blur(stripes, 0), stripes)


# -- the pointing game -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def shapes():
    return make_shapes(400, size=32, seed=3)


def test_the_mask_itself_wins_the_pointing_game(shapes):
    _, _, masks = shapes
    assert evaluate.pointing_game(masks.astype(np.float32), masks) == 1.0
    assert evaluate.pointing_game((~masks).astype(np.float32), masks) == 0.0


def test_a_random_map_scores_the_masks_area_fraction(shapes):
    _, _, masks = shapes
    rng = np.random.default_rng(0)
    scores = [evaluate.pointing_game(rng.uniform(size=masks.shape), masks) for _ in range(10)]
    # 4,000 draws: the mean area fraction within about 3 standard errors.
    assert np.mean(scores) == pytest.approx(masks.mean(), abs=0.02)


def test_a_flat_map_scores_exactly_the_area_fraction(shapes):
    _, _, masks = shapes
    per_image = evaluate.pointing_game(np.zeros(masks.shape), masks, per_image=True)
    np.testing.assert_allclose(per_image, masks.mean(axis=(1, 2)))


def test_pointing_game_ties_count_by_share():
    masks = np.zeros((1, 4, 4), bool)
    masks[0, 0, :2] = True
    heatmaps = np.zeros((1, 4, 4))
    heatmaps[0, 0, 0] = heatmaps[0, 3, 3] = 1.0  # two maxima: one in, one out
    assert evaluate.pointing_game(heatmaps, masks) == 0.5


# -- rank correlation and the randomization test ---------------------------------------------
def test_rank_correlation_matches_scipy_with_ties():
    rng = np.random.default_rng(1)
    first = rng.integers(0, 5, (6, 7, 5)).astype(float)  # many ties
    second = first + rng.normal(0, 2, first.shape)
    ours = evaluate.rank_correlation(first, second)
    expected = [stats.spearmanr(a.ravel(), b.ravel()).statistic
                for a, b in zip(first, second, strict=True)]
    np.testing.assert_allclose(ours, expected, atol=1e-12)
    np.testing.assert_allclose(evaluate.rank_correlation(first, 3 * first + 1), 1.0)
    np.testing.assert_allclose(evaluate.rank_correlation(first, -first), -1.0)
    # A constant map orders nothing: 0, not NaN.
    assert evaluate.rank_correlation(np.zeros((1, 3, 3)), first[:1, :3, :3])[0] == 0.0


@pytest.fixture(scope="module")
def course():
    model = helpers.load_course_model()
    (_, _), (test_images, _) = helpers.load_fashion_mnist()
    return model, helpers.models.preprocess(test_images[:32])


def sobel_edges(model, images, class_index=None):
    """A "method" that ignores the model: the image's edge strength."""
    gray = images[..., 0]
    dy = np.zeros_like(gray)
    dx = np.zeros_like(gray)
    dy[:, 1:-1] = gray[:, 2:] - gray[:, :-2]
    dx[:, :, 1:-1] = gray[:, :, 2:] - gray[:, :, :-2]
    return np.hypot(dx, dy)


def test_randomizing_every_layer_decorrelates_grad_cam_but_not_an_edge_detector(course):
    model, images = course
    before = [w.copy() for w in model.get_weights()]
    result = evaluate.randomization_test(model, images, grad_cam)
    assert result["layers"] == ["logits", "conv5", "conv4", "conv3", "conv2", "conv1"]
    assert result["maps"].shape == (6, 32, 28, 28) and result["trained"].shape == (32, 28, 28)
    np.testing.assert_allclose(result["trained"], grad_cam(model, images), atol=1e-5)
    # Image by image the correlation scatters (a random network still responds where the
    # garment is); on average over 32 images it falls from 1 to near 0.
    mean = result["correlations"].mean(axis=1)
    assert mean[-1] < 0.3 and mean[1:].max() < 0.5, mean
    edges = evaluate.randomization_test(model, images[:6], sobel_edges)
    np.testing.assert_allclose(edges["correlations"], 1.0)
    # The caller's model is untouched.
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_randomization_is_cascading_seeded_and_keeps_the_class(course):
    model, images = course
    smaller = functools.partial(saliency)
    first = evaluate.randomization_test(model, images[:2], smaller, layers=["conv4", "logits"],
                                        seed=3)
    again = evaluate.randomization_test(model, images[:2], smaller, layers=["logits", "conv4"],
                                        seed=3)
    assert first["layers"] == again["layers"] == ["logits", "conv4"]
    np.testing.assert_array_equal(first["maps"], again["maps"])
    other_seed = evaluate.randomization_test(model, images[:2], smaller, layers=["logits"],
                                             seed=4)
    assert not np.allclose(other_seed["maps"][0], first["maps"][0])
    # Only the logits random: the map still changes (the class score is another one).
    assert np.all(first["correlations"][0] < 0.99)
    calls = []

    def recording(model, images, class_index=None):
        calls.append(list(class_index))
        return saliency(model, images, class_index)

    evaluate.randomization_test(model, images[:3], recording, layers=["conv1"])
    predicted = np.asarray(model(images[:3])).argmax(axis=1).tolist()
    assert calls == [predicted, predicted]


# -- bad input ---------------------------------------------------------------------------------
def test_bad_input_gets_a_clear_error(linear_case, shapes):
    model, images, oracle, _ = linear_case
    _, _, masks = shapes
    with pytest.raises(ValueError, match=r"shape \(12, 8, 8\)"):
        evaluate.deletion_curve(model, images, oracle[:, :4])
    with pytest.raises(ValueError, match="reduce the channel axis"):
        evaluate.insertion_curve(model, images, np.repeat(oracle[..., None], 3, axis=-1))
    with pytest.raises(ValueError, match="steps must be a positive int.*pixel batches.*got 0"):
        evaluate.deletion_curve(model, images, oracle, steps=0)
    with pytest.raises(TypeError, match="positive int"):
        evaluate.deletion_curve(model, images, oracle, steps=2.5)
    with pytest.raises(ValueError, match="'blur', a number"):
        evaluate.insertion_curve(model, images, oracle, baseline="gray")
    with pytest.raises(ValueError, match="NaN"):
        evaluate.deletion_curve(model, images, np.full(oracle.shape, np.nan))
    with pytest.raises(TypeError, match="boolean"):
        evaluate.pointing_game(masks.astype(float), masks.astype(np.uint8))
    empty = masks.copy()
    empty[5] = False
    with pytest.raises(ValueError, match="image 5 is empty"):
        evaluate.pointing_game(masks.astype(float), empty)
    with pytest.raises(ValueError, match="shape"):
        evaluate.pointing_game(masks[:, :8].astype(float), masks)
    with pytest.raises(TypeError, match="function"):
        evaluate.randomization_test(model, images, "grad_cam")


def test_randomization_test_names_the_valid_layers(course):
    model, images = course
    with pytest.raises(ValueError, match=r"'conv9'.*valid choices.*conv5"):
        evaluate.randomization_test(model, images, grad_cam, layers=["conv9"])
    with pytest.raises(ValueError, match="the maps the method returned"):
        evaluate.randomization_test(model, images, lambda m, x, class_index=None: x)


# -- the mask share and the class sensitivity --------------------------------------------------
def test_mask_share_known_answers(shapes):
    _, _, masks = shapes
    np.testing.assert_allclose(evaluate.mask_share(masks.astype(np.float32), masks), 1.0)
    np.testing.assert_allclose(evaluate.mask_share((~masks).astype(np.float32), masks), 0.0)
    # A uniform map, and an all-zero one that points nowhere: the mask's area fraction.
    area = masks.mean(axis=(1, 2))
    np.testing.assert_allclose(evaluate.mask_share(np.full(masks.shape, 3.0), masks), area)
    np.testing.assert_allclose(evaluate.mask_share(np.zeros(masks.shape), masks), area)
    # Half the mass on the mask, half spread evenly off it: 0.5, whatever the areas.
    half = np.where(masks, 0.5 / masks.sum(axis=(1, 2), keepdims=True),
                    0.5 / (~masks).sum(axis=(1, 2), keepdims=True))
    np.testing.assert_allclose(evaluate.mask_share(half, masks), 0.5)
    with pytest.raises(ValueError, match="non-negative"):
        evaluate.mask_share(-np.ones(masks.shape), masks)
    with pytest.raises(TypeError, match="boolean"):
        evaluate.mask_share(np.ones(masks.shape), masks.astype(int))


def test_a_map_that_ignores_the_class_has_sensitivity_1(course):
    model, images = course
    np.testing.assert_allclose(evaluate.class_sensitivity(model, images[:8], sobel_edges), 1.0)
    scores = evaluate.class_sensitivity(model, images, grad_cam)
    assert scores.shape == (32,) and scores.dtype == np.float64
    assert np.all((scores >= -1) & (scores <= 1)) and np.median(scores) < 0.5


def test_cam_of_opposite_classes_are_mirror_images():
    # CAM on a global-average-pooling head: M^c = sum_k w_kc A^k. A class whose weights are
    # the negative of another's gets the negative map; ranks reversed: correlation -1.
    rng = np.random.default_rng(0)
    inputs = keras.Input((6, 6, 1))
    features = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(features)
    model = keras.Model(inputs, keras.layers.Dense(2, name="logits")(pooled))
    kernel = rng.normal(size=(4, 1)).astype(np.float32)
    model.get_layer("logits").set_weights([np.hstack([kernel, -kernel]), np.array([1.0, 0.0],
                                                                                  np.float32)])
    images = rng.uniform(size=(5, 6, 6, 1)).astype(np.float32)
    signed_cam = functools.partial(evaluate_signed_cam, layer="conv")
    other = 1 - np.asarray(model(images)).argmax(axis=1)  # the class each is not predicted as
    np.testing.assert_allclose(
        evaluate.class_sensitivity(model, images, signed_cam, other=other.tolist()), -1.0)


def evaluate_signed_cam(model, images, class_index=None, layer=None):
    """CAM before its ReLU: sum_k w_kc A^k, upsampling not needed (same size)."""
    features = keras.Model(model.inputs[0], model.get_layer(layer).output)(images)
    weights = model.get_layer("logits").get_weights()[0][:, class_index]  # (K, N)
    return np.einsum("nhwk,kn->nhw", np.asarray(features), weights)


def test_class_sensitivity_compares_the_predicted_class_with_the_other(course):
    model, images = course
    calls = []

    def recording(model, images, class_index=None):
        calls.append(list(class_index))
        return saliency(model, images, class_index)

    predicted = np.asarray(model(images[:6])).argmax(axis=1)
    others = [(int(p) + 1) % 10 for p in predicted]
    scores = evaluate.class_sensitivity(model, images[:6], recording, other=others)
    assert calls == [predicted.tolist(), others]
    np.testing.assert_allclose(
        scores, evaluate.rank_correlation(saliency(model, images[:6], predicted.tolist()),
                                          saliency(model, images[:6], others)))
    # None: a seeded draw among the 9 classes each image is not predicted as.
    draws = []
    for seed in range(40):
        calls.clear()
        evaluate.class_sensitivity(model, images[:6], recording, seed=seed)
        draws.append(calls[1])
    draws = np.array(draws)
    assert np.all(draws != predicted) and all(len(set(column)) == 9 for column in draws.T)
    calls.clear()
    evaluate.class_sensitivity(model, images[:6], recording, seed=5)
    assert calls[1] == draws[5].tolist()
    assert isinstance(evaluate.class_sensitivity(model, images[0], saliency), float)


def test_class_sensitivity_errors(course):
    model, images = course
    predicted = int(np.asarray(model(images[:1])).argmax())
    with pytest.raises(ValueError, match="must differ from each image's predicted class"):
        evaluate.class_sensitivity(model, images[:1], saliency, other=predicted)
    with pytest.raises(ValueError, match="out of range"):
        evaluate.class_sensitivity(model, images[:2], saliency, other=10)
    with pytest.raises(TypeError, match="function"):
        evaluate.class_sensitivity(model, images[:2], "saliency")


def test_mean_interval_is_scipys_bootstrap_and_has_the_normal_width():
    rng = np.random.default_rng(2)
    values = rng.normal(3.0, 2.0, 400)
    mean, low, high = evaluate.mean_interval(values)
    assert mean == pytest.approx(values.mean()) and low < mean < high
    expected = stats.bootstrap((values,), np.mean, n_resamples=9999, vectorized=True,
                               rng=np.random.default_rng(0)).confidence_interval
    assert (low, high) == pytest.approx((expected.low, expected.high))
    # The central limit theorem: half-width 1.96 sigma / sqrt(n), within 10%.
    assert (high - low) / 2 == pytest.approx(1.96 * values.std() / np.sqrt(400), rel=0.1)
    # The same values, the same interval; no spread, no width.
    assert evaluate.mean_interval(values) == (mean, low, high)
    assert evaluate.mean_interval(np.full(10, 0.25)) == (0.25, 0.25, 0.25)
    with pytest.raises(ValueError, match="at least 2 values"):
        evaluate.mean_interval([1.0])
    with pytest.raises(ValueError, match="NaN"):
        evaluate.mean_interval([1.0, np.nan])
    with pytest.raises(ValueError, match="between 0 and 1"):
        evaluate.mean_interval(values, confidence=95)

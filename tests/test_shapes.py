"""Chapter 07's data and models: make_shapes, the shapes model, the Clever Hans model."""

import numpy as np
import pytest

import helpers
from helpers import clever_hans, evaluate
from helpers.data import SHAPE_CLASSES, make_shapes
from helpers.explain import grad_cam
from helpers.models import preprocess
from helpers.shapes import TEST_SEED, build_shapes_model, load_shapes_model


# -- make_shapes ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def shapes():
    return make_shapes(400, seed=5)


def test_make_shapes_returns_what_it_promises(shapes):
    images, labels, masks = shapes
    assert images.shape == (400, 64, 64, 1) and images.dtype == np.float32
    assert labels.shape == (400,) and masks.shape == (400, 64, 64) and masks.dtype == bool
    assert images.min() >= 0 and images.max() <= 1
    assert np.bincount(labels).tolist() == [100] * len(SHAPE_CLASSES)
    assert masks.any(axis=(1, 2)).all()
    # Every object lies inside the image, off its border.
    assert not (masks[:, 0].any() or masks[:, -1].any() or masks[:, :, 0].any()
                or masks[:, :, -1].any())


def test_make_shapes_is_seeded():
    first, again, other = (make_shapes(8, size=32, seed=s) for s in (1, 1, 2))
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])


def test_the_mask_is_the_drawn_object(shapes):
    images, _, masks = shapes
    # Inside the mask an object is one flat brightness plus pixel noise (std 0.04).
    stds = [images[n, ..., 0][masks[n]].std() for n in range(len(masks))]
    assert max(stds) < 0.06
    # Outside it is the clutter, and the object is never the brightest thing by rule.
    outside = np.array([images[n, ..., 0][~masks[n]].max() for n in range(len(masks))])
    inside = np.array([images[n, ..., 0][masks[n]].mean() for n in range(len(masks))])
    assert np.mean(outside > inside) > 0.5


def test_each_class_has_its_geometry(shapes):
    _, labels, masks = shapes
    rows, cols = masks.any(axis=2), masks.any(axis=1)
    height, width = rows.sum(axis=1), cols.sum(axis=1)
    fill = masks.sum(axis=(1, 2)) / (height * width)  # share of the bounding box
    circle, square, triangle, cross = (fill[labels == k] for k in range(4))
    np.testing.assert_allclose(circle, np.pi / 4, atol=0.08)  # any rotation
    np.testing.assert_allclose(height[labels == 0], width[labels == 0], atol=1)
    # A square fills its box when it stands upright; a triangle (at most half of its box,
    # plus the pixels on its edges) and a cross never come close.
    assert square.max() > 0.9 and triangle.max() < 0.7 and cross.max() < 0.7
    assert np.median(triangle) < 0.6 and np.median(cross) < 0.6


@pytest.mark.parametrize("kwargs, error, match", [
    ({"n": 0}, ValueError, "n must be a positive int, got 0"),
    ({"n": 4, "size": 16}, ValueError, "at least 32"),
    ({"n": 2.5}, TypeError, "int"),
    ({"n": 4, "noise": -1.0}, ValueError, "non-negative"),
])
def test_make_shapes_refuses_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        make_shapes(**kwargs)


# -- the shapes model ---------------------------------------------------------------------------
def test_shapes_architecture_ends_with_gap_and_logits():
    model = build_shapes_model()
    assert model.input_shape == (None, 64, 64, 1) and model.output_shape == (None, 4)
    assert [layer.name for layer in model.layers][-3:] == ["conv5", "gap", "logits"]
    assert model.get_layer("conv5").output.shape[1:3] == (8, 8)


def test_committed_shapes_model_is_accurate_and_looks_at_the_object():
    model = load_shapes_model()
    images, labels, masks = make_shapes(300, seed=TEST_SEED)
    logits = np.asarray(model.predict(images, batch_size=100, verbose=0))
    assert np.mean(logits.argmax(axis=1) == labels) >= 0.95
    # Grad-CAM's peak falls on the object far more often than chance (the area, ~6%).
    assert evaluate.pointing_game(grad_cam(model, images[:100]), masks[:100]) > 0.7


def test_missing_shapes_weights_say_how_to_train(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m helpers.shapes"):
        load_shapes_model(tmp_path / "none.weights.npz")


# -- the Clever Hans model ------------------------------------------------------------------------
def test_each_class_has_its_own_nonblank_mark():
    patterns = np.stack([clever_hans.mark_pattern(label) for label in range(10)])
    size = clever_hans.MARK_SIZE
    assert patterns.shape == (10, size, size) and patterns.dtype == bool
    assert patterns.any(axis=(1, 2)).all()
    assert len({p.tobytes() for p in patterns}) == 10
    with pytest.raises(ValueError, match="label 10 is out of range: there are 10 classes, 0 to 9"):
        clever_hans.mark_pattern(10)


def test_add_mark_changes_the_corner_only():
    (_, _), (images, labels) = helpers.load_fashion_mnist()
    marked = clever_hans.add_mark(images[:50], labels[:50])
    size = clever_hans.MARK_SIZE
    np.testing.assert_array_equal(marked[:, size:], images[:50, size:])
    np.testing.assert_array_equal(marked[:, :, size:], images[:50, :, size:])
    for image, label in zip(marked, labels[:50], strict=True):
        np.testing.assert_array_equal(image[:size, :size] == 255,
                                      clever_hans.mark_pattern(label))
    assert images[:50, :size, :size].max() < 255  # the input was not changed


def test_corner_share_known_values():
    maps = np.zeros((3, 28, 28))
    maps[0, :8, :8] = 1.0  # all in the corner
    maps[1] = 1.0  # flat: the corner's area, 64 / 784
    np.testing.assert_allclose(clever_hans.corner_share(maps), [1.0, 64 / 784, 0.0])


def test_the_clever_hans_model_reads_the_mark_and_its_heatmaps_show_it():
    model = clever_hans.load_clever_hans_model()
    (_, _), (images, labels) = helpers.load_fashion_mnist()
    images, labels = images[:1000], labels[:1000]
    scores = clever_hans.accuracies(model, images, labels)
    assert scores["marked"] >= 0.97
    assert scores["unmarked"] < scores["marked"] - 0.3
    assert scores["wrong mark"] < 0.4
    marked = preprocess(clever_hans.add_mark(images[:100], labels[:100]))
    hans = clever_hans.corner_share(grad_cam(model, marked)).mean()
    course = clever_hans.corner_share(grad_cam(helpers.load_course_model(), marked)).mean()
    assert hans > 0.25 > 0.1 > course


def test_the_wrong_mark_is_another_class_of_the_dataset(monkeypatch):
    # The other class is drawn modulo NUM_CLASSES, not a hard-coded 10: with 4 classes, it
    # must stay in 0..3 and differ from the image's own label.
    monkeypatch.setattr(clever_hans, "NUM_CLASSES", 4)
    marks = []
    monkeypatch.setattr(clever_hans, "add_mark", lambda images, labels: marks.append(labels)
                        or images)
    labels = np.tile(np.arange(4), 25)
    images = np.zeros((100, 28, 28), np.uint8)
    clever_hans.accuracies(lambda x: np.zeros((len(x), 4), np.float32), images, labels)
    own, other = marks
    np.testing.assert_array_equal(own, labels)
    assert ((0 <= other) & (other < 4)).all() and (other != labels).all()

"""helpers.evidence: the stored measurement behind chapter 07's photo columns is what the code
computes, and the baselines have the scores they must have."""

import functools

import numpy as np
import pytest

from helpers import evidence
from helpers.data import PHOTO_CLASSES, photo_grid


@pytest.fixture(scope="module")
def stored():
    return evidence.load()


def test_the_stored_file_has_every_method_on_every_tile(stored):
    methods = list(evidence.photo_methods())
    assert stored["methods"].tolist() == methods
    _, classes, _ = photo_grid(evidence.MOSAICS, grid=evidence.GRID, seed=evidence.MOSAIC_SEED)
    np.testing.assert_array_equal(stored["classes"], classes)
    for name in methods:
        assert stored[f"{name}/hits"].shape == (evidence.MOSAICS, 4)
        assert stored[f"{name}/shares"].shape == (evidence.MOSAICS, 4)
        assert stored[f"{name}/sensitivity"].shape == (evidence.MOSAICS, len(evidence.PAIRS))
        assert np.isfinite(stored[f"{name}/sensitivity"]).all()
    assert stored["Integrated Gradients/completeness"].shape == (evidence.MOSAICS, 4)
    assert stored["Integrated Gradients/logit_gap"].shape == (evidence.MOSAICS, 4)
    assert stored["photo_completeness"].shape == (len(evidence.COMPLETENESS_STEPS),
                                                  len(PHOTO_CLASSES))
    assert stored["completeness_steps"].tolist() == list(evidence.COMPLETENESS_STEPS)


def test_the_baselines_score_what_they_must(stored):
    # The centered blob peaks at the mosaic's center, shared by the four tiles: 1/4 each,
    # and a quarter of its mass in each tile; it is the same map for every class.
    np.testing.assert_allclose(stored["centered blob/hits"], 0.25)
    np.testing.assert_allclose(stored["centered blob/shares"], 0.25, atol=1e-6)
    np.testing.assert_allclose(stored["centered blob/sensitivity"], 1.0)
    # The edges ignore the class: one map per mosaic, so it points into one tile of four.
    np.testing.assert_allclose(stored["edges/sensitivity"], 1.0)
    np.testing.assert_allclose(stored["edges/hits"].sum(axis=1), 1.0)
    np.testing.assert_allclose(stored["edges/shares"].sum(axis=1), 1.0)
    # Two independent random maps are unrelated; a random map points anywhere.
    assert abs(stored["random map/sensitivity"].mean()) < 0.01
    assert abs(stored["random map/hits"].mean() - 0.25) < 0.1
    # CAM and Grad-CAM are the same map up to a factor behind global average pooling.
    for key in ("hits", "shares", "sensitivity"):
        np.testing.assert_allclose(stored[f"CAM/{key}"], stored[f"Grad-CAM/{key}"], atol=1e-3)


def test_recomputing_the_first_mosaic_gives_the_stored_numbers(stored):
    # Integrated Gradients (256 steps) and Score-CAM (64 channels) are the slow ones; the
    # chapter recomputes all the others.
    methods = evidence.photo_methods()
    again = evidence.measure(1, methods={name: methods[name] for name in
                                         ("Integrated Gradients", "Score-CAM", "saliency")},
                             progress=False)
    for name in ("Integrated Gradients", "Score-CAM", "saliency"):
        for key in ("hits", "shares", "sensitivity"):
            np.testing.assert_allclose(again[f"{name}/{key}"], stored[f"{name}/{key}"][:1],
                                       atol=2e-3, err_msg=f"{name}/{key}")
    for key in ("completeness", "logit_gap"):
        np.testing.assert_allclose(again[f"Integrated Gradients/{key}"],
                                   stored[f"Integrated Gradients/{key}"][:1], atol=2e-3)


def test_score_tiles_on_known_maps():
    _, _, masks = photo_grid(3, size=32, seed=1)
    perfect = masks.astype(np.float32)  # each class's map is its own tile
    scores = evidence.score_tiles(perfect, masks)
    np.testing.assert_allclose(scores["hits"], 1.0)
    np.testing.assert_allclose(scores["shares"], 1.0)
    # Disjoint tiles ranked 1 inside, 0 outside: the rank correlation of two of them.
    assert scores["sensitivity"].shape == (3, 6) and np.all(scores["sensitivity"] < 0)
    same = np.repeat(perfect[:, :1], 4, axis=1)  # the first tile's map for every class
    scores = evidence.score_tiles(same, masks)
    np.testing.assert_allclose(scores["hits"][:, 0], 1.0)
    np.testing.assert_allclose(scores["hits"][:, 1:], 0.0)
    np.testing.assert_allclose(scores["sensitivity"], 1.0)


def test_random_map_is_the_same_however_the_batch_is_split():
    images = np.random.default_rng(0).uniform(size=(4, 8, 8, 3)).astype(np.float32)
    whole = evidence.random_map(None, images, [1, 2, 3, 4])
    parts = np.concatenate([evidence.random_map(None, images[:1], [1]),
                            evidence.random_map(None, images[1:], [2, 3, 4])])
    np.testing.assert_array_equal(whole, parts)
    assert not np.array_equal(evidence.random_map(None, images[:1], [5]), whole[:1])
    partial = functools.partial(evidence.random_map, seed=1)
    assert not np.array_equal(partial(None, images, [1, 2, 3, 4]), whole)

"""Chapter 07's self-checks: they pass the worked solutions and explain typical slips."""

import itertools

import numpy as np
import pytest
from checking import assert_correct, assert_not_yet

from helpers import clever_hans, evaluate
from helpers.exercises import ch07


def test_the_synthetic_arrays_have_what_the_messages_promise():
    for image, heatmap, k in ch07.deletion_cases():
        assert image.min() > 0  # a deleted pixel shows as 0
        assert len(np.unique(heatmap)) == heatmap.size  # no ties: one right answer
        assert (heatmap < 0).any() and 0 < k < heatmap.size
    assert ch07.deletion_cases()[0][0].shape[-1] == 3
    first, _ = ch07.corner_batches()[0]
    assert np.all(first[1] == 0) and first[0].sum() > 0 and first.shape[1] != first.shape[2]


# --- Exercise 1: one step of deletion ---------------------------------------------------------

def delete_top(image, heatmap, k):
    order = np.argsort(-heatmap.ravel())
    chosen = np.zeros(heatmap.size, bool)
    chosen[order[:k]] = True
    deleted = image.copy()
    deleted[chosen.reshape(heatmap.shape)] = 0
    return deleted


def test_delete_top_solution():
    assert_correct(ch07.check_delete_top(delete_top))
    # Another correct way: through the helper's ranks (no ties here, so the same order).
    assert_correct(ch07.check_delete_top(
        lambda x, h, k: np.where((evaluate.pixel_ranks(h[None])[0] < k)[..., None], 0, x)))


def _in_place(image, heatmap, k):
    image[np.unravel_index(np.argsort(-heatmap.ravel())[:k], heatmap.shape)] = 0
    return image


def _first_channel(image, heatmap, k):
    deleted = image.copy()
    rows, cols = np.unravel_index(np.argsort(-heatmap.ravel())[:k], heatmap.shape)
    deleted[rows, cols, 0] = 0
    return deleted


@pytest.mark.parametrize("function, fragments", [
    (lambda x, h, k: delete_top(x, -h, k), ["least", "descending"]),
    (lambda x, h, k: delete_top(x, h, k + 1), ["k + 1 pixels"]),
    (lambda x, h, k: delete_top(x, h, k - 1), ["k - 1 pixels"]),
    (lambda x, h, k: np.where(delete_top(x, h, k) == 0, 1.0, x), ["are 1", "0 (black)"]),
    (lambda x, h, k: delete_top(x, np.abs(h), k), ["absolute value"]),
    (lambda x, h, k: x.copy(), ["nothing was deleted"]),
    (_first_channel, ["only channel 0", "every channel"]),
    (_in_place, ["changed the image it was given", "copy"]),
    (lambda x, h, k: delete_top(x, h, k)[..., 0], ["shape (4, 5), expected (4, 5, 3)"]),
    (lambda x, h, k: delete_top(x, h, k) * 0.5, ["differs at"]),
    (lambda x, h, k: x[h], ["IndexError", "an array of shape (4, 5, 3)"]),
    (lambda x, h, k: "image", ["returned a str"]),
    (lambda x, h, k: None, ["returned None", "placeholder"]),
    (lambda x, h: x, ["TypeError"]),
    (..., ["placeholder"]),
])
def test_delete_top_slips(function, fragments):
    assert_not_yet(ch07.check_delete_top(function), *fragments)


# --- Exercise 2: the corner's share ---------------------------------------------------------------

def corner_share(heatmaps, size):
    corner = heatmaps[:, :size, :size].sum(axis=(1, 2))
    total = heatmaps.sum(axis=(1, 2))
    return np.divide(corner, total, out=np.zeros_like(total), where=total > 0)


def test_corner_share_solution_and_the_helper():
    assert_correct(ch07.check_corner_share(corner_share))
    assert_correct(ch07.check_corner_share(lambda h, size: clever_hans.corner_share(h, size)))
    assert_correct(ch07.check_corner_share(lambda h, size: list(corner_share(h, size))))


def _unsafe(heatmaps, size):
    with np.errstate(invalid="ignore", divide="ignore"):
        return heatmaps[:, :size, :size].sum(axis=(1, 2)) / heatmaps.sum(axis=(1, 2))


@pytest.mark.parametrize("function, fragments", [
    (_unsafe, ["heatmap 1 is all zero", "NaN", "return 0"]),
    (lambda h, s: h[:, :s, :s].sum(axis=(1, 2)), ["mass in the corner, not its share"]),
    (lambda h, s: h[:, :s, :s].sum(axis=(1, 2)) / h.sum(), ["sum of the whole batch"]),
    (lambda h, s: h[:, :s, :s].mean(axis=(1, 2)), ["mean value in the corner"]),
    (lambda h, s: np.full(len(h), s * s / (h.shape[1] * h.shape[2])), ["share of the *area*"]),
    (lambda h, s: corner_share(h, s + 1), ["corner of 3 pixels", "[:, :size, :size]"]),
    (lambda h, s: corner_share(h[:, ::-1], s), ["bottom-left"]),
    (lambda h, s: corner_share(h[:, :, ::-1], s), ["top-right"]),
    (lambda h, s: corner_share(h[:, ::-1, ::-1], s), ["bottom-right"]),
    (lambda h, s: np.full(len(h), corner_share(h, s).mean()), ["batch's mean share"]),
    (lambda h, s: corner_share(h, s).mean(), ["mean share of the batch", "shape (3,)"]),
    (lambda h, s: corner_share(h, s) + 0.1, ["differs at"]),
    (lambda h, s: corner_share(h, s)[:, None], ["shape (3, 1), expected (3,)"]),
    (lambda h, s: h.sum(axis=5), ["AxisError"]),
    (lambda h, s: {"share": 1}, ["returned a dict"]),
    (lambda h, s: None, ["returned None"]),
    (..., ["placeholder"]),
])
def test_corner_share_slips(function, fragments):
    assert_not_yet(ch07.check_corner_share(function), *fragments)


# --- Exercise 3: what each number can and cannot tell ------------------------------------------

RIGHT = {"A": False, "B": True, "C": False, "D": True, "E": False}


def test_claims_solution():
    assert_correct(ch07.check_claims(RIGHT))
    assert_correct(ch07.check_claims({k: np.bool_(v) for k, v in RIGHT.items()}))


@pytest.mark.parametrize("answer, fragments", [
    ({**RIGHT, "A": True}, ["not all 5 verdicts are right yet", "does not say which, or how many",
                            "A, the deletion column", "E, the Clever Hans section"]),
    ({**RIGHT, "C": ...}, ["claim C is still the placeholder"]),
    ({**RIGHT, "B": "yes"}, ["claim B: expected True or False, got 'yes'"]),
    ({**RIGHT, "B": 1}, ["expected True or False, got 1"]),
    ({"A": True}, ["no verdict for claims B, C, D, E"]),
    ({**RIGHT, "F": True}, ["unknown claim 'F'"]),
    ([True, False], ["expected a dict", "got a list"]),
    (..., ["placeholder"]),
])
def test_claims_slips(answer, fragments):
    assert_not_yet(ch07.check_claims(answer), *fragments)


def test_claims_check_gives_no_verdict_away():
    # Every wrong set of verdicts, whichever and however many, gets the same words: flipping
    # one letter at a time tells nothing.
    messages = set()
    for flips in itertools.product([False, True], repeat=len(RIGHT)):
        if any(flips):
            answer = {k: v != flip for (k, v), flip in zip(RIGHT.items(), flips, strict=True)}
            messages.add(repr(ch07.check_claims(answer)))
    assert len(messages) == 1
    for letter, (_, right, _) in ch07.CLAIMS.items():
        assert right == RIGHT[letter]

"""Self-checks for chapter 07 (notebooks/07_evaluating_explanations.ipynb), as the package
describes them; the code checks run the learner's function on small synthetic arrays, so
that no model has to be loaded; the last reads the learner's verdicts on claims about the
scores, and explains each wrong one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from helpers.exercises._common import (
    Case,
    CheckResult,
    check_answer,
    check_function,
    compare_arrays,
    same,
)

__all__ = [
    "check_claims",
    "check_corner_share",
    "check_delete_top",
]


# -- Exercise 1: one step of the deletion curve -------------------------------------------
def deletion_cases() -> list[tuple[np.ndarray, np.ndarray, int]]:
    """``(image, heatmap, k)``: images ``(H, W, C)`` with no zero pixel, so that a deleted
    pixel shows; heatmaps without ties, so that the k most salient pixels are one set.

    The first image is not square and has 3 channels (a deletion of one channel only
    shows); the heatmaps have both signs, as integrated gradients' can.
    """
    rng = np.random.default_rng(7)
    cases = []
    for shape, k in [((4, 5, 3), 6), ((6, 6, 1), 10), ((3, 7, 2), 1)]:
        image = rng.uniform(0.1, 1.0, shape).round(3).astype(np.float32)
        heatmap = rng.permutation(shape[0] * shape[1]).reshape(shape[:2]).astype(np.float32)
        # Both signs, no two equal absolute values: ranking by the absolute value picks
        # other pixels than ranking by the value, from either end.
        cases.append((image, heatmap - 0.4 * shape[0] * shape[1] - 0.25, k))
    return cases


def _delete(image: np.ndarray, heatmap: np.ndarray, k: int, largest: bool = True,
            value: float = 0.0) -> np.ndarray:
    order = np.argsort(-heatmap.ravel() if largest else heatmap.ravel())
    chosen = np.zeros(heatmap.size, bool)
    chosen[order[:k]] = True
    deleted = image.copy()
    deleted[chosen.reshape(heatmap.shape)] = value
    return deleted


def check_delete_top(delete_top: Callable) -> CheckResult:
    """Check ``delete_top(image, heatmap, k)``: the image with its ``k`` most salient pixels
    set to 0.

    Parameters
    ----------
    delete_top
        A function of one image ``(H, W, C)``, its heatmap ``(H, W)`` and a number of
        pixels ``k`` that returns a new image, the same shape, where the ``k`` pixels with
        the largest heatmap values are 0 in every channel and the others unchanged (chapter
        07, "Deletion and insertion by hand"). The image passed in must not change.
    """
    cases = deletion_cases()
    return check_function(delete_top, "delete_top", (_delete_top_case(*case) for case in cases),
                          f"delete_top is right on {len(cases)} images: the k pixels with the "
                          "largest heatmap values set to 0 in every channel, on a copy.")


def _delete_top_case(image: np.ndarray, heatmap: np.ndarray, k: int) -> Case:
    original = image.copy()  # the function gets ``image`` itself: changing it is a slip
    expected = _delete(image, heatmap, k)
    first_channel_only = image.copy()
    first_channel_only[..., 0] = _delete(image[..., :1], heatmap, k)[..., 0]
    call = f"delete_top(image, heatmap, k={k}) with an image of shape {image.shape}"
    return Case((image, heatmap.copy(), k), call,
                lambda array: np.array_equal(image, original) and same(array, expected), [
        (lambda array: not np.array_equal(image, original),
         lambda array: f"{call} changed the image it was given; work on a copy "
                       "(image.copy()), since the curve needs the original at every step."),
        (_delete(image, heatmap, k, largest=False), "this deleted the k *least* salient "
                                                    "pixels; sort by the heatmap in descending "
                                                    "order (np.argsort of -heatmap)."),
        (_delete(image, heatmap, k + 1), "this deleted k + 1 pixels; take exactly the first k "
                                         "of the order."),
        (_delete(image, heatmap, max(k - 1, 0)), "this deleted k - 1 pixels; take exactly the "
                                                 "first k of the order."),
        (_delete(image, heatmap, k, value=1.0), "the deleted pixels are 1; deletion sets them "
                                                "to 0 (black)."),
        (_delete(image, np.abs(heatmap), k), "this ranked the pixels by the absolute value of "
                                             "the heatmap; rank by the value itself, a "
                                             "negative value is evidence against the class."),
        (image.copy(), "nothing was deleted: set the chosen pixels to 0 in the copy you return."),
        *([(first_channel_only, "only channel 0 was deleted; set every channel of a chosen "
                                "pixel to 0 (deleted[rows, cols] = 0, or a boolean (H, W) mask "
                                "as the index).")] if image.shape[-1] > 1 else []),
        (lambda array: True,
         lambda array: f"{call}: {compare_arrays(array, expected, 'the result')}"),
    ], copy_args=False)


# -- Exercise 2: the share of a heatmap in the corner -------------------------------------
def corner_batches() -> list[tuple[np.ndarray, int]]:
    """``(heatmaps, size)``: non-negative maps ``(N, H, W)``, not square, one of them all
    zero (0 / 0), with different sums so that a share differs from a sum."""
    rng = np.random.default_rng(70)
    first = rng.uniform(0, 1, (3, 6, 8)) * np.array([1.0, 0.0, 30.0])[:, None, None]
    second = rng.uniform(0, 1, (2, 10, 10)) ** 3
    return [(first.round(3), 2), (second.round(3), 4)]


def _corner_share(heatmaps: np.ndarray, size: int, rows=slice(None), cols=slice(None)):
    corner = heatmaps[:, rows, cols][:, :size, :size].sum(axis=(1, 2))
    total = heatmaps.sum(axis=(1, 2))
    return np.divide(corner, total, out=np.zeros_like(total), where=total > 0)


def check_corner_share(corner_share: Callable) -> CheckResult:
    """Check ``corner_share(heatmaps, size)``: each map's share of mass in its top-left
    ``size`` x ``size`` corner.

    Parameters
    ----------
    corner_share
        A function of non-negative heatmaps ``(N, H, W)`` and a corner size that returns
        ``(N,)``: the sum of each map over its first ``size`` rows and columns, divided by
        the map's sum, and 0 for an all-zero map (chapter 07, "A Clever Hans model").
    """
    batches = corner_batches()
    return check_function(corner_share, "corner_share",
                          (_corner_share_case(*batch) for batch in batches),
                          f"corner_share is right on {len(batches)} batches: each map's mass "
                          "in the corner over its total mass, 0 for an all-zero map.")


def _corner_share_case(heatmaps: np.ndarray, size: int) -> Case:
    expected = _corner_share(heatmaps, size)
    zero = [int(n) for n in np.flatnonzero(heatmaps.sum(axis=(1, 2)) == 0)]
    corner = heatmaps[:, :size, :size].sum(axis=(1, 2))
    area = size * size / (heatmaps.shape[1] * heatmaps.shape[2])
    flipped = slice(None, None, -1)
    return Case((heatmaps, size), f"corner_share(heatmaps, size={size}) with heatmaps of "
                                  f"shape {heatmaps.shape}", expected, [
        *([(lambda array: array.shape == expected.shape and not np.all(np.isfinite(array[zero])),
            f"heatmap {zero[0]} is all zero, and 0 / 0 gave NaN; return 0 for a map with no "
            "mass (np.divide with `where=`).")] if zero else []),
        (corner, "this is the mass in the corner, not its share: divide by each map's total sum."),
        (np.divide(corner, heatmaps.sum(), out=np.zeros_like(corner)),
         "this divided by the sum of the whole batch; divide each map by its own sum (over "
         "axes 1 and 2)."),
        (heatmaps[:, :size, :size].mean(axis=(1, 2)),
         "this is the mean value in the corner; the share is the corner's sum over the map's sum."),
        (np.full(len(heatmaps), area), "this is the corner's share of the *area*; weigh the "
                                       "pixels by the heatmap."),
        (_corner_share(heatmaps, size + 1), f"this took a corner of {size + 1} pixels; take "
                                            f"rows and columns 0 to {size - 1} ([:, :size, "
                                            ":size])."),
        (_corner_share(heatmaps, size, rows=flipped),
         "this is the bottom-left corner; the mark is in the top-left, the first rows."),
        (_corner_share(heatmaps, size, cols=flipped),
         "this is the top-right corner; the mark is in the top-left, the first columns."),
        (_corner_share(heatmaps, size, flipped, flipped),
         "this is the bottom-right corner; the mark is in the top-left."),
        (np.full(len(heatmaps), expected.mean()), "this is the batch's mean share for every "
                                                  "map; return one share per map."),
        (expected.mean(), "this is the mean share of the batch; return one share per map, "
                          f"shape ({len(heatmaps)},)."),
    ])


# -- Exercise 3: what each number can and cannot tell -------------------------------------
#: The claims of exercise 3, the right verdicts, and why, shown when a verdict is wrong.
CLAIMS: dict[str, tuple[str, bool, str]] = {
    "A": ("A heatmap equal to the object's mask always has the smallest deletion AUC.",
          False,
          "deletion measures what the *model* needs, not where the object is. On the "
          "shapes the mask's deletion AUC is no smaller than saliency's or Grad-CAM's, and "
          "hardly smaller than a random map's: black pixels scattered anywhere break the "
          "model as fast as removing the object does."),
    "B": ("A heatmap computed without looking at the model can win the pointing game.",
          True,
          "the mask itself scores 1.0 and looks at no model; and the centered blob scores "
          "above 0 on images whose object is near the center. The pointing game checks "
          "agreement with a person's annotation, not with the model."),
    "C": ("The randomization test needs the objects' masks.",
          False,
          "it compares the maps of the trained and of the randomized model with each "
          "other; no annotation enters, which is why it works on any photo."),
    "D": ("A method whose maps stay the same when every layer's weights are randomized "
          "cannot be explaining the trained model's decision.",
          True,
          "the maps do not depend on what the model learned, so they cannot show what it "
          "learned; they show something about the image, like an edge detector does."),
    "E": ("A high Grad-CAM pointing-game score on marked images would have shown that the "
          "Clever Hans model looks at the garment.",
          False,
          "the masks were not known there; and a map peaking on the garment while the "
          "model relies on the corner would be a wrong explanation, not a right model. "
          "The corner's share of the map, and the accuracy without the mark, tell."),
}


#: Where in chapter 07 each claim is settled, the hint a wrong set of verdicts gets.
CLAIM_EVIDENCE: dict[str, str] = {
    "A": "the deletion column of the shapes table, the mask's row",
    "B": "the pointing game's rows for the mask and the centered blob",
    "C": "what the randomization test compares",
    "D": "the edge detector in the randomization test",
    "E": "the Clever Hans section, its masks and its corner share",
}


def check_claims(claims: Any) -> CheckResult:
    """Check the verdicts on the claims of :data:`CLAIMS`.

    Parameters
    ----------
    claims
        A dict from each claim's letter (``"A"`` to ``"E"``) to ``True`` or ``False``
        (chapter 07, "What each number can and cannot tell").
    """
    right = np.array([verdict for _, verdict, _ in CLAIMS.values()])
    case = Case((), "", right, [(lambda verdicts: True, _wrong_claims)])
    return check_answer(claims, "claims", [case],
                        f"all {len(CLAIMS)} verdicts are right: the pointing game needs masks "
                        "and ignores the model, deletion and insertion need no masks but follow "
                        "the model's own evidence, and the randomization test asks whether the "
                        "map depends on the model at all.", read=_read_claims)


def _read_claims(claims: Any, name: str) -> tuple[np.ndarray | None, str | None]:
    """The verdicts as an array of 0s and 1s, in the order of :data:`CLAIMS`."""
    if not isinstance(claims, dict):
        return None, (f"expected a dict from each letter to True or False, like "
                      f"{{'A': True, 'B': False, ...}}; got a {type(claims).__name__}.")
    missing = [letter for letter in CLAIMS if letter not in claims]
    if missing:
        return None, (f"no verdict for claim{'s' if len(missing) > 1 else ''} "
                      f"{', '.join(missing)}: give each letter from A to E True or False.")
    extra = sorted(str(key) for key in claims if key not in CLAIMS)
    if extra:
        return None, f"unknown claim {extra[0]!r}: the claims are {', '.join(CLAIMS)}."
    for letter in CLAIMS:
        if claims[letter] is Ellipsis:
            return None, (f"claim {letter} is still the placeholder `...`; replace it with "
                          "True or False.")
        if not isinstance(claims[letter], bool | np.bool_):
            return None, f"claim {letter}: expected True or False, got {claims[letter]!r}."
    return np.array([bool(claims[letter]) for letter in CLAIMS]), None


def _wrong_claims(verdicts: np.ndarray) -> str:
    # Neither which verdicts are wrong nor how many is said: naming the first wrong one, or
    # counting them (flip one letter, watch the count), would let trial and error stand in
    # for the reasoning.
    where = "; ".join(f"{letter}, {place}" for letter, place in CLAIM_EVIDENCE.items())
    return (f"not all {len(CLAIMS)} verdicts are right yet. The check does not say which, "
            f"or how many, so that trying combinations teaches nothing. Each claim is "
            f"settled in one place of this chapter: {where}.")

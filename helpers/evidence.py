"""The evidence behind chapter 07's claims about methods on photographs, measured once.

Every method of chapters 05 and 06, at the settings those chapters use on the ImageNet
network, explains every tile of 64 photo mosaics (:func:`helpers.data.photo_grid`): 256
maps per method. That is about a quarter of an hour on 2 CPU cores, too long for a chapter, so, as
with the trained models, a script measures it once and the chapter loads the result::

    python -m helpers.evidence          # writes helpers/photo_evidence.npz

The chapter (``notebooks/07_evaluating_explanations.ipynb``) recomputes the first mosaics
live and checks that they match the stored numbers; ``tests/test_evidence.py`` does the
same. What is stored are per-tile numbers, not maps: for each method, the grid pointing game
(:func:`helpers.evaluate.pointing_game`) and the share of the map's mass in the tile
(:func:`helpers.evaluate.mask_share`), and the rank correlation between the maps of every
two tiles' classes in a mosaic (the class sensitivity of
:func:`helpers.evaluate.class_sensitivity`, with the other tiles' classes as the "other"
classes). Integrated Gradients' completeness is stored too, tile by tile and on the photos
themselves, at several numbers of steps.
"""

from __future__ import annotations

import functools
import itertools
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from helpers import evaluate, imagenet
from helpers.data import PHOTO_CLASSES, load_photo, photo_grid
from helpers.explain import (
    cam,
    grad_cam,
    grad_cam_plus_plus,
    integrated_gradients,
    saliency,
    score_cam,
    smoothgrad,
)

PATH = Path(__file__).with_name("photo_evidence.npz")
#: The mosaics: ``photo_grid(MOSAICS, grid=2, size=224, seed=MOSAIC_SEED)``.
MOSAICS, GRID, MOSAIC_SEED = 64, 2, 0
#: Chapter 05's settings on photos: SmoothGrad's copies and noise; Integrated Gradients' black
#: baseline. Chapter 06's: Score-CAM's channels.
SMOOTHGRAD_SAMPLES, SMOOTHGRAD_NOISE = 16, 0.15
IG_STEPS = 256
SCORE_CAM_CHANNELS = 64
#: Numbers of steps at which Integrated Gradients' completeness is measured on the photos.
COMPLETENESS_STEPS = (32, 64, 128, 256)


# -- maps that are not methods: the baselines ------------------------------------------------
def random_map(model, images, class_index=None, *, seed: int = 0) -> np.ndarray:
    """Not an explanation: uniform noise, drawn afresh for every image and class (seeded by
    the image's pixels and the class, so that a batch gives the same maps however it is
    split)."""
    images = np.ascontiguousarray(images, np.float32)
    classes = np.broadcast_to(np.asarray(-1 if class_index is None else class_index),
                              (len(images),))
    return np.stack([
        np.random.default_rng([seed, int(c) + 1, zlib.crc32(image.tobytes())])
        .uniform(size=image.shape[:2]) for image, c in zip(images, classes, strict=True)
    ]).astype(np.float32)


def centered_blob(model, images, class_index=None) -> np.ndarray:
    """Not an explanation: a Gaussian in the middle of every image (sigma 1/5 of the height),
    the prior that objects sit in the middle."""
    n, height, width = np.asarray(images).shape[:3]
    rows, cols = np.mgrid[:height, :width]
    sigma = height / 5
    blob = np.exp(-((rows - (height - 1) / 2) ** 2 + (cols - (width - 1) / 2) ** 2)
                  / (2 * sigma**2))
    return np.broadcast_to(blob, (n, height, width)).astype(np.float32)


def edges(model, images, class_index=None) -> np.ndarray:
    """Not an explanation: the image's edge strength (central differences), whatever the
    model and the class."""
    gray = np.asarray(images, np.float32).mean(axis=-1)
    padded = np.pad(gray, ((0, 0), (1, 1), (1, 1)), mode="edge")
    dy = padded[:, 2:, 1:-1] - padded[:, :-2, 1:-1]
    dx = padded[:, 1:-1, 2:] - padded[:, 1:-1, :-2]
    return np.hypot(dx, dy)


def photo_methods(seed: int = 0) -> dict[str, Callable]:
    """Chapter 07's maps for the ImageNet network, each ``f(model, images, class_index)``:
    the seven methods at the settings of chapters 05 and 06, then three baselines.
    Integrated Gradients gives signed attributions per channel; :func:`measure` scores the
    sum of their absolute values over the channels, as chapters 05 and 07 show them."""
    black = imagenet.preprocess(np.zeros((224, 224, 3), np.float32))
    return {
        "saliency": saliency,
        "SmoothGrad": functools.partial(smoothgrad, samples=SMOOTHGRAD_SAMPLES,
                                        noise=SMOOTHGRAD_NOISE, seed=seed),
        "Integrated Gradients": functools.partial(integrated_gradients, baseline=black,
                                                  steps=IG_STEPS),
        "CAM": cam,
        "Grad-CAM": grad_cam,
        "Grad-CAM++": grad_cam_plus_plus,
        "Score-CAM": functools.partial(score_cam, max_channels=SCORE_CAM_CHANNELS),
        "random map": functools.partial(random_map, seed=seed),
        "centered blob": centered_blob,
        "edges": edges,
    }


# -- measuring -------------------------------------------------------------------------------
PAIRS = tuple(itertools.combinations(range(GRID * GRID), 2))


def score_tiles(maps: np.ndarray, masks: np.ndarray) -> dict[str, np.ndarray]:
    """Scores of the maps of a batch of mosaics, one map per tile's class.

    Parameters
    ----------
    maps
        ``(n, T, H, W)``: for mosaic ``i``, the map for the class of tile ``t``.
    masks
        bool ``(n, T, H, W)``, as :func:`helpers.data.photo_grid` returns them.

    Returns
    -------
    dict
        ``"hits"`` and ``"shares"``: float64 ``(n, T)``, the pointing game and the mask share
        of each map in its own tile; ``"sensitivity"``: float64 ``(n, P)``, the rank
        correlation of the maps of tiles ``a`` and ``b`` for each pair of :data:`PAIRS`.
    """
    n, tiles = masks.shape[:2]
    flat_maps, flat_masks = maps.reshape(n * tiles, *maps.shape[2:]), masks.reshape(
        n * tiles, *masks.shape[2:])
    hits = evaluate.pointing_game(flat_maps, flat_masks, per_image=True).reshape(n, tiles)
    shares = evaluate.mask_share(flat_maps, flat_masks).reshape(n, tiles)
    pairs = list(itertools.combinations(range(tiles), 2))
    sensitivity = np.stack([evaluate.rank_correlation(maps[:, a], maps[:, b])
                            for a, b in pairs], axis=1)
    return {"hits": hits, "shares": shares, "sensitivity": sensitivity}


def explain_tiles(model, x: np.ndarray, classes: np.ndarray, method: Callable) -> np.ndarray:
    """``method``'s map of every mosaic for every tile's class: ``(n, T, H, W)``, or ``(n,
    T, H, W, C)`` for attributions per channel."""
    n, tiles = classes.shape
    repeated = np.repeat(x, tiles, axis=0)
    maps = np.asarray(method(model, repeated, class_index=[int(c) for c in classes.ravel()]),
                      np.float32)
    return maps.reshape(n, tiles, *maps.shape[1:])


def _logits(model, images: np.ndarray) -> np.ndarray:
    """The ImageNet network's logits: its last Dense layer, before the softmax."""
    import keras

    pooled = keras.Model(model.input, model.get_layer("avg_pool").output)
    kernel, bias = model.get_layer("predictions").get_weights()
    return np.concatenate([np.asarray(pooled(images[i:i + 32])) @ kernel + bias
                           for i in range(0, len(images), 32)])


def logit_gaps(model, x: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """``logit(x) - logit(black)`` for each image's class, or classes: ``classes`` is ``(n,)``
    or ``(n, T)``, and so is the result. What Integrated Gradients' attributions from the
    black photo should add up to (completeness, chapter 05)."""
    classes = np.asarray(classes)
    per_image = classes.reshape(len(x), -1)
    black = imagenet.preprocess(np.zeros((1, 224, 224, 3), np.float32))
    gaps = (np.take_along_axis(_logits(model, x), per_image, axis=1)
            - _logits(model, black)[0, per_image])
    return gaps.reshape(classes.shape)


def completeness_gaps(model, x: np.ndarray, classes: np.ndarray, steps: int) -> np.ndarray:
    """Integrated Gradients' relative completeness gap, ``sum(attributions) / (logit(x) -
    logit(black)) - 1``, for each image and its class (black baseline, as chapter 05)."""
    black = imagenet.preprocess(np.zeros((224, 224, 3), np.float32))
    attributions = integrated_gradients(model, x, [int(c) for c in classes], baseline=black,
                                        steps=steps)
    return attributions.reshape(len(x), -1).sum(axis=1) / logit_gaps(model, x, classes) - 1.0


def measure(n: int = MOSAICS, *, methods: dict[str, Callable] | None = None,
            progress: bool = True) -> dict[str, np.ndarray]:
    """Every method on the first ``n`` mosaics of ``photo_grid(MOSAICS, seed=MOSAIC_SEED)``.

    Returns the arrays :func:`load` reads (see the module's docstring): for each method
    ``name``, ``name/hits``, ``name/shares`` and ``name/sensitivity`` (:func:`score_tiles`);
    for a method that returns attributions per channel (Integrated Gradients), also
    ``name/logit_gap``, ``(n, T)``: ``logit(x) - logit(black)`` for each tile's class, and
    ``name/completeness``: ``sum(attributions) / name/logit_gap - 1``. Smaller ``n`` and
    ``methods`` give the first rows of the full measurement, which is how the chapter and the
    tests check the stored file.
    """
    from tqdm.auto import tqdm

    model = imagenet.load_model()
    images, classes, masks = photo_grid(MOSAICS, grid=GRID, seed=MOSAIC_SEED)
    images, classes, masks = images[:n], classes[:n], masks[:n]
    x = imagenet.preprocess(images)
    methods = photo_methods() if methods is None else methods
    result: dict[str, np.ndarray] = {"classes": classes, "methods": np.array(list(methods))}
    chunks = [slice(i, i + 4) for i in range(0, n, 4)]
    bar = tqdm(total=len(methods) * len(chunks), desc="maps of 4 mosaics", disable=not progress)
    for name, method in methods.items():
        maps = []
        for chunk in chunks:
            maps.append(explain_tiles(model, x[chunk], classes[chunk], method))
            bar.update()
        maps = np.concatenate(maps)
        if maps.ndim == 5:  # attributions per channel: completeness, then one map
            gap = logit_gaps(model, x, classes)
            result[f"{name}/logit_gap"] = gap
            result[f"{name}/completeness"] = maps.sum(axis=(2, 3, 4)) / gap - 1.0
            maps = np.abs(maps).sum(axis=-1)
        for key, value in score_tiles(maps, masks).items():
            result[f"{name}/{key}"] = value
    bar.close()
    return result


def measure_completeness() -> dict[str, np.ndarray]:
    """Integrated Gradients' completeness gap on the photos of :data:`PHOTO_CLASSES` (each
    alone, at 224 x 224), at each of :data:`COMPLETENESS_STEPS`: ``(S, P)``."""
    model = imagenet.load_model()
    names = list(PHOTO_CLASSES)
    photos = imagenet.preprocess(np.stack([load_photo(name, size=224) for name in names]))
    classes = np.array([PHOTO_CLASSES[name] for name in names])
    gaps = np.stack([completeness_gaps(model, photos, classes, steps)
                     for steps in COMPLETENESS_STEPS])
    return {"photo_names": np.array(names), "completeness_steps": np.array(COMPLETENESS_STEPS),
            "photo_completeness": gaps}


def load(path: Path | str = PATH) -> dict[str, np.ndarray]:
    """The stored measurement: a dict of arrays (see the module's docstring)."""
    with np.load(path) as stored:
        return {key: stored[key] for key in stored.files}


def main() -> None:
    """Measure everything and write :data:`PATH` (about a quarter of an hour on 2 cores)."""
    import helpers

    helpers.setup()
    result = measure()
    result.update(measure_completeness())
    np.savez_compressed(PATH, **result)
    print(f"wrote {PATH}")


if __name__ == "__main__":
    main()

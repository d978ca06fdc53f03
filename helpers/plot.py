"""Pictures: image grids with titles and heatmaps laid over images.

``show_images`` and ``show_matrices`` are introduced in chapter 01
(``notebooks/01_convolution.ipynb``);
``show_feature_maps`` in chapter 03 (``notebooks/03_feature_maps.ipynb``); ``show_filters``
in chapter 04 (``notebooks/04_filter_visualization.ipynb``); ``show_attributions`` and
``show_overlays`` in chapter 05 (``notebooks/05_saliency.ipynb``); ``overlay`` in chapter 06
(``notebooks/06_class_activation_maps.ipynb``).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.font_manager import FontProperties

from helpers._validate import check_finite, check_positive_int


def _as_displayable(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] != 3):
        raise ValueError(f"expected an image (H, W), (H, W, 1) or (H, W, 3), got {image.shape}")
    return image


def show_images(
    images: Sequence[np.ndarray] | np.ndarray,
    titles: Sequence[str] | None = None,
    ncols: int | None = None,
    cmap: str | None = None,
    size: float = 2.0,
    colorbar: bool = False,
    suptitle: str | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
) -> plt.Figure:
    """Show images side by side in a grid, each with an optional title.

    Parameters
    ----------
    images
        A sequence of images ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)``, or one array
        ``(N, H, W[, C])``. Gray images use ``cmap``; RGB images are shown as they are.
    titles
        One title per panel, or ``None``.
    ncols
        Panels per row; ``None`` puts up to 8 on a row.
    cmap, vmin, vmax
        Passed to ``imshow`` for gray images (``vmin``/``vmax`` fix a shared scale).
    size
        Width and height of each panel, in inches.
    colorbar
        Draw a colorbar next to each gray panel, where its values matter.
    suptitle
        A title over the whole grid.

    Returns
    -------
    matplotlib.figure.Figure
    """
    images = [_as_displayable(image) for image in images]
    if not images:
        raise ValueError("expected at least one image, got none")
    columns = min(len(images), 8) if ncols is None else ncols
    fig, axes = _grid(len(images), ncols, size, titles, suptitle=suptitle,
                      extra_width=0.25 * size * columns if colorbar else 0.0)
    for ax, image in zip(axes.flat, images, strict=False):
        shown = ax.imshow(image, cmap=cmap if image.ndim == 2 else None, vmin=vmin, vmax=vmax)
        if colorbar and image.ndim == 2:
            fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
    return _finish(fig, suptitle)


def show_matrices(
    matrices: Sequence[np.ndarray],
    titles: Sequence[str] | None = None,
    *,
    boxes: Sequence[tuple[int, int, int, int, int]] = (),
    limit: float | None = None,
    size: float = 2.1,
    cmap: str = "coolwarm",
) -> plt.Figure:
    """Small arrays side by side, as colored grids with each value written in its cell.

    For the hand-sized examples where the numbers are the point (an image, a kernel and
    their output; a map before and after pooling). Introduced in chapter 01
    (notebooks/01_convolution.ipynb), reused in chapter 02.

    Parameters
    ----------
    matrices
        2-D arrays of numbers, one per panel; their shapes may differ.
    titles
        One title per panel, or ``None``.
    boxes
        Blocks of cells to outline, each ``(panel, row, col, height, width)``: on panel
        ``panel``, the block whose top-left cell is ``(row, col)``, ``height`` cells high and
        ``width`` cells wide.
    limit
        The value drawn in the colormap's strongest color, on both sides of 0. ``None``:
        1.6 times each panel's largest absolute value, so that the colors stay pale and the
        written numbers readable. Give one number to draw every panel on the same scale.
    size
        Width of each panel, in inches.
    cmap
        A diverging colormap: 0 is its middle color (white for ``"coolwarm"``), since the
        values (kernel weights, edge responses) are often signed.

    Returns
    -------
    matplotlib.figure.Figure
    """
    matrices = [np.asarray(matrix, dtype=float) for matrix in matrices]
    if not matrices:
        raise ValueError("expected at least one matrix, got none")
    if any(matrix.ndim != 2 for matrix in matrices):
        raise ValueError(f"expected 2-D arrays, got shapes {[m.shape for m in matrices]}")
    for matrix in matrices:
        check_finite(matrix, "matrices")
    _check_titles(titles, len(matrices))
    for box in boxes:
        if len(box) != 5 or not 0 <= box[0] < len(matrices):
            raise ValueError(f"a box is (panel, row, col, height, width) with panel from 0 to "
                             f"{len(matrices) - 1}, got {box}")
    fig, axes = plt.subplots(1, len(matrices), squeeze=False,
                             figsize=(size * len(matrices), size + 0.3))
    for index, (ax, matrix) in enumerate(zip(axes.flat, matrices, strict=True)):
        scale = 1.6 * max(float(np.abs(matrix).max()), 1e-9) if limit is None else limit
        ax.imshow(matrix, cmap=cmap, vmin=-scale, vmax=scale)
        for (row, col), value in np.ndenumerate(matrix):
            ax.text(col, row, f"{value:g}", ha="center", va="center")
        if titles is not None:
            ax.set_title(titles[index])
        ax.set(xticks=[], yticks=[])
    for panel, row, col, height, width in boxes:
        # Cell (row, col) is centered on (col, row): its top-left corner is half a cell off.
        axes.flat[panel].add_patch(plt.Rectangle((col - 0.5, row - 0.5), width, height,
                                                 fill=False, edgecolor="black", linewidth=3))
    fig.tight_layout()
    return fig


#: Colormap of heatmaps laid over images: perceptually uniform and sequential (a heatmap is
#: never negative), so equal steps in value look like equal steps in color; jet does not.
HEATMAP_CMAP = "inferno"


def overlay(image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.5,
            cmap: str = HEATMAP_CMAP, vmax: float | None = None) -> np.ndarray:
    """Lay a heatmap over an image, as an RGB array ready for ``plt.imshow``.

    Parameters
    ----------
    image
        ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)`` with values in [0, 1].
    heatmap
        ``(H, W)``, non-negative; it is scaled to [0, 1] by its maximum for display
        (an all-zero heatmap gives the colormap's lowest color).
    alpha
        Weight of the heatmap's colors, between 0 (image only) and 1 (heatmap only).
    cmap
        A matplotlib colormap name.
    vmax
        The heatmap value shown as the top color; ``None``: the heatmap's own maximum.
        Give the same ``vmax`` to several heatmaps to compare them on one scale.

    Returns
    -------
    numpy.ndarray
        ``(H, W, 3)`` float32 in [0, 1].
    """
    image = _as_displayable(image).astype(np.float32)
    heatmap = np.asarray(heatmap, dtype=np.float32)
    if heatmap.shape != image.shape[:2]:
        raise ValueError(f"heatmap shape {heatmap.shape} does not match image {image.shape[:2]}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    check_finite(heatmap, "heatmap")
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    peak = float(heatmap.max()) if vmax is None else float(vmax)
    scaled = np.clip(heatmap / peak, 0.0, 1.0) if peak > 0 else np.zeros_like(heatmap)
    colors = plt.get_cmap(cmap)(scaled)[..., :3].astype(np.float32)
    return np.clip((1 - alpha) * image + alpha * colors, 0.0, 1.0).astype(np.float32)


def _grid(count: int, ncols: int | None, size: float, titles: Sequence[str] | None = None,
          extra_width: float = 0.0, suptitle: str | None = None):
    """A grid of ``count`` panels without axis lines, the first ones titled by ``titles``."""
    _check_titles(titles, count)
    ncols = min(count, 8) if ncols is None else check_positive_int(ncols, "ncols")
    nrows = -(-count // ncols)
    fig, axes = plt.subplots(nrows, ncols, squeeze=False,
                             figsize=(size * ncols + extra_width,
                                      size * nrows + (0.3 if suptitle else 0)))
    for ax in axes.flat:
        ax.axis("off")
    for ax, title in zip(axes.flat, () if titles is None else titles, strict=False):
        ax.set_title(title)
    return fig, axes


def _check_titles(titles, count):
    if titles is not None and len(titles) != count:
        raise ValueError(f"got {len(titles)} titles for {count} panels")


def _finish(fig, suptitle, colorbar_of=None, axes=None, label=None):
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    if colorbar_of is not None:
        bar = fig.colorbar(colorbar_of, ax=list(np.ravel(axes)), fraction=0.03, pad=0.02)
        bar.set_label(label)
    return fig


def show_overlays(
    images: np.ndarray | Sequence[np.ndarray],
    heatmaps: np.ndarray | Sequence[np.ndarray],
    titles: Sequence[str] | None = None,
    *,
    ncols: int | None = None,
    alpha: float = 0.5,
    cmap: str = HEATMAP_CMAP,
    shared_scale: bool = False,
    label: str | None = None,
    colorbar: bool = True,
    size: float = 2.0,
    suptitle: str | None = None,
) -> plt.Figure:
    """Heatmaps laid over their images, in a grid with titles and one shared colorbar.

    Use it for a batch (one heatmap per image) or to compare methods on one image (one
    image, several heatmaps). Introduced in chapter 05 (notebooks/05_saliency.ipynb), used
    for every heatmap from there on.

    Parameters
    ----------
    images
        ``(N, H, W[, C])`` or a sequence of images, one per heatmap; or one image
        ``(H, W[, C])`` shown under every heatmap. Values in [0, 1].
    heatmaps
        ``(N, H, W)`` or a sequence of ``(H, W)`` maps, non-negative (as
        :mod:`helpers.explain` returns them).
    titles
        One title per panel, or ``None``.
    ncols
        Panels per row; ``None`` puts up to 8 on a row.
    alpha, cmap
        As for :func:`overlay`.
    shared_scale
        ``False``: each heatmap is scaled by its own maximum and the colorbar reads
        "fraction of the map's maximum"; ``True``: all share the largest maximum and the
        colorbar shows heatmap values, so panels can be compared.
    label
        The colorbar's label, naming the heatmap's unit on a shared scale (for example
        ``"|d logit / d pixel|"``); ``None``: "heatmap value" with ``shared_scale``,
        otherwise "fraction of the map's maximum".
    colorbar
        Draw the shared colorbar.
    size
        Width and height of each panel, in inches.
    suptitle
        A title over the whole grid.

    Returns
    -------
    matplotlib.figure.Figure
    """
    heatmaps = [np.asarray(h, dtype=np.float32) for h in heatmaps]
    if not heatmaps:
        raise ValueError("expected at least one heatmap, got none")
    if any(h.ndim != 2 for h in heatmaps):
        raise ValueError(f"expected heatmaps (N, H, W) or a sequence of (H, W), got shapes "
                         f"{[h.shape for h in heatmaps]}")
    array = None if isinstance(images, (list, tuple)) else np.asarray(images)
    one_image = array is not None and array.shape[:2] == heatmaps[0].shape and (
        array.ndim == 2 or (array.ndim == 3 and array.shape[-1] in (1, 3)))
    images = [array] * len(heatmaps) if one_image else list(images)
    if len(images) != len(heatmaps):
        raise ValueError(f"got {len(images)} images for {len(heatmaps)} heatmaps")
    vmax = max(float(h.max()) for h in heatmaps) if shared_scale else None
    fig, axes = _grid(len(heatmaps), ncols, size, titles, extra_width=0.8 if colorbar else 0,
                      suptitle=suptitle)
    for ax, image, heatmap in zip(axes.flat, images, heatmaps, strict=False):
        ax.imshow(overlay(image, heatmap, alpha=alpha, cmap=cmap, vmax=vmax))
    mappable = (plt.cm.ScalarMappable(norm=plt.Normalize(0.0, vmax or 1.0), cmap=cmap)
                if colorbar else None)
    if label is None:
        label = "heatmap value" if shared_scale else "fraction of the map's maximum"
    return _finish(fig, suptitle, mappable, axes, label)


def show_filters(
    images: np.ndarray,
    titles: Sequence[str] | None = None,
    *,
    ncols: int | None = None,
    size: float = 1.2,
    stretch: bool = True,
    suptitle: str | None = None,
) -> plt.Figure:
    """A grid of filter visualizations, as :func:`helpers.explain.maximize_activation`
    returns them.

    Introduced in chapter 04 (notebooks/04_filter_visualization.ipynb).

    Parameters
    ----------
    images
        ``(F, H, W, C)`` with ``C`` 1 (shown in gray) or 3, values in [0, 1].
    titles
        One title per filter (for example ``[f"filter {f}" for f in filters]``), or ``None``.
    ncols
        Panels per row; ``None`` puts up to 8 on a row.
    size
        Width and height of each panel, in inches.
    stretch
        Stretch each image's contrast to its 1st-99th percentile (a display choice that
        makes faint patterns visible); ``False`` shows the values as they are.
    suptitle
        A title over the whole grid.

    Returns
    -------
    matplotlib.figure.Figure
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"expected filter images (F, H, W, 1) or (F, H, W, 3), got "
                         f"{images.shape}")
    fig, axes = _grid(len(images), ncols, size, titles, suptitle=suptitle)
    if titles is not None:
        # Room for each row's titles above its images: with square panels only, the row
        # below's titles ended up behind the images of the row above.
        lines = max(str(title).count("\n") + 1 for title in titles)
        points = FontProperties(size=plt.rcParams["axes.titlesize"]).get_size_in_points()
        title_height = lines * points / 72 * 1.3 + 0.1  # inches
        width, height = fig.get_size_inches()
        fig.set_size_inches(width, height + axes.shape[0] * title_height)
    for ax, image in zip(axes.flat, images, strict=False):
        if stretch:
            low, high = np.percentile(image, [1, 99])
            image = np.clip((image - low) / (high - low), 0, 1) if high > low else image
        ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray", vmin=0,
                  vmax=1)
    return _finish(fig, suptitle)


def show_feature_maps(
    maps: np.ndarray,
    channels: Sequence[int] | None = None,
    *,
    ncols: int | None = None,
    size: float = 1.2,
    cmap: str = "viridis",
    shared_scale: bool = False,
    suptitle: str | None = None,
) -> plt.Figure:
    """The channels of one layer's output for one image, in a grid titled by channel.

    Introduced in chapter 03 (notebooks/03_feature_maps.ipynb).

    Parameters
    ----------
    maps
        ``(h, w, c)``: one image's feature maps, as :func:`helpers.explain.feature_maps`
        returns them for one image.
    channels
        Which channels to show; ``None``: all of them.
    ncols
        Panels per row; ``None`` puts up to 8 on a row.
    size
        Width and height of each panel, in inches.
    cmap
        A matplotlib colormap name.
    shared_scale
        One color scale for all channels (with a colorbar), to see which respond most;
        ``False`` scales each channel to its own range.
    suptitle
        A title over the whole grid.

    Returns
    -------
    matplotlib.figure.Figure
    """
    maps = np.asarray(maps, dtype=np.float32)
    if maps.ndim != 3:
        raise ValueError(f"expected one image's feature maps (h, w, channels), got {maps.shape}; "
                         "for a batch, pick one image: maps[i]")
    channels = list(range(maps.shape[-1])) if channels is None else list(channels)
    if not channels:
        raise ValueError("expected at least one channel, got none")
    bad = [c for c in channels if not 0 <= c < maps.shape[-1]]
    if bad:
        raise ValueError(f"channels {bad} out of range: the maps have {maps.shape[-1]} channels")
    vmin, vmax = ((float(maps[..., channels].min()), float(maps[..., channels].max()))
                  if shared_scale else (None, None))
    fig, axes = _grid(len(channels), ncols, size, extra_width=0.8 if shared_scale else 0,
                      suptitle=suptitle)
    for ax, channel in zip(axes.flat, channels, strict=False):
        shown = ax.imshow(maps[..., channel], cmap=cmap, vmin=vmin, vmax=vmax)
        ax.set_title(str(channel), fontsize=8)
    return _finish(fig, suptitle, shown if shared_scale else None, axes, "activation")


def show_attributions(
    images: np.ndarray,
    attributions: np.ndarray,
    titles: Sequence[str] | None = None,
    *,
    size: float = 2.0,
    cmap: str = "RdBu_r",
    suptitle: str | None = None,
) -> plt.Figure:
    """Images above their signed attributions (summed over channels), on one symmetric
    color scale: red pushes the class score up, blue pushes it down.

    Introduced in chapter 05 (notebooks/05_saliency.ipynb), for
    :func:`helpers.explain.integrated_gradients`.

    Parameters
    ----------
    images
        ``(N, H, W[, C])``, values in [0, 1].
    attributions
        ``(N, H, W, C)`` or ``(N, H, W)``, signed.
    titles
        One title per image, or ``None``.
    size
        Width and height of each panel, in inches.
    cmap
        A diverging matplotlib colormap.
    suptitle
        A title over the whole grid.

    Returns
    -------
    matplotlib.figure.Figure
    """
    images = [_as_displayable(image) for image in images]
    attributions = np.asarray(attributions, dtype=np.float32)
    if attributions.ndim == 4:
        attributions = attributions.sum(axis=-1)
    if attributions.ndim != 3 or len(attributions) != len(images):
        raise ValueError(f"expected one attribution map per image, (N, H, W[, C]) with N = "
                         f"{len(images)}, got {attributions.shape}")
    _check_titles(titles, len(images))
    limit = float(np.abs(attributions).max()) or 1.0
    fig, axes = _grid(2 * len(images), len(images), size, extra_width=0.8, suptitle=suptitle)
    for index, (image, attribution) in enumerate(zip(images, attributions, strict=True)):
        top, bottom = axes[:, index]
        top.imshow(image, cmap="gray" if image.ndim == 2 else None)
        top.set_title("" if titles is None else titles[index])
        shown = bottom.imshow(attribution, cmap=cmap, vmin=-limit, vmax=limit)
    return _finish(fig, suptitle, shown, axes, "attribution")

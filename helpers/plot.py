"""Pictures: image grids with titles and heatmaps laid over images.

``show_images`` is introduced in chapter 01 (``notebooks/01_convolution.ipynb``);
``overlay`` in the chapters on class activation maps.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np


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
        One title per image, or ``None``.
    ncols
        Images per row; ``None`` puts up to 8 on a row.
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
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"got {len(titles)} titles for {len(images)} images")
    ncols = min(len(images), 8) if ncols is None else ncols
    nrows = -(-len(images) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols * (1.25 if colorbar else 1),
                                                     size * nrows + (0.3 if suptitle else 0)),
                             squeeze=False)
    for index, ax in enumerate(axes.flat):
        ax.axis("off")
        if index >= len(images):
            continue
        shown = ax.imshow(images[index], cmap=cmap if images[index].ndim == 2 else None,
                          vmin=vmin, vmax=vmax)
        if titles is not None:
            ax.set_title(titles[index])
        if colorbar and images[index].ndim == 2:
            fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def overlay(image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.5,
            cmap: str = "jet") -> np.ndarray:
    """Lay a heatmap over an image, as an RGB array ready for ``plt.imshow``.

    Parameters
    ----------
    image
        ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)`` with values in [0, 1].
    heatmap
        ``(H, W)``, non-negative; it is scaled to [0, 1] by its maximum for display
        (an all-zero heatmap leaves the image as it is).
    alpha
        Weight of the heatmap's colors, between 0 (image only) and 1 (heatmap only).
    cmap
        A matplotlib colormap name.

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
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    peak = float(heatmap.max())
    scaled = heatmap / peak if peak > 0 else np.zeros_like(heatmap)
    colors = plt.get_cmap(cmap)(scaled)[..., :3].astype(np.float32)
    return np.clip((1 - alpha) * image + alpha * colors, 0.0, 1.0).astype(np.float32)

"""helpers.plot: overlays and grids draw what they are given, and refuse what they cannot."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from numpy.testing import assert_allclose  # noqa: E402

from helpers import plot  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture
def image():
    return np.linspace(0, 1, 12 * 10, dtype=np.float32).reshape(12, 10)


@pytest.fixture
def heatmap():
    heatmap = np.zeros((12, 10), np.float32)
    heatmap[3:6, 4:8] = 2.0
    return heatmap


def image_axes(fig):
    return [ax for ax in fig.axes if ax.get_images() and ax.get_label() != "<colorbar>"]


# -- overlay ---------------------------------------------------------------------------------
def test_overlay_blends_image_and_colormap(image, heatmap):
    colors = plt.get_cmap(plot.HEATMAP_CMAP)(heatmap / heatmap.max())[..., :3]
    gray = np.repeat(image[..., None], 3, axis=-1)
    assert_allclose(plot.overlay(image, heatmap, alpha=0.0), gray, atol=1e-6)
    assert_allclose(plot.overlay(image, heatmap, alpha=1.0), colors, atol=1e-6)
    mixed = plot.overlay(image[..., None], heatmap, alpha=0.25)
    assert mixed.shape == (12, 10, 3) and mixed.dtype == np.float32
    assert_allclose(mixed, 0.75 * gray + 0.25 * colors, atol=1e-6)


def test_overlay_scale_is_the_maximum_or_vmax(image, heatmap):
    own = plot.overlay(image, heatmap, alpha=1.0)
    assert_allclose(plot.overlay(image, heatmap * 10, alpha=1.0), own, atol=1e-6)
    half = plot.overlay(image, heatmap, alpha=1.0, vmax=4.0)
    assert_allclose(half[4, 5], plt.get_cmap(plot.HEATMAP_CMAP)(0.5)[:3], atol=1e-6)
    zero = plot.overlay(image, np.zeros_like(heatmap), alpha=1.0)  # no division by zero
    assert np.isfinite(zero).all()


def test_overlay_errors(image, heatmap):
    with pytest.raises(ValueError, match="does not match"):
        plot.overlay(image, heatmap[:5])
    with pytest.raises(ValueError, match="alpha must be between 0 and 1"):
        plot.overlay(image, heatmap, alpha=1.5)
    with pytest.raises(ValueError, match="NaN"):
        plot.overlay(image, np.full_like(heatmap, np.nan))
    with pytest.raises(ValueError, match=r"expected an image \(H, W\)"):
        plot.overlay(np.zeros((12, 10, 2)), heatmap)


# -- grids ----------------------------------------------------------------------------------------
def test_show_overlays_one_image_several_heatmaps(image, heatmap):
    fig = plot.show_overlays(image, [heatmap, heatmap * 2, heatmap[::-1]],
                             titles=["cam", "grad_cam", "score_cam"], suptitle="methods")
    panels = image_axes(fig)
    assert [ax.get_title() for ax in panels] == ["cam", "grad_cam", "score_cam"]
    assert len(fig.axes) == len(panels) + 1  # one shared colorbar
    assert fig._suptitle.get_text() == "methods"


def test_show_overlays_batch_with_a_shared_scale(image, heatmap):
    images = np.stack([image, image[::-1]])[..., None]
    heatmaps = np.stack([heatmap, 3 * heatmap])
    fig = plot.show_overlays(images, heatmaps, shared_scale=True, ncols=1)
    panels = image_axes(fig)
    assert len(panels) == 2
    # The first heatmap peaks at a third of the shared maximum.
    assert_allclose(panels[0].get_images()[0].get_array()[4, 5],
                    0.5 * images[0, 4, 5, 0]
                    + 0.5 * np.array(plt.get_cmap(plot.HEATMAP_CMAP)(1 / 3)[:3]),
                    atol=1e-6)
    colorbar = fig.axes[-1]
    assert colorbar.get_ylim()[1] == pytest.approx(6.0)
    assert len(plot.show_overlays(images, heatmaps, colorbar=False).axes) == 2


def test_show_overlays_errors(image, heatmap):
    with pytest.raises(ValueError, match="got 3 images for 2 heatmaps"):
        plot.show_overlays([image] * 3, [heatmap] * 2)
    with pytest.raises(ValueError, match="got 1 titles for 2 panels"):
        plot.show_overlays(image, [heatmap] * 2, titles=["a"])
    with pytest.raises(ValueError, match="at least one heatmap"):
        plot.show_overlays(image, [])
    with pytest.raises(ValueError, match=r"expected heatmaps \(N, H, W\)"):
        plot.show_overlays(image, heatmap[None, None])


def test_show_filters_grid_and_contrast_stretch():
    images = np.random.default_rng(0).uniform(0.4, 0.6, (10, 8, 8, 1)).astype(np.float32)
    fig = plot.show_filters(images, titles=[f"filter {f}" for f in range(10)], ncols=4)
    panels = image_axes(fig)
    assert len(panels) == 10 and len(fig.axes) == 12  # 3 rows of 4, two left empty
    shown = panels[0].get_images()[0].get_array()
    assert shown.min() == 0 and shown.max() == 1  # stretched from [0.4, 0.6]
    unstretched = plot.show_filters(images, stretch=False)
    assert_allclose(image_axes(unstretched)[0].get_images()[0].get_array(), images[0, ..., 0])
    color = plot.show_filters(np.full((2, 8, 8, 3), 0.5, np.float32))
    assert image_axes(color)[0].get_images()[0].get_array().shape == (8, 8, 3)
    with pytest.raises(ValueError, match=r"\(F, H, W, 1\) or \(F, H, W, 3\)"):
        plot.show_filters(images[..., 0])


@pytest.mark.parametrize("count, ncols, size, lines", [(16, 8, 1.5, 1), (10, 5, 1.8, 1),
                                                       (4, 2, 2.4, 2), (24, 8, 1.2, 1)])
@pytest.mark.parametrize("style", [{}, {"axes.titlesize": 10, "font.size": 9}])
def test_show_filters_titles_stay_clear_of_the_row_above(count, ncols, size, lines, style):
    images = np.random.default_rng(0).random((count, 28, 28, 1)).astype(np.float32)
    titles = ["\n".join(f"filter {f}" for _ in range(lines)) for f in range(count)]
    with matplotlib.rc_context(style):
        fig = plot.show_filters(images, titles, ncols=ncols, size=size, suptitle="a grid")
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        panels = image_axes(fig)
        for index in range(ncols, count):
            title = panels[index].title.get_window_extent(renderer)
            for above in panels[index - ncols:index - ncols + 1]:
                picture = above.get_images()[0].get_window_extent(renderer)
                assert title.y1 < picture.y0, (index, title, picture)
            picture = panels[index].get_images()[0].get_window_extent(renderer)
            assert title.y0 >= picture.y1 - 1  # the title sits above its own picture
        suptitle = fig._suptitle.get_window_extent(renderer)
        first_title = panels[0].title.get_window_extent(renderer)
        assert suptitle.y0 >= first_title.y1 - 1


def test_show_feature_maps_titles_channels(image):
    maps = np.stack([image * c for c in range(1, 6)], axis=-1)
    fig = plot.show_feature_maps(maps, channels=[4, 0, 2])
    assert [ax.get_title() for ax in image_axes(fig)] == ["4", "0", "2"]
    assert len(fig.axes) == 3  # no colorbar when each channel has its own scale
    shared = plot.show_feature_maps(maps, shared_scale=True)
    assert len(image_axes(shared)) == 5 and len(shared.axes) == 6
    assert image_axes(shared)[0].get_images()[0].get_clim() == pytest.approx((0.0, 5.0))
    with pytest.raises(ValueError, match=r"channels \[5\] out of range: the maps have 5"):
        plot.show_feature_maps(maps, channels=[5])
    with pytest.raises(ValueError, match="pick one image"):
        plot.show_feature_maps(maps[None])


def test_show_attributions_uses_a_symmetric_scale(image):
    attributions = np.stack([image - 0.2, 0.1 * image])[..., None]
    fig = plot.show_attributions(np.stack([image, image]), attributions, titles=["a", "b"])
    maps = [ax for ax in image_axes(fig) if ax.get_images()[0].get_cmap().name == "RdBu_r"]
    assert len(maps) == 2
    assert maps[0].get_images()[0].get_clim() == pytest.approx((-0.8, 0.8))
    with pytest.raises(ValueError, match="one attribution map per image"):
        plot.show_attributions(np.stack([image, image]), attributions[:1])


def test_show_images_still_works(image):
    fig = plot.show_images([image, image[..., None]], titles=["a", "b"], colorbar=True)
    assert [ax.get_title() for ax in image_axes(fig)] == ["a", "b"]


# -- show_matrices (chapter 01) ----------------------------------------------------------------
def test_show_matrices_writes_every_value_on_a_pale_symmetric_scale():
    edge = np.array([[1, 1, 0]] * 3, dtype=float)
    kernel = np.array([[1, 0, -1]] * 3)
    fig = plot.show_matrices([edge, kernel, [[0.5, -2.25]]], ["image", "kernel", "row"])
    panels = image_axes(fig)
    assert [ax.get_title() for ax in panels] == ["image", "kernel", "row"]
    assert [[t.get_text() for t in ax.texts] for ax in panels] == [
        ["1", "1", "0"] * 3, ["1", "0", "-1"] * 3, ["0.5", "-2.25"]]
    # Centered on 0, 1.6 times the largest |value| of each panel: white at 0.
    assert [ax.get_images()[0].get_clim() for ax in panels] == [
        pytest.approx((-1.6, 1.6)), pytest.approx((-1.6, 1.6)), pytest.approx((-3.6, 3.6))]
    assert all(not ax.patches for ax in panels)
    zeros = image_axes(plot.show_matrices([np.zeros((2, 2))]))[0]  # no division by zero
    assert np.isfinite(zeros.get_images()[0].get_clim()).all()


def test_show_matrices_shared_scale_and_boxes():
    fig = plot.show_matrices([np.eye(4), np.ones((2, 2))], limit=6.0,
                             boxes=[(0, 0, 1, 3, 2), (1, 1, 1, 1, 1)])
    first, second = image_axes(fig)
    assert first.get_images()[0].get_clim() == second.get_images()[0].get_clim() == (-6, 6)
    (box,) = first.patches
    # Rows 0-2 and columns 1-2: cell (r, c) spans [c - 0.5, c + 0.5] x [r - 0.5, r + 0.5].
    assert (box.get_x(), box.get_y(), box.get_width(), box.get_height()) == (0.5, -0.5, 2, 3)
    assert len(second.patches) == 1 and not box.get_fill()


def test_show_matrices_errors():
    with pytest.raises(ValueError, match="at least one matrix"):
        plot.show_matrices([])
    with pytest.raises(ValueError, match=r"expected 2-D arrays, got shapes \[\(2, 2\), \(3,\)\]"):
        plot.show_matrices([np.eye(2), np.ones(3)])
    with pytest.raises(ValueError, match="NaN"):
        plot.show_matrices([np.full((2, 2), np.nan)])
    with pytest.raises(ValueError, match="got 1 titles for 2 panels"):
        plot.show_matrices([np.eye(2)] * 2, ["a"])
    with pytest.raises(ValueError, match=r"panel from 0 to 1, got \(2, 0, 0, 1, 1\)"):
        plot.show_matrices([np.eye(2)] * 2, boxes=[(2, 0, 0, 1, 1)])


def test_show_overlays_labels_the_colorbar_with_the_unit_given():
    images = np.zeros((2, 8, 8), np.float32)
    heatmaps = np.stack([np.eye(8), 3 * np.eye(8)]).astype(np.float32)
    for shared, default in ((True, "heatmap value"), (False, "fraction of the map's maximum")):
        fig = plot.show_overlays(images, heatmaps, shared_scale=shared)
        assert fig.axes[-1].get_ylabel() == default
        fig = plot.show_overlays(images, heatmaps, shared_scale=shared, label="|d logit / d pixel|")
        assert fig.axes[-1].get_ylabel() == "|d logit / d pixel|"
        plt.close("all")


@pytest.mark.parametrize("ncols, error", [(0, ValueError), (-1, ValueError),
                                           (True, TypeError), (2.0, TypeError)])
def test_show_images_rejects_a_grid_without_columns(ncols, error):
    # True was a grid of one column, 2.0 failed inside matplotlib.
    with pytest.raises(error, match="ncols must be a positive int"):
        plot.show_images(np.zeros((2, 4, 4)), ncols=ncols)


def test_show_images_grid_and_titles():
    fig = plot.show_images(np.zeros((5, 4, 4)), titles=list("abcde"), ncols=2, colorbar=True)
    assert [ax.get_title() for ax in image_axes(fig)] == list("abcde")
    assert len(fig.axes) == 3 * 2 + 5  # a 3x2 grid, and a colorbar beside each gray panel
    with pytest.raises(ValueError, match="got 1 titles for 2 panels"):
        plot.show_images(np.zeros((2, 4, 4)), titles=["a"])
    plt.close("all")

"""Data the book runs on, offline and online: Fashion-MNIST and real photographs.

``load_fashion_mnist`` is introduced in chapter 02 (``notebooks/02_pooling_and_activations.ipynb``);
``load_photo`` in chapter 01 (``notebooks/01_convolution.ipynb``).
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from helpers._validate import check_choice, check_int, check_non_negative, check_size

FASHION_MNIST_CLASSES: tuple[str, ...] = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                          "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")

#: Environment variable naming a folder that holds the four Fashion-MNIST ``.gz`` files.
FASHION_MNIST_ENV = "FASHION_MNIST_DIR"
#: Where Debian's package ``dataset-fashion-mnist`` puts the files.
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_FILES = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}

HOW_TO_GET_FASHION_MNIST = f"""\
Fashion-MNIST was not found. Either
  * go online once: keras.datasets.fashion_mnist.load_data() downloads it to
    ~/.keras/datasets/fashion-mnist, where this function finds it from then on; or
  * install it offline from Debian: `sudo apt-get install dataset-fashion-mnist`
    (files in {DEBIAN_DIR}), or put the four files
    {", ".join(FASHION_MNIST_FILES.values())}
    in a folder and set the environment variable {FASHION_MNIST_ENV} to it."""


class DataNotFoundError(FileNotFoundError):
    """A data set is in none of the places searched, and could not be downloaded."""


def keras_cache_dir() -> Path:
    """The folder where ``keras.datasets.fashion_mnist`` keeps its download."""
    keras_home = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
    return Path(keras_home) / "datasets" / "fashion-mnist"


def fashion_mnist_candidates() -> list[tuple[str, Path]]:
    """The folders searched for Fashion-MNIST, in order, each with where it comes from."""
    places = []
    if os.environ.get(FASHION_MNIST_ENV):
        places.append((f"${FASHION_MNIST_ENV}", Path(os.environ[FASHION_MNIST_ENV])))
    places.append(("Keras' cache", keras_cache_dir()))
    places.append(("Debian's dataset-fashion-mnist", DEBIAN_DIR))
    return places


def _read_idx(path: Path, magic: int, ndim: int) -> np.ndarray:
    """Read one gzip-compressed IDX file (the format of MNIST and Fashion-MNIST)."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    header = 4 * (1 + ndim)
    if len(data) < header or int.from_bytes(data[:4], "big") != magic:
        raise ValueError(f"{path} is not an IDX file of {ndim} dimension(s); is it corrupt?")
    shape = tuple(int.from_bytes(data[4 * i : 4 * i + 4], "big") for i in range(1, ndim + 1))
    array = np.frombuffer(data, dtype=np.uint8, offset=header)
    if array.size != int(np.prod(shape)):
        raise ValueError(f"{path} holds {array.size} values, its header says {shape}: truncated?")
    return array.reshape(shape)


def _read_fashion_mnist(folder: Path):
    arrays = {
        name: _read_idx(folder / file, 2051 if name.startswith("x") else 2049,
                        3 if name.startswith("x") else 1)
        for name, file in FASHION_MNIST_FILES.items()
    }
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def _download_with_keras():
    import keras

    return keras.datasets.fashion_mnist.load_data()


def load_fashion_mnist(download: Callable | None = _download_with_keras):
    """Fashion-MNIST, from the first place that has it, exactly as Keras returns it.

    Looks in ``$FASHION_MNIST_DIR``, then Keras' cache (``~/.keras/datasets/fashion-mnist``),
    then Debian's ``/usr/share/datasets/fashion-mnist``, and only then downloads with
    ``keras.datasets.fashion_mnist.load_data()``. Introduced in chapter 02.

    Parameters
    ----------
    download
        Called with no arguments when no folder has the files; ``None`` never downloads.

    Returns
    -------
    (x_train, y_train), (x_test, y_test)
        uint8 arrays of shapes ``(60000, 28, 28)``, ``(60000,)``, ``(10000, 28, 28)``,
        ``(10000,)``; labels index :data:`FASHION_MNIST_CLASSES`.

    Raises
    ------
    DataNotFoundError
        If ``$FASHION_MNIST_DIR`` is set but lacks the files, or if no place has them and
        the download fails. The message says how to get the data.
    """
    for origin, folder in fashion_mnist_candidates():
        missing = [f for f in FASHION_MNIST_FILES.values() if not (folder / f).is_file()]
        if not missing:
            return _read_fashion_mnist(folder)
        if origin.startswith("$"):
            # A path the user chose explicitly is wrong: say so, rather than quietly
            # falling back to some other copy.
            raise DataNotFoundError(
                f"{FASHION_MNIST_ENV}={folder} does not contain {', '.join(missing)}.\n"
                + HOW_TO_GET_FASHION_MNIST
            )
    if download is not None:
        try:
            return download()
        except Exception as err:  # no network, a proxy, a truncated file...
            raise DataNotFoundError(
                f"{HOW_TO_GET_FASHION_MNIST}\n(The download failed: {type(err).__name__}: {err})"
            ) from err
    raise DataNotFoundError(HOW_TO_GET_FASHION_MNIST)


#: Photographs that ship inside scikit-image (no download needed).
SKIMAGE_PHOTOS = ("astronaut", "camera", "chelsea", "coffee", "coins", "hubble_deep_field",
                  "immunohistochemistry", "moon", "rocket", "page", "text", "horse",
                  "motorcycle_left")
#: Photographs that ship inside matplotlib (``mpl-data/sample_data``).
MATPLOTLIB_PHOTOS = ("grace_hopper",)
#: Every name :func:`load_photo` accepts: the real photographs the book loads offline.
PHOTOS = SKIMAGE_PHOTOS + MATPLOTLIB_PHOTOS

#: The photos whose main object is an ImageNet class that EfficientNet-Lite0
#: (:func:`helpers.imagenet.load_model`) predicts as its top-1 at 224 x 224, with that class's
#: index (the probability it gets, measured in chapter 07, in the comment). The other photos
#: are left out on purpose: ``astronaut`` comes out as "bobsled", ``rocket`` (a space shuttle
#: on its launch pad) as "drilling platform", ``page`` as "pill bottle"; ``coins``, ``moon``,
#: ``text`` and the microscope images show no ImageNet class. scikit-learn's two sample
#: photos were tried too and are not used: "bell cote" 0.30 for a Chinese temple, "daisy"
#: 0.15 for a flower.
PHOTO_CLASSES: dict[str, int] = {
    # tripod, 0.95: scikit-image's gray cameraman, CC0 (Lav Varshney)
    "camera": 872,
    # espresso, 0.91: scikit-image's cup of coffee, CC0 (Rachel Michetti)
    "coffee": 967,
    # Egyptian cat, 0.79: scikit-image's cat Chelsea, CC0 (Stefan van der Walt)
    "chelsea": 285,
    # moped, 0.48: scikit-image's left view of the Middlebury 2014 stereo motorcycle
    "motorcycle_left": 665,
    # military uniform, 0.45: matplotlib's portrait of Grace Hopper (US Navy, public domain)
    "grace_hopper": 652,
}

#: A box around each :data:`PHOTO_CLASSES` photo's object, ``(top, left, bottom, right)`` as
#: fractions of the photo's height and width, drawn by hand on a 10 x 10 grid over the
#: photo and checked by eye (chapter 07 draws them): the tripod with the camera on it, the
#: cup (saucer left out), the cat, the motorcycle, the uniformed person with the cap.
PHOTO_BOXES: dict[str, tuple[float, float, float, float]] = {
    "camera": (0.28, 0.44, 1.00, 0.80),
    "coffee": (0.00, 0.27, 0.72, 0.70),
    "chelsea": (0.00, 0.00, 1.00, 0.97),
    "motorcycle_left": (0.28, 0.12, 0.93, 0.93),
    "grace_hopper": (0.03, 0.06, 1.00, 1.00),
}


def _read_photo(name: str) -> np.ndarray:
    """The photo ``name`` as its package ships it: uint8 ``(H, W)`` or ``(H, W, 3|4)``."""
    if name in MATPLOTLIB_PHOTOS:
        import matplotlib
        from matplotlib.image import imread

        return imread(Path(matplotlib.get_data_path()) / "sample_data" / f"{name}.jpg")
    import skimage.data

    if name == "motorcycle_left":
        return skimage.data.stereo_motorcycle()[0]
    return getattr(skimage.data, name)()


def load_photo(name: str, size: int | tuple[int, int] | None = None) -> np.ndarray:
    """A real photograph that ships with scikit-image or matplotlib, as float32 RGB in [0, 1].

    Introduced in chapter 01.

    Parameters
    ----------
    name
        One of :data:`PHOTOS`, for example ``"chelsea"`` (a cat) or ``"coffee"``.
    size
        ``None`` keeps the original size; an int gives a square image; ``(height, width)``
        resizes to exactly that, with anti-aliasing.

    Returns
    -------
    numpy.ndarray
        ``(H, W, 3)`` float32 in [0, 1]; gray photographs are repeated over 3 channels.
    """
    check_choice(name, "name", PHOTOS, "photo")
    from skimage.transform import resize
    from skimage.util import img_as_float32

    shape = None if size is None else check_size(size)
    image = img_as_float32(_read_photo(name))
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    image = image[..., :3]  # drop an alpha channel
    if shape is not None:
        image = resize(image, shape, anti_aliasing=True, preserve_range=True)
    return np.clip(image, 0.0, 1.0).astype(np.float32)


def _crop_axis(rng: np.random.Generator, length: int, low: float, high: float) -> slice:
    """A random interval of ``range(length)`` that contains ``[low, high)`` (fractions)."""
    first, last = int(np.floor(low * length)), int(np.ceil(high * length))
    extent = rng.integers(last - first, length + 1)  # from the box alone to the whole photo
    start = rng.integers(max(0, last - extent), min(first, length - extent) + 1)
    return slice(int(start), int(start + extent))


def photo_grid(n: int, grid: int = 2, size: int = 224,
               seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mosaics of photos of distinct classes, each tile's region known: the grid pointing game.

    Each mosaic is a ``grid x grid`` array of tiles, each tile a different photo of
    :data:`PHOTO_CLASSES`, chosen and placed at random. A tile shows a random crop of its
    photo that contains the photo's box (:data:`PHOTO_BOXES`), from the box alone to the
    whole photo, resized to the tile without keeping the aspect ratio (as
    ``load_photo(name, size)`` does). Asking a map for one tile's class, it should point
    into that tile: the grid pointing game of Boehle et al. (2021, 2022), whose chance
    level is ``1 / grid**2``. Used in chapter 07
    (``notebooks/07_evaluating_explanations.ipynb``).

    Parameters
    ----------
    n
        Number of mosaics.
    grid
        Tiles per side; ``grid**2`` may not exceed the number of classes in
        :data:`PHOTO_CLASSES` (5).
    size
        Height and width of a mosaic in pixels, at least ``8 * grid``; tiles split it as
        evenly as whole pixels allow.
    seed
        Seed of every random choice (photos, places, crops): the same arguments give the
        same mosaics.

    Returns
    -------
    images : numpy.ndarray
        float32 ``(n, size, size, 3)`` in [0, 1].
    classes : numpy.ndarray
        int64 ``(n, grid * grid)``: the ImageNet class of each tile, tiles in row-major order.
    masks : numpy.ndarray
        bool ``(n, grid * grid, size, size)``: each tile's region; a mosaic's masks partition
        it (every pixel in exactly one).
    """
    from skimage.transform import resize

    check_int(n, "n", minimum=1)
    check_int(grid, "grid", minimum=1)
    check_int(size, "size")
    check_int(seed, "seed")
    names = list(PHOTO_CLASSES)
    if grid * grid > len(names):
        raise ValueError(f"a {grid} x {grid} grid needs {grid * grid} photos of distinct "
                         f"classes; there are {len(names)} ({', '.join(names)})")
    if size < 8 * grid:
        raise ValueError(f"size must be at least {8 * grid} pixels for a {grid} x {grid} "
                         f"grid, got {size}")
    rng = np.random.default_rng(seed)
    photos = {name: load_photo(name) for name in names}
    edges = np.linspace(0, size, grid + 1).round().astype(int)
    images = np.zeros((n, size, size, 3), np.float32)
    classes = np.zeros((n, grid * grid), np.int64)
    masks = np.zeros((n, grid * grid, size, size), bool)
    for mosaic in range(n):
        chosen = rng.choice(len(names), grid * grid, replace=False)
        for tile, which in enumerate(chosen):
            name = names[which]
            photo = photos[name]
            top, left, bottom, right = PHOTO_BOXES[name]
            rows = _crop_axis(rng, photo.shape[0], top, bottom)
            cols = _crop_axis(rng, photo.shape[1], left, right)
            r, c = divmod(tile, grid)
            region = (slice(edges[r], edges[r + 1]), slice(edges[c], edges[c + 1]))
            shape = (edges[r + 1] - edges[r], edges[c + 1] - edges[c])
            images[(mosaic, *region)] = resize(photo[rows, cols], shape, anti_aliasing=True,
                                               preserve_range=True)
            classes[mosaic, tile] = PHOTO_CLASSES[name]
            masks[(mosaic, tile, *region)] = True
    return np.clip(images, 0.0, 1.0), classes, masks


# -- a data set where the right answer is known (chapter 07) ---------------------------------
#: The classes of :func:`make_shapes`, in label order.
SHAPE_CLASSES: tuple[str, ...] = ("circle", "square", "triangle", "cross")


def _interpolation_matrix(coarse: int, fine: int) -> np.ndarray:
    """``(fine, coarse)`` weights that resize a signal of ``coarse`` samples to ``fine``
    samples by linear interpolation (corners aligned)."""
    position = np.linspace(0.0, coarse - 1.0, fine)
    low = np.clip(np.floor(position).astype(int), 0, coarse - 2)
    weight = position - low
    matrix = np.zeros((fine, coarse))
    matrix[np.arange(fine), low] = 1.0 - weight
    matrix[np.arange(fine), low + 1] = weight
    return matrix


def _shape_masks(labels, cy, cx, radius, angle, ys, xs) -> np.ndarray:
    """Filled shapes, one per image: bool ``(n, H, W)``. Parameters are ``(n, 1, 1)``."""
    dy, dx = ys - cy, xs - cx
    # Coordinates in the shape's own frame, rotated by `angle`.
    u = np.cos(angle) * dx + np.sin(angle) * dy
    v = -np.sin(angle) * dx + np.cos(angle) * dy
    circle = dx**2 + dy**2 <= radius**2
    half = radius / np.sqrt(2.0)  # a square with the circle's circumradius
    square = (np.abs(u) <= half) & (np.abs(v) <= half)
    # An equilateral triangle with circumradius `radius`: three half-planes, each
    # at distance radius / 2 from the center.
    triangle = np.ones_like(circle)
    for k in range(3):
        theta = angle + 2.0 * np.pi * k / 3.0
        triangle &= np.sin(theta) * dx - np.cos(theta) * dy <= radius / 2.0
    arm = 0.3 * radius  # half the width of the cross's arms
    cross = (((np.abs(u) <= radius) & (np.abs(v) <= arm))
             | ((np.abs(v) <= radius) & (np.abs(u) <= arm)))
    return np.select([labels == 0, labels == 1, labels == 2], [circle, square, triangle], cross)


def _segment_distance(ys, xs, y0, x0, y1, x1) -> np.ndarray:
    """Distance of each pixel to a segment; endpoints ``(n, 1, 1)``, result ``(n, H, W)``."""
    dy, dx = y1 - y0, x1 - x0
    t = np.clip(((ys - y0) * dy + (xs - x0) * dx) / np.maximum(dy**2 + dx**2, 1e-9), 0.0, 1.0)
    return np.hypot(ys - (y0 + t * dy), xs - (x0 + t * dx))


def make_shapes(n: int, size: int = 64, seed: int = 0, *, lines: int = 3, blobs: int = 2,
                noise: float = 0.04) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Simple shapes on cluttered backgrounds, each with the mask of its object.

    Every image holds one filled object, a circle, a square, a triangle or a cross
    (:data:`SHAPE_CLASSES`), at a random position, size, rotation and brightness, on a
    background that is made to distract: smooth random shading, thin bright line segments,
    soft bright blobs and pixel noise. None of the clutter belongs to a class, and the
    objects are no brighter than the lines, so a classifier has to look at the object's
    shape; and since the mask says where the object is, an explanation can be scored
    against it. Drawn with NumPy only, all images at once. Used in chapter 07
    (``notebooks/07_evaluating_explanations.ipynb``).

    Parameters
    ----------
    n
        Number of images. The classes take turns over a random permutation, so each one
        has ``n // 4`` or ``n // 4 + 1`` images.
    size
        Height and width in pixels (at least 32).
    seed
        Seed of every random choice: the same arguments give the same images.
    lines, blobs
        Distracting line segments and soft blobs per image.
    noise
        Standard deviation of the Gaussian pixel noise.

    Returns
    -------
    images : numpy.ndarray
        float32 ``(n, size, size, 1)`` in [0, 1].
    labels : numpy.ndarray
        int64 ``(n,)``, indices into :data:`SHAPE_CLASSES`.
    masks : numpy.ndarray
        bool ``(n, size, size)``: True on the object's pixels (never empty).
    """
    check_int(n, "n", minimum=1)
    check_int(size, "size", minimum=32, hint=" pixels")
    check_int(lines, "lines", minimum=0)
    check_int(blobs, "blobs", minimum=0)
    check_non_negative(noise, "noise", "standard deviation")
    rng = np.random.default_rng(seed)
    labels = (rng.permutation(n) % len(SHAPE_CLASSES)).astype(np.int64)
    column = (n, 1, 1)
    # The object: radius 11% to 22% of the side, fully inside the image (the corners of
    # a cross's arms reach out to 1.05 radius).
    radius = rng.uniform(0.11, 0.22, column) * size
    margin = 1.05 * radius + 1
    cy = rng.uniform(margin, size - 1 - margin)
    cx = rng.uniform(margin, size - 1 - margin)
    angle = rng.uniform(0.0, 2.0 * np.pi, column)
    brightness = rng.uniform(0.55, 1.0, column)
    # The clutter.
    shading = rng.uniform(0.0, 0.45, (n, 5, 5))
    ends = rng.uniform(0.0, size - 1.0, (lines, 4, *column))
    line_width = rng.uniform(0.5, 1.3, (lines, *column))
    line_brightness = rng.uniform(0.5, 1.0, (lines, *column))
    blob_center = rng.uniform(0.0, size - 1.0, (blobs, 2, *column))
    blob_sigma = rng.uniform(0.03, 0.07, (blobs, *column)) * size
    blob_brightness = rng.uniform(0.3, 0.7, (blobs, *column))
    pixel_noise = rng.normal(0.0, noise, (n, size, size)).astype(np.float32)

    # float32 from here on: the pictures need no more, and it halves the time.
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    ends, line_width, line_brightness, blob_center, blob_sigma, blob_brightness = (
        a.astype(np.float32) for a in (ends, line_width, line_brightness, blob_center,
                                       blob_sigma, blob_brightness))
    resize = _interpolation_matrix(5, size).astype(np.float32)
    images = np.einsum("yi,nij,xj->nyx", resize, shading.astype(np.float32), resize)
    for k in range(lines):
        distance = _segment_distance(ys, xs, *ends[k])
        images = np.maximum(images, line_brightness[k] * (distance <= line_width[k]))
    for k in range(blobs):
        squared = (ys - blob_center[k, 0]) ** 2 + (xs - blob_center[k, 1]) ** 2
        images = images + blob_brightness[k] * np.exp(-squared / (2.0 * blob_sigma[k] ** 2))
    masks = _shape_masks(labels[:, None, None], *(a.astype(np.float32) for a in
                                                  (cy, cx, radius, angle)), ys, xs)
    images = np.where(masks, brightness.astype(np.float32), images) + pixel_noise
    images = np.clip(images, 0.0, 1.0).astype(np.float32)[..., None]
    return images, labels, masks

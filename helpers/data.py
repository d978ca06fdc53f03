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

FASHION_MNIST_CLASSES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

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
PHOTOS = ("astronaut", "camera", "chelsea", "coffee", "coins", "hubble_deep_field",
          "immunohistochemistry", "moon", "rocket", "page", "text", "horse")


def load_photo(name: str, size: int | tuple[int, int] | None = None) -> np.ndarray:
    """A real photograph from scikit-image, as float32 RGB in [0, 1].

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
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, one of {PHOTOS}; got {type(name).__name__}")
    if name not in PHOTOS:
        raise ValueError(f"unknown photo {name!r}; expected one of {PHOTOS}")
    import skimage.data
    from skimage.transform import resize
    from skimage.util import img_as_float32

    image = img_as_float32(getattr(skimage.data, name)())
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    image = image[..., :3]  # drop an alpha channel
    if size is not None:
        height, width = (size, size) if isinstance(size, int) else tuple(size)
        if height < 1 or width < 1:
            raise ValueError(f"size must be positive, got {size!r}")
        image = resize(image, (height, width), anti_aliasing=True, preserve_range=True)
    return np.clip(image, 0.0, 1.0).astype(np.float32)

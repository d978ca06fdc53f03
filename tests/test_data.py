"""helpers.data: where Fashion-MNIST is looked for, in which order, and the errors."""

import gzip
from pathlib import Path

import numpy as np
import pytest

from helpers import data
from helpers.data import DataNotFoundError, load_fashion_mnist, load_photo


def write_idx(path: Path, array: np.ndarray) -> None:
    magic = 2051 if array.ndim == 3 else 2049
    header = magic.to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def make_copy(folder: Path, marker: int) -> Path:
    """A tiny fake Fashion-MNIST whose first pixel says which copy it is."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(marker)
    for name, file in data.FASHION_MNIST_FILES.items():
        n = 5 if "train" in name else 3
        if name.startswith("x"):
            array = rng.integers(0, 256, (n, 28, 28))
            array[0, 0, 0] = marker
        else:
            array = rng.integers(0, 10, n)
        write_idx(folder / file, array)
    return folder


@pytest.fixture
def places(tmp_path, monkeypatch):
    """Point every searched place into tmp_path; none has data yet."""
    monkeypatch.delenv(data.FASHION_MNIST_ENV, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "debian")
    return tmp_path


def never_download():
    raise AssertionError("must not download when a local copy exists")


def first_pixel(result) -> int:
    (x_train, _), _ = result
    return int(x_train[0, 0, 0])


def test_reads_the_idx_format_exactly(places):
    folder = make_copy(places / "debian", marker=7)
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist(download=never_download)
    assert (x_train.shape, y_train.shape, x_test.shape, y_test.shape) == (
        (5, 28, 28), (5,), (3, 28, 28), (3,))
    assert x_train.dtype == y_train.dtype == np.uint8
    with gzip.open(folder / "train-images-idx3-ubyte.gz") as f:
        raw = np.frombuffer(f.read()[16:], np.uint8)
    np.testing.assert_array_equal(x_train.ravel(), raw)


def test_search_order_env_then_keras_then_debian(places, monkeypatch):
    make_copy(places / "debian", marker=3)
    assert first_pixel(load_fashion_mnist(download=never_download)) == 3
    make_copy(data.keras_cache_dir(), marker=2)
    assert first_pixel(load_fashion_mnist(download=never_download)) == 2
    monkeypatch.setenv(data.FASHION_MNIST_ENV, str(make_copy(places / "mine", marker=1)))
    assert first_pixel(load_fashion_mnist(download=never_download)) == 1


def test_downloads_only_when_no_copy_exists(places):
    calls = []

    def fake_download():
        calls.append(1)
        return "downloaded"

    assert load_fashion_mnist(download=fake_download) == "downloaded"
    assert calls == [1]


def test_failed_download_names_both_ways_to_get_the_data(places):
    def offline():
        raise OSError("Temporary failure in name resolution")

    with pytest.raises(DataNotFoundError) as err:
        load_fashion_mnist(download=offline)
    message = str(err.value)
    assert "apt-get install dataset-fashion-mnist" in message
    assert "keras.datasets.fashion_mnist.load_data()" in message
    assert data.FASHION_MNIST_ENV in message
    assert "name resolution" in message  # the cause is kept


def test_wrong_env_path_is_an_error_not_a_silent_fallback(places, monkeypatch):
    make_copy(places / "debian", marker=3)
    monkeypatch.setenv(data.FASHION_MNIST_ENV, str(places / "typo"))
    with pytest.raises(DataNotFoundError, match="typo does not contain train-images"):
        load_fashion_mnist(download=never_download)


def test_corrupt_file_is_reported(places):
    folder = make_copy(places / "debian", marker=3)
    with gzip.open(folder / "t10k-labels-idx1-ubyte.gz", "wb") as f:
        f.write(b"not an idx file")
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte.gz is not an IDX file"):
        load_fashion_mnist(download=never_download)


@pytest.mark.skipif(not (data.DEBIAN_DIR / "t10k-labels-idx1-ubyte.gz").is_file(),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_the_real_fashion_mnist():
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist(download=None)
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    # Balanced by construction: 6,000 training and 1,000 test images per class.
    np.testing.assert_array_equal(np.bincount(y_train), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(y_test), [1000] * 10)
    assert x_train.min() == 0 and x_train.max() == 255
    assert len(data.FASHION_MNIST_CLASSES) == 10


def test_photo_is_rgb_float_in_unit_range():
    cat = load_photo("chelsea")
    assert cat.shape == (300, 451, 3) and cat.dtype == np.float32
    assert 0.0 <= cat.min() and cat.max() <= 1.0


def test_photo_resize_and_gray_photos():
    assert load_photo("coffee", size=64).shape == (64, 64, 3)
    assert load_photo("coffee", size=(32, 48)).shape == (32, 48, 3)
    camera = load_photo("camera", size=50)
    np.testing.assert_array_equal(camera[..., 0], camera[..., 2])  # gray, repeated
    # Resizing with anti-aliasing keeps the mean brightness.
    full = load_photo("astronaut")
    assert abs(load_photo("astronaut", size=128).mean() - full.mean()) < 0.01


def test_photo_errors_list_the_choices():
    with pytest.raises(ValueError, match="expected one of .*chelsea"):
        load_photo("kitten")
    with pytest.raises(TypeError, match="name must be a str"):
        load_photo(3)
    with pytest.raises(ValueError, match="size must be positive"):
        load_photo("coffee", size=0)


def test_every_photo_loads_offline_and_the_new_ones_are_the_shipped_files():
    for name in data.PHOTOS:
        photo = load_photo(name, size=16)
        assert photo.shape == (16, 16, 3) and photo.dtype == np.float32, name
    import matplotlib
    from matplotlib.image import imread

    hopper = imread(f"{matplotlib.get_data_path()}/sample_data/grace_hopper.jpg")
    np.testing.assert_allclose(load_photo("grace_hopper"), hopper / 255.0, atol=1e-6)
    assert load_photo("motorcycle_left").shape == (500, 741, 3)
    # NumPy ints are sizes too; a bool or a float is not.
    assert load_photo("coffee", size=np.int64(8)).shape == (8, 8, 3)
    with pytest.raises(TypeError, match="size must be an int"):
        load_photo("coffee", size=True)
    with pytest.raises(TypeError, match="size must be an int"):
        load_photo("coffee", size=(8.0, 8))


def test_photo_classes_and_boxes_are_a_consistent_fact_table():
    from helpers import imagenet

    assert set(data.PHOTO_CLASSES) == set(data.PHOTO_BOXES) and set(data.PHOTO_CLASSES) <= set(
        data.PHOTOS)
    assert len(set(data.PHOTO_CLASSES.values())) == len(data.PHOTO_CLASSES)  # distinct
    for name, (top, left, bottom, right) in data.PHOTO_BOXES.items():
        assert 0 <= top < bottom <= 1 and 0 <= left < right <= 1, name
    assert imagenet.CLASSES[data.PHOTO_CLASSES["chelsea"]] == "Egyptian cat"
    assert imagenet.CLASSES[data.PHOTO_CLASSES["grace_hopper"]] == "military uniform"


def test_photo_grid_is_seeded_partitioned_and_made_of_the_photos():
    images, classes, masks = data.photo_grid(6, grid=2, size=64, seed=3)
    assert images.shape == (6, 64, 64, 3) and images.dtype == np.float32
    assert classes.shape == (6, 4) and masks.shape == (6, 4, 64, 64) and masks.dtype == bool
    assert 0.0 <= images.min() and images.max() <= 1.0
    # The masks partition each mosaic into four 32 x 32 tiles, in row-major order.
    np.testing.assert_array_equal(masks.sum(axis=1), 1)
    np.testing.assert_array_equal(masks[:, 0, :32, :32], True)
    np.testing.assert_array_equal(masks[:, 3, 32:, 32:], True)
    # Distinct classes of the fact table in every mosaic.
    assert all(len(set(row)) == 4 for row in classes)
    assert set(classes.ravel()) <= set(data.PHOTO_CLASSES.values())
    # Seeded: the same arguments, the same mosaics; another seed, others.
    again = data.photo_grid(6, grid=2, size=64, seed=3)
    np.testing.assert_array_equal(again[0], images)
    np.testing.assert_array_equal(again[1], classes)
    assert not np.array_equal(data.photo_grid(6, grid=2, size=64, seed=4)[1], classes)
    # Every tile holds a crop of its own class's photo: its colors are closest to that
    # photo's among the five.
    names = {index: name for name, index in data.PHOTO_CLASSES.items()}
    whole = {name: load_photo(name, size=32) for name in data.PHOTO_CLASSES}
    for mosaic in range(6):
        for tile in range(4):
            r, c = divmod(tile, 2)
            crop = images[mosaic, 32 * r:32 * r + 32, 32 * c:32 * c + 32]
            distances = {name: np.abs(crop.mean(axis=(0, 1)) - photo.mean(axis=(0, 1))).sum()
                         + abs(crop.std() - photo.std()) for name, photo in whole.items()}
            assert min(distances, key=distances.get) == names[classes[mosaic, tile]]


def test_photo_grid_errors():
    with pytest.raises(ValueError, match="needs 9 photos of distinct classes"):
        data.photo_grid(1, grid=3)
    with pytest.raises(ValueError, match="at least 16 pixels"):
        data.photo_grid(1, grid=2, size=8)
    with pytest.raises(TypeError, match="n must be a positive int, got float"):
        data.photo_grid(2.0)
    with pytest.raises(ValueError, match="n must be a positive int, got 0"):
        data.photo_grid(0)

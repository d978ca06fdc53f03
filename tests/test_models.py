"""The course model: architecture, preprocessing, and the committed model's accuracy."""

import numpy as np
import pytest

import helpers
from helpers import data, models


def test_architecture_has_gap_before_the_logits():
    model = models.build_course_model()
    assert model.input_shape == (None, 28, 28, 1)
    assert model.output_shape == (None, 10)
    names = [layer.name for layer in model.layers]
    assert names[-2:] == ["gap", "logits"]
    assert model.layers[-1].activation.__name__ == "linear"  # logits, no softmax
    # Parameters of a 3x3 conv: (3*3*C_in + 1) * C_out.
    expected = {"conv1": (9 * 1 + 1) * 32, "conv2": (9 * 32 + 1) * 32,
                "conv3": (9 * 32 + 1) * 64, "conv4": (9 * 64 + 1) * 64,
                "conv5": (9 * 64 + 1) * 128, "logits": (128 + 1) * 10}
    assert {n: model.get_layer(n).count_params() for n in expected} == expected


def test_build_is_seeded():
    a, b = models.build_course_model(seed=1), models.build_course_model(seed=1)
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)


def test_preprocess_scales_and_adds_a_channel():
    x = np.array([[0, 255], [51, 102]], np.uint8)[None].repeat(14, 1).repeat(14, 2)
    out = models.preprocess(x)
    assert out.shape == (1, 28, 28, 1) and out.dtype == np.float32
    np.testing.assert_allclose(out[0, [0, 14, 0, 14], [0, 0, 14, 14], 0], [0.0, 0.2, 1.0, 0.4])
    with pytest.raises(TypeError, match="uint8"):
        models.preprocess(x.astype(np.float32))
    with pytest.raises(ValueError, match="28, 28"):
        models.preprocess(np.zeros((2, 32, 32), np.uint8))


def test_missing_model_file_says_how_to_train(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m helpers.train"):
        models.load_course_model(tmp_path / "nope.weights.npz")


def test_weights_round_trip_exactly(tmp_path):
    trained, fresh = models.build_course_model(seed=1), models.build_course_model(seed=2)
    path = models.save_weights(trained, tmp_path / "w.npz")
    assert path.is_file() and not (tmp_path / "w.npz.npz").exists()
    models.load_weights(fresh, path)
    for a, b in zip(trained.get_weights(), fresh.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_weights_of_another_architecture_are_refused(tmp_path):
    import keras

    path = models.save_weights(models.build_course_model(), tmp_path / "w.npz")
    wider = keras.Sequential([keras.Input((28, 28, 1)),
                              keras.layers.Conv2D(16, 3, name="conv1")])
    with pytest.raises(ValueError, match="conv1/0.*shape"):
        models.load_weights(wider, path)
    smaller = keras.Sequential([keras.Input((28, 28, 1)),
                                keras.layers.Conv2D(32, 3, padding="same", name="conv1")])
    with pytest.raises(ValueError, match="no place for: conv2/0"):
        models.load_weights(smaller, path)
    other = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(32, 3, name="c")])
    with pytest.raises(ValueError, match="no weight 'c/0'"):
        models.load_weights(other, path)


@pytest.mark.skipif(not (data.DEBIAN_DIR / "t10k-labels-idx1-ubyte.gz").is_file()
                    and not data.keras_cache_dir().is_dir(),
                    reason="Fashion-MNIST is not available offline")
def test_committed_model_accuracy():
    model = helpers.load_course_model()
    _, (x_test, y_test) = helpers.load_fashion_mnist(download=None)
    logits = model.predict(models.preprocess(x_test), batch_size=1000, verbose=0)
    accuracy = float(np.mean(logits.argmax(axis=1) == y_test))
    assert accuracy >= 0.90, f"course model accuracy {accuracy:.4f} < 0.90"


def test_training_scripts_take_their_defaults_from_the_signature(monkeypatch, tmp_path):
    from helpers.train import command_line

    seen = {}

    def train(images: int = 8, epochs: int = 2, out=tmp_path / "a.npz", verbose: int = 2):
        seen.update(images=images, epochs=epochs, out=out, verbose=verbose)

    monkeypatch.setattr("sys.argv", ["train", "--epochs", "5", "--out", str(tmp_path / "b")])
    command_line(train, "a test")
    assert seen == {"images": 8, "epochs": 5, "out": tmp_path / "b", "verbose": 2}

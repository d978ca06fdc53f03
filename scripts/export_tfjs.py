"""Export EfficientNet-Lite0 and the book's photos for the page "Explain your own photo".

``make book`` runs this before ``jupyter-book build``. It writes two JavaScript files into
``.explorer/explorer-data/`` (git-ignored; ``_config.yml`` lists ``.explorer`` in
``html_static_path``, so the book ships them as ``_static/explorer-data/``):

``model.js``
    ``window.EXPLORER_MODEL``: the network of :func:`helpers.imagenet.load_model`, its
    layers in the order below and its weights: little-endian float16 numbers, their low
    bytes first and then their high bytes (the high bytes, sign and exponent, repeat a lot
    and compress well), compressed with zlib (``DecompressionStream("deflate")`` in the
    browser) and written as Z85 text (:func:`z85`): 10 MB for 9.3 MB of float16.
``photos.js``
    ``window.EXPLORER_PHOTOS``: each photo of :data:`helpers.data.PHOTOS` as
    ``helpers.load_photo(name, size=224)`` gives it, to 12 bits (:func:`photo_entry`: a PNG
    ``data:`` URL of the upper 8 bits and the lower 4 bits beside it), then chapter 06's
    cat|espresso composite.

Why JavaScript files and not ``.json`` and ``.bin`` files next to the page: the README
tells readers to open ``_build/html/index.html`` as a file, and Chromium refuses ``fetch``
of ``file://`` URLs; a ``<script src>`` loads from ``file://`` and from a server alike.
Why ``data:`` URLs and not ``.png`` files: a picture loaded from ``file://`` taints the
canvas it is drawn on, and its pixels cannot be read back.

The layers, as ``explorer.js`` runs them (names as in :mod:`helpers.imagenet`)::

    stem             conv 3x3, stride 2, 3 -> 32, ReLU6
    block1 ... 16    [expand: conv 1x1, ReLU6]  (not block 1)
                     dw: depthwise 3x3 or 5x5, stride 1 or 2, ReLU6
                     project: conv 1x1, no activation
                     + the block's input when ``residual`` is true
    head             conv 1x1, 320 -> 1280, ReLU6          (the layer CAM uses, 7x7x1280)
    predictions      global average pooling, then Dense 1280 -> 1000 (the logits)

Each batch normalization is folded into the convolution before it: with ``s = gamma /
sqrt(variance + epsilon)``, the kernel's output channel ``k`` is multiplied by ``s_k`` and
the bias is ``beta - mean * s``. For each convolution the weights string holds the kernel
(Keras' layout: ``(kh, kw, in, out)``, depthwise ``(kh, kw, channels, 1)``, as
``tf.conv2d`` and ``tf.depthwiseConv2d`` take them) then the bias; for the Dense layer
its kernel ``(1280, 1000)`` then its bias. ``offset`` and ``shape`` in each entry say where.

Usage: ``python scripts/export_tfjs.py [output directory]``; ``scripts/setup.sh`` also
calls ``python scripts/export_tfjs.py --wasm BINARY SCRIPT`` (:func:`wrap_wasm`).
"""

from __future__ import annotations

import base64
import io
import json
import sys
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / ".explorer" / "explorer-data"
#: The composite of chapter 06 ("One image, two objects, a map for each"): the middle half
#: of the cat beside the middle half of the espresso.
COMPOSITE = "chelsea|coffee"
COMPOSITE_COLUMNS = slice(56, 168)


FLOAT16_MAX = float(np.finfo(np.float16).max)


class _Weights:
    """The float16 numbers of every layer, one after the other, and where each starts."""

    def __init__(self):
        self.parts: list[np.ndarray] = []
        self.size = 0

    def add(self, array: np.ndarray) -> dict:
        array = np.asarray(array, dtype=np.float64)
        if not np.isfinite(array).all() or np.abs(array).max(initial=0) > FLOAT16_MAX:
            raise ValueError(f"a weight of shape {array.shape} overflows float16")
        array = np.ascontiguousarray(array, dtype="<f2")
        entry = {"offset": self.size, "shape": list(array.shape)}
        self.parts.append(array.ravel())
        self.size += array.size
        return entry

    def encoded(self) -> dict:
        """The numbers as float16, byte planes (low bytes, then high), zlib, base64."""
        halves = np.concatenate(self.parts).view("<u2")
        planes = np.concatenate([halves & 0xFF, halves >> 8]).astype(np.uint8)
        return z85(zlib.compress(planes.tobytes(), 9))


def _folded(model, name: str, weights: _Weights, kind: str, stride: int, relu6: bool) -> dict:
    """The convolution ``{name}_conv`` with batch norm ``{name}_bn`` folded into it."""
    (kernel,) = model.get_layer(f"{name}_conv").get_weights()
    bn = model.get_layer(f"{name}_bn")
    gamma, beta, mean, variance = bn.get_weights()
    scale = gamma / np.sqrt(variance + bn.epsilon)
    if kind == "depthwise":
        kernel = kernel * scale[None, None, :, None]
    else:
        kernel = kernel * scale
    return {"name": name, "kind": kind, "stride": stride, "relu6": relu6,
            "kernel": weights.add(kernel), "bias": weights.add(beta - mean * scale)}


def model_spec(model) -> tuple[dict, str]:
    """The layer list of ``window.EXPLORER_MODEL`` and the encoded weights, from ``model``."""
    from helpers import imagenet

    weights = _Weights()
    spec = {"stem": _folded(model, "stem", weights, "conv", 2, True), "blocks": []}
    block, channels = 0, imagenet.STEM_CHANNELS
    for expansion, _kernel, first_stride, out_channels, repeats in imagenet.STAGES:
        for repeat in range(repeats):
            block += 1
            name, stride = f"block{block}", first_stride if repeat == 0 else 1
            layers = []
            if expansion != 1:
                layers.append(_folded(model, f"{name}_expand", weights, "conv", 1, True))
            layers.append(_folded(model, f"{name}_dw", weights, "depthwise", stride, True))
            layers.append(_folded(model, f"{name}_project", weights, "conv", 1, False))
            residual = stride == 1 and channels == out_channels
            if residual != (f"{name}_add" in [layer.name for layer in model.layers]):
                raise ValueError(f"{name}: the residual sum is not where helpers.imagenet "
                                 "puts it; has the architecture changed?")
            spec["blocks"].append({"name": name, "residual": residual, "layers": layers})
            channels = out_channels
    spec["head"] = _folded(model, "head", weights, "conv", 1, True)
    kernel, bias = model.get_layer("predictions").get_weights()
    spec["predictions"] = {"name": "predictions", "kind": "dense",
                           "kernel": weights.add(kernel), "bias": weights.add(bias)}
    spec["classes"] = list(imagenet.CLASSES)
    spec["parameters"] = weights.size
    spec["encoding"] = "float16, low bytes then high bytes, zlib, Z85"
    return spec, weights.encoded()


#: The photos' precision: 12 bits, ``v = round(4080 x)``. Eight bits are not enough to
#: call them the same photos: rounding ``x`` to ``round(255 x) / 255`` moves the network's
#: probabilities by up to 0.04 (rocket); with 12 bits the shift is a sixteenth of that.
PHOTO_LEVELS = 255 * 16


def photo_entry(image: np.ndarray) -> dict:
    """One photo for ``window.EXPLORER_PHOTOS``: ``v = round(4080 x)`` in two parts, its
    upper 8 bits ``v >> 4`` as a PNG ``data:`` URL (the picture a browser shows) and its
    lower 4 bits, two pixels per byte, zlib-compressed, as Z85 text. The page reads
    ``x = (16 * png + low) / 4080``, within ``1 / 8160`` of ``image``."""
    from PIL import Image

    levels = np.round(PHOTO_LEVELS * np.clip(image, 0.0, 1.0)).astype(np.uint16)
    buffer = io.BytesIO()
    Image.fromarray((levels >> 4).astype(np.uint8), "RGB").save(buffer, format="PNG",
                                                                  optimize=True)
    low = (levels & 15).astype(np.uint8).ravel()
    packed = low[0::2] | (low[1::2] << 4)
    return {"png": "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode(),
            "low": z85(zlib.compress(packed.tobytes(), 9))}


def book_photos() -> dict[str, np.ndarray]:
    """Every photo of ``helpers.data.PHOTOS`` at 224x224, then chapter 06's composite."""
    import helpers
    from helpers.data import PHOTOS

    photos = {name: helpers.load_photo(name, size=224) for name in PHOTOS}
    photos[COMPOSITE] = np.concatenate(
        [photos[part][:, COMPOSITE_COLUMNS] for part in COMPOSITE.split("|")], axis=1)
    return photos


#: Z85 (ZeroMQ RFC 32): four bytes in five characters, none of them a quote or a backslash,
#: so the text sits in a JavaScript string as it is; base64 takes six characters for the same.
Z85 = ("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
       ".-:+=^!/*?&<>()[]{}@%$#")


def z85(data: bytes) -> dict:
    """``{"bytes": len(data), "z85": text}``: ``data`` as Z85 text, zero-padded to a
    multiple of 4 bytes, and its length, so the reader can cut the padding off."""
    padded = np.frombuffer(data + b"\0" * (-len(data) % 4), ">u4").astype(np.uint64)
    digits = np.empty((len(padded), 5), np.uint8)
    for place in range(4, -1, -1):
        digits[:, place] = padded % 85
        padded //= 85
    text = np.frombuffer(Z85.encode("ascii"), np.uint8)[digits].tobytes().decode("ascii")
    return {"bytes": len(data), "z85": text}


def _script(variable: str, value) -> str:
    return (f"// Generated by scripts/export_tfjs.py during `make book`; do not edit.\n"
            f"window.{variable} = {json.dumps(value, separators=(',', ':'))};\n")


def export(output: Path = OUTPUT) -> list[Path]:
    """Write ``model.js`` and ``photos.js`` into ``output``; return their paths."""
    import helpers
    from helpers import imagenet

    helpers.setup()
    spec, weights = model_spec(imagenet.load_model())
    spec["weights"] = weights
    photos = {name: photo_entry(image) for name, image in book_photos().items()}
    output.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, variable, value in (("model.js", "EXPLORER_MODEL", spec),
                                      ("photos.js", "EXPLORER_PHOTOS", photos)):
        path = output / filename
        temporary = path.with_suffix(".tmp")
        temporary.write_text(_script(variable, value), encoding="ascii")
        temporary.replace(path)  # never a half-written file after an interruption
        written.append(path)
    return written


def wrap_wasm(binary: Path, script: Path) -> None:
    """TensorFlow.js' WebAssembly binary as ``window.TFJS_WASM_SIMD`` (:func:`z85`) in
    ``script``: ``scripts/setup.sh`` calls this (``--wasm``)."""
    data = binary.read_bytes()
    if data[:4] != b"\0asm":
        raise ValueError(f"{binary} is not a WebAssembly binary")
    script.write_text(_script("TFJS_WASM_SIMD", z85(data)), encoding="ascii")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--wasm"]:
        wrap_wasm(Path(sys.argv[2]), Path(sys.argv[3]))
        sys.exit(0)
    paths = export(Path(sys.argv[1]) if len(sys.argv) > 1 else OUTPUT)
    for path in paths:
        print(f"[export_tfjs] wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}"
              f" ({path.stat().st_size / 1e6:.1f} MB)")

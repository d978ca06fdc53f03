"""scripts/export_tfjs.py's encodings, which explorer.js decodes (the browser check,
tests/book_check.py, runs the whole page against helpers; these are the pieces, in
milliseconds and without TensorFlow)."""

import base64
import importlib.util
import io
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "export_tfjs.py"


@pytest.fixture(scope="module")
def export():
    spec = importlib.util.spec_from_file_location("export_tfjs", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def from_z85(encoded: dict) -> bytes:
    """The decoder of explorer.js (fromZ85), in Python."""
    value_of = {character: value for value, character in enumerate(SCRIPT_Z85)}
    text, out = encoded["z85"], bytearray()
    for start in range(0, len(text), 5):
        value = 0
        for character in text[start:start + 5]:
            value = value * 85 + value_of[character]
        out += value.to_bytes(4, "big")
    return bytes(out[:encoded["bytes"]])


SCRIPT_Z85 = ("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
              ".-:+=^!/*?&<>()[]{}@%$#")


def test_z85_is_the_standard_one(export):
    # The test vector of ZeroMQ's RFC 32.
    data = bytes([0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B])
    assert export.z85(data) == {"bytes": 8, "z85": "HelloWorld"}
    assert export.Z85 == SCRIPT_Z85 and '"' not in export.Z85 and "\\" not in export.Z85


@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 5, 1001])
def test_z85_round_trip_with_padding(export, size):
    data = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes()
    encoded = export.z85(data)
    assert len(encoded["z85"]) == 5 * -(-size // 4)
    assert from_z85(encoded) == data


def test_weights_are_float16_byte_planes(export):
    weights = export._Weights()
    first = weights.add(np.array([[1.0, -2.5], [65504.0, 1e-3]]))
    second = weights.add(np.array([0.1, 7.0, -0.0]))
    assert first == {"offset": 0, "shape": [2, 2]} and second == {"offset": 4, "shape": [3]}
    planes = np.frombuffer(zlib.decompress(from_z85(weights.encoded())), np.uint8)
    halves = (planes[:7].astype(np.uint16) | (planes[7:].astype(np.uint16) << 8)).view("<f2")
    np.testing.assert_array_equal(halves, np.float16([1.0, -2.5, 65504.0, 1e-3, 0.1, 7.0, -0.0]))
    with pytest.raises(ValueError, match="overflows float16"):
        weights.add(np.array([1e6]))


def test_photo_entry_keeps_12_bits(export):
    image = np.random.default_rng(0).random((224, 224, 3), dtype=np.float32)
    image[0, 0] = (0.0, 1.0, 0.5)
    entry = export.photo_entry(image)
    png = base64.b64decode(entry["png"].removeprefix("data:image/png;base64,"))
    high = np.asarray(Image.open(io.BytesIO(png)))
    packed = np.frombuffer(zlib.decompress(from_z85(entry["low"])), np.uint8)
    low = np.stack([packed & 15, packed >> 4], axis=1).ravel().reshape(224, 224, 3)
    values = (16 * high.astype(int) + low) / export.PHOTO_LEVELS  # as explorer.js reads it
    assert high.dtype == np.uint8 and high.shape == (224, 224, 3)
    assert np.abs(values - image).max() <= 1 / 8160 + 1e-7
    np.testing.assert_array_equal(values[0, 0], [0.0, 1.0, 2040 / 4080])

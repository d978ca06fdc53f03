"""The shared argument checks of helpers._validate: ints without bools, sizes, indices."""

import numpy as np
import pytest

from helpers._validate import (
    check_choice,
    check_finite,
    check_index,
    check_int,
    check_non_negative,
    check_pair,
    check_positive_int,
    check_size,
    is_int,
)


@pytest.mark.parametrize("value", [0, 3, -2, np.int64(5), np.uint8(7), np.int32(-1)])
def test_python_and_numpy_ints_are_ints(value):
    assert is_int(value)
    assert check_int(value, "n") == int(value) and type(check_int(value, "n")) is int


@pytest.mark.parametrize("value", [True, False, np.True_, 1.0, np.float32(2), "3", None, [1],
                                   np.array(3)])
def test_bools_floats_and_strings_are_not(value):
    assert not is_int(value)
    with pytest.raises(TypeError, match=f"steps must be a positive int, got "
                                        f"{type(value).__name__}"):
        check_positive_int(value, "steps")


def test_the_range_is_named_in_the_message():
    assert check_positive_int(np.int64(1), "steps") == 1
    with pytest.raises(ValueError, match="steps must be a positive int, got 0"):
        check_positive_int(0, "steps")
    with pytest.raises(ValueError, match="lines must be a non-negative int, got -1"):
        check_int(-1, "lines", minimum=0)
    with pytest.raises(ValueError, match="size must be an int of at least 32 pixels, got 16"):
        check_int(16, "size", minimum=32, hint=" pixels")
    with pytest.raises(ValueError, match="top must be an int from 1 to 1000, got 1001"):
        check_int(1001, "top", minimum=1, maximum=1000)


@pytest.mark.parametrize("value, expected", [
    (3, (3, 3)), (np.int64(32), (32, 32)), ((2, 1), (2, 1)), ([np.int32(4), 5], (4, 5)),
    (np.array([6, 7]), (6, 7)),
])
def test_a_pair_is_an_int_or_two(value, expected):
    pair = check_pair(value, "strides")
    assert pair == expected and all(type(v) is int for v in pair)


@pytest.mark.parametrize("value", [True, np.True_, (1, True), (1, 2, 3), (1,), 1.5, (1.0, 2),
                                   "ab", np.zeros((2, 2), int), np.array(3), None])
def test_anything_else_is_not_a_pair(value):
    with pytest.raises(TypeError, match="strides must be an int or a pair of ints"):
        check_pair(value, "strides")


def test_sizes_are_positive_pairs():
    assert check_size(np.int64(32)) == (32, 32)
    assert check_size((8, 16)) == (8, 16)
    with pytest.raises(ValueError, match=r"size must be positive, got \(0, 8\)"):
        check_size((0, 8))
    with pytest.raises(TypeError, match=r"size must be an int or a \(height, width\) pair"):
        check_size(True)
    with pytest.raises(ValueError, match="padding must be non-negative"):
        check_pair(-1, "padding", minimum=0)


def test_indices_name_what_they_count():
    assert check_index(np.int64(9), 10, "label", of="there are 10 classes") == 9
    with pytest.raises(ValueError, match="label 10 is out of range: there are 10 classes, "
                                         "0 to 9"):
        check_index(10, 10, "label", of="there are 10 classes")
    with pytest.raises(ValueError, match="label -1 is out of range"):
        check_index(-1, 10, "label", of="there are 10 classes")
    with pytest.raises(TypeError, match="label must be an int, got bool"):
        check_index(True, 10, "label", of="there are 10 classes")


def test_finite_and_non_negative_numbers():
    check_finite(np.zeros((2, 2)), "heatmap")
    for bad in (np.nan, np.inf, -np.inf):
        with pytest.raises(ValueError, match="heatmap must be finite, got NaN or infinite"):
            check_finite(np.array([0.0, bad]), "heatmap")
        with pytest.raises(ValueError, match="sigma must be a non-negative number of pixels"):
            check_non_negative(bad if bad != np.inf else -1.0, "sigma", "number of pixels")
    check_non_negative(0.0, "sigma")
    check_non_negative(np.float32(2.5), "sigma")


def test_a_choice_is_one_of_the_strings():
    assert check_choice("maps", "average", ("maps", "gradients")) == "maps"
    with pytest.raises(ValueError, match=r"unknown photo 'kitten'; expected one of \('cat',\)"):
        check_choice("kitten", "name", ("cat",), "photo")
    with pytest.raises(TypeError, match=r"average must be a str, one of \('maps',\); got NoneType"):
        check_choice(None, "average", ("maps",))

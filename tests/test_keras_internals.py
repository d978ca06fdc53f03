"""The one door to private Keras names (helpers/explain/_keras.py): what it checks, and the
error a Keras that renamed one of them gets."""

import importlib
import re
from pathlib import Path

import keras
import numpy as np
import pytest
from keras.src.ops.function import Function

from helpers import explain
from helpers.explain import _keras

ROOT = Path(__file__).resolve().parents[1]


def test_the_tested_versions_are_the_floor_and_the_pin():
    pin = re.search(r"^keras==(\S+)", (ROOT / "requirements.txt").read_text(), re.M)
    assert pin and pin.group(1) == _keras.NEWEST_TESTED
    floor = re.search(r'^\s*"keras>=([\d.]+)",$', (ROOT / "pyproject.toml").read_text(), re.M)
    assert floor and _keras.OLDEST_TESTED.startswith(floor.group(1))
    compat = re.search(r"^keras==(\S+)", (ROOT / "requirements-compat.txt").read_text(), re.M)
    assert compat and compat.group(1) == _keras.OLDEST_TESTED


def test_only_the_door_names_private_keras():
    """No other module of helpers touches the names the door stands for."""
    names = re.compile(r"_run_through_graph|_nodes_by_depth|_call_has_training_arg|"
                       r"_omit_frequent_tracing_warning|keras\.src")
    offenders = [str(path.relative_to(ROOT)) for path in (ROOT / "helpers").rglob("*.py")
                 if path.name != "_keras.py" and names.search(path.read_text())]
    assert offenders == []


def test_a_renamed_walk_gets_an_error_naming_the_versions(monkeypatch):
    monkeypatch.delattr(Function, "_run_through_graph")
    message = (rf"Functional\._run_through_graph, which Keras {re.escape(keras.__version__)} "
               rf"does not have.*tested with Keras 3\.8\.0 to {re.escape(_keras.NEWEST_TESTED)}")
    # Importing helpers.explain again on such a Keras: the door's check runs at import.
    with pytest.raises(ImportError, match=message) as error:
        importlib.reload(_keras)
    assert type(error.value).__name__ == "KerasInternalsError"
    monkeypatch.undo()
    importlib.reload(_keras)  # as it was, for the other tests
    assert _keras.FUNCTIONAL.__name__ == "Functional"


def test_a_changed_walk_signature_is_refused_too(monkeypatch):
    monkeypatch.setattr(Function, "_run_through_graph", lambda self, inputs: inputs)
    with pytest.raises(_keras.KerasInternalsError, match=r"operation_fn=\.\.\."):
        _keras._find_functional()


def test_a_moved_functional_class_is_refused(monkeypatch):
    real = importlib.import_module

    def without_functional(name, *args):
        if name == "keras.src.models.functional":
            raise ModuleNotFoundError(name)
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", without_functional)
    with pytest.raises(_keras.KerasInternalsError, match="models.functional.Functional, which"):
        _keras._find_functional()


def test_functional_models_and_the_others_are_told_apart():
    inputs = keras.Input((4, 4, 1))
    functional = keras.Model(inputs, keras.layers.Conv2D(2, 3)(inputs))
    sequential = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Conv2D(2, 3)])

    class Subclassed(keras.Model):
        def call(self, x):
            return x

    assert _keras.is_functional(functional)
    assert not _keras.is_functional(sequential)
    assert not _keras.is_functional(Subclassed())


class Plain(keras.layers.Layer):
    def call(self, x):
        return x


class WithTraining(keras.layers.Layer):
    def call(self, x, training=None):
        return x


@pytest.mark.parametrize("layer", [
    keras.layers.Dropout(0.5), keras.layers.BatchNormalization(), keras.layers.Dense(2),
    keras.layers.Conv2D(2, 3), keras.layers.ReLU(), Plain(), WithTraining()],
    ids=lambda layer: type(layer).__name__)
def test_training_is_read_from_the_call_signature_as_keras_reads_it(layer):
    assert _keras.takes_training(layer) is layer._call_has_training_arg
    if isinstance(layer, (keras.layers.Dropout, WithTraining)):
        assert _keras.takes_training(layer)
    if isinstance(layer, (Plain, keras.layers.ReLU)):
        assert not _keras.takes_training(layer)


def test_a_functional_model_still_runs_after_the_check():
    inputs = keras.Input((6, 6, 1))
    hidden = keras.layers.Conv2D(2, 3, name="conv")(inputs)
    outputs = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(hidden))
    model = keras.Model(inputs, outputs)
    maps = explain.feature_maps(model, np.ones((1, 6, 6, 1), np.float32), ["conv"])
    assert maps["conv"].shape == (1, 4, 4, 2)

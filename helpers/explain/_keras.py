"""Every private Keras and TensorFlow name the helpers use, behind one checked door.

Reading any inner layer of a model in one differentiable pass (:mod:`helpers.explain._graph`)
needs two things Keras does not offer publicly: the class of Functional models, and
``Function._run_through_graph``, the node-by-node walk through such a model into which we
pass our own per-layer function. Quieting TensorFlow's "retracing" warning for our
per-model compiled functions needs one private attribute of ``tf.function``. They are all
here, and nowhere else in ``helpers``.

This module checks at import that they exist as it expects. If a Keras release renames
one, importing :mod:`helpers.explain` raises :class:`KerasInternalsError`, which names the
installed Keras and the versions tested, instead of a misleading message later (a
Functional model refused as "subclassed", say). The private names are used with Keras
3.8 (``make compat``) to the pin in ``requirements.txt`` (``make test``); CI also runs the
helpers' tests on the newest Keras the registry offers (``make newest``), so that a break
is seen the day it ships.

Where a public way exists, it is used: whether a layer takes ``training`` is read from
its ``call`` signature with :func:`inspect.signature`, as Keras itself does.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable

import keras
import tensorflow as tf

#: The oldest and the newest Keras the helpers are tested with: the floor in pyproject.toml
#: (``make compat``) and the pin in requirements.txt (``make test``);
#: tests/test_keras_internals.py checks that both files say the same.
OLDEST_TESTED = "3.8.0"
NEWEST_TESTED = "3.15.1"


class KerasInternalsError(ImportError):
    """This Keras lacks a private name the helpers need: a newer (or older) release than
    those tested changed it."""


def _fail(what: str) -> KerasInternalsError:
    return KerasInternalsError(
        f"helpers.explain needs {what}, which Keras {keras.__version__} does not have. The "
        f"helpers are tested with Keras {OLDEST_TESTED} to {NEWEST_TESTED}: install one of "
        f"those (pip install \"keras>={OLDEST_TESTED},<={NEWEST_TESTED}\"), or report it at "
        "the course's repository with your Keras version.")


def _find_functional() -> type:
    """The class of models built with ``keras.Model(inputs, outputs)`` (Keras 3's
    ``keras.src.models.functional.Functional``), checked to have the walk we call."""
    what = "keras.src.models.functional.Functional"
    try:
        functional = importlib.import_module("keras.src.models.functional").Functional
    except (ImportError, AttributeError):
        raise _fail(what) from None
    if not (isinstance(functional, type) and issubclass(functional, keras.Model)):
        raise _fail(f"{what}, a subclass of keras.Model")
    walk = getattr(functional, "_run_through_graph", None)
    if not callable(walk):
        raise _fail(f"{what}._run_through_graph")
    parameters = inspect.signature(walk).parameters
    if not {"inputs", "operation_fn"} <= set(parameters):
        raise _fail(f"{what}._run_through_graph(inputs, operation_fn=...)")
    return functional


def _tracing_warning_attribute() -> str | None:
    """The attribute of a ``tf.function`` that turns its "frequent retracing" warning off,
    or None if this TensorFlow has none (the warning may then appear; nothing breaks)."""
    name = "_omit_frequent_tracing_warning"
    return name if hasattr(tf.function(lambda: None), name) else None


#: Found and checked at import: the Functional class, and the switch of the retracing warning.
FUNCTIONAL = _find_functional()
_TRACING_WARNING = _tracing_warning_attribute()


def is_functional(model) -> bool:
    """True for a model built from a graph of layers (``keras.Model(inputs, outputs)``, or a
    subclass built that way); False for Sequential and subclassed models."""
    return isinstance(model, FUNCTIONAL)


def run_through_graph(model, args: tuple, operation_fn: Callable) -> object:
    """Run a Functional ``model`` on ``args`` node by node, calling
    ``operation_fn(layer)(*args, **kwargs)`` in place of each layer."""
    return model._run_through_graph(args, operation_fn=operation_fn)


def takes_training(layer) -> bool:
    """Whether ``layer.call`` has a ``training`` argument (dropout, batch normalization),
    read from its signature as Keras reads it."""
    try:
        return "training" in inspect.signature(layer.call).parameters
    except (TypeError, ValueError):  # a call without a signature Python can read
        return False


def quiet_retracing(function) -> None:
    """Turn off the "frequent retracing" warning of a ``tf.function``, where TensorFlow
    has the switch: the helpers trace one function per model on purpose."""
    if _TRACING_WARNING is not None:
        setattr(function, _TRACING_WARNING, True)

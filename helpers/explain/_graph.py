"""Running a model so that any layer's output can be read: the machinery under ``explain``.

Every explanation needs the output of some inner layer (a feature map) together with the
class score, in one forward pass that a ``GradientTape`` can differentiate. The usual
recipe, ``keras.Model(model.inputs, [model.get_layer(name).output, model.output])``, breaks
in Keras 3 for layers inside a nested model ("graph disconnected", "layer has never been
called") and builds a new model on every call. Instead, :class:`ForwardPass` walks the
model's own graph, layer by layer, into nested Sequential and Functional models, calling
each layer on real tensors. It can

* hand out ("tap") the output of any layer, found by its own name, on the way;
* stop as soon as every tapped layer has run, when no class score is needed;
* replace a final softmax (or sigmoid) by the identity, so scores are logits, without
  touching the caller's model.

The walk happens once, when TensorFlow traces a ``tf.function``; the compiled function is
then cached per model (:func:`compiled`), so a repeated call costs one graph execution.
The private Keras names the walk needs are in :mod:`helpers.explain._keras`, checked at
import.
The chapters do the same by hand: chapter 03 (``notebooks/03_feature_maps.ipynb``) reads a
layer's output, chapter 06 (``notebooks/06_class_activation_maps.ipynb``) differentiates
the class score with respect to it.
"""

from __future__ import annotations

import collections
import functools
import weakref
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from helpers._validate import check_positive_int
from helpers.explain import _keras
from helpers.explain._checks import as_image_batch, class_indices

#: Final activations that are stripped so that scores are logits.
SQUASHING = frozenset({"softmax", "softmax_v2", "log_softmax", "sigmoid"})
#: Layers that return their input unchanged at inference time.
PASS_THROUGH = (keras.layers.Dropout, keras.layers.GaussianNoise, keras.layers.GaussianDropout,
                keras.layers.AlphaDropout, keras.layers.ActivityRegularization,
                keras.layers.Identity)
#: Images per forward pass when a method has many to run (noisy samples, masked copies).
DEFAULT_BATCH_SIZE = 32


class _Stop(Exception):
    """Raised inside a walk once every tapped layer has run and nothing else is needed."""


def _activation_name(function) -> str:
    return getattr(function, "__name__", "")  # "" for None


class _WithoutActivation:
    """A stand-in for a layer whose ``activation`` is the identity; everything else is the
    layer's own (weights included). Lets us compute a Dense layer's logits before its
    softmax without ever changing the caller's layer."""

    def __init__(self, layer):
        self._layer = layer

    def __getattr__(self, name):
        if name == "activation":
            return None
        return getattr(self._layer, name)


#: Layers that are an activation and nothing else (Conv -> BatchNorm -> ReLU, as in
#: keras.applications): "before the activation" is their input.
STANDALONE_ACTIVATIONS = (keras.layers.Activation, keras.layers.ReLU, keras.layers.LeakyReLU,
                          keras.layers.PReLU, keras.layers.ELU, keras.layers.Softmax)


def _has_activation(layer) -> bool:
    return _activation_name(getattr(layer, "activation", None)) not in ("", "linear")


def _call_without_activation(layer, args, kwargs):
    return type(layer).call(_WithoutActivation(layer), *args, **kwargs)


@dataclass
class LayerCall:
    """One layer call seen while tracing the model."""

    layer: keras.layers.Layer
    name: str  # the layer's own name
    path: str  # "outer/inner/name" for a layer in a nested model
    inputs: tuple[int, ...]  # ids of the input tensors (valid only among one trace's calls)
    output: int  # id of the output tensor
    shape: tuple  # output shape without the batch axis
    leaf: bool  # False for a nested model


class _Walk:
    """The state of one pass through the model."""

    def __init__(self, targets=None, watch=None, stop=False, pre_activation=False,
                 record=None, strip=None):
        self.targets = targets or {}  # id(layer) -> key under which its output is returned
        self.watch = watch
        self.stop = stop
        self.pre_activation = pre_activation
        self.record = record
        self.strip = strip
        self.outputs = {}


class ForwardPass:
    """A model, run layer by layer, for images of one shape ``(H, W, C)``.

    Parameters
    ----------
    model
        A Sequential or Functional Keras model (possibly with nested models). A subclassed
        model can only be run whole: its class scores work, its layers cannot be tapped.
    image_shape
        ``(H, W, C)`` of the images it will see.
    """

    def __init__(self, model: keras.Model, image_shape: tuple[int, int, int]):
        self._model = weakref.ref(model)
        self.model_name = model.name
        self.image_shape = tuple(int(d) for d in image_shape)
        self.calls: list[LayerCall] = []
        self.strip = None  # (layer, "drop" | "linear")
        self.num_classes: int | None = None
        self._logits_id: int | None = None
        self._trace(model)

    # -- running -------------------------------------------------------------------------
    @tf.autograph.experimental.do_not_convert  # plain Python over layers: nothing to convert
    def run(self, x: tf.Tensor, taps: Sequence[keras.layers.Layer] = (),
            watch: Callable | None = None, logits: bool = True, pre_activation: bool = False):
        """Run the model on ``x``; return ``(outputs of the tapped layers, logits)``.

        ``watch`` is called on each tapped output as soon as it exists (pass
        ``tape.watch``). With ``logits=False`` the walk stops after the last tapped layer
        and the logits returned are ``None``. With ``pre_activation`` a tapped layer that
        has its own activation (``Conv2D(..., activation="relu")``) is tapped before it,
        and a tapped activation layer (``ReLU``, ``Activation``, ...) gives its input.
        """
        model = self._model()
        if model is None:  # pragma: no cover - the cache drops us with the model
            raise RuntimeError("the model of this forward pass no longer exists")
        walk = _Walk(targets={id(layer): layer.name for layer in taps}, watch=watch,
                     stop=not logits, pre_activation=pre_activation, strip=self.strip)
        try:
            out = self._run_model(model, (x,), {}, walk, prefix="", root=True)
        except _Stop:
            return walk.outputs, None
        return walk.outputs, tf.cast(out, tf.float32) if logits else None

    def _run_model(self, model, args, kwargs, walk, prefix, root=False):
        if isinstance(model, keras.Sequential):
            x = keras.tree.flatten(args)[0]
            for layer in model.layers:
                x = self._run_layer(layer, (x,), {}, walk, prefix)
            return x
        if _keras.is_functional(model):  # Keras' own walk, each layer called through ours
            out = _keras.run_through_graph(
                model, args, lambda layer: lambda *a, **k: self._run_layer(
                    layer, a, k, walk, prefix))
            outputs = keras.tree.flatten(out)
            return outputs[0] if len(outputs) == 1 else outputs
        if root:  # a subclassed model: run it whole
            return model(*args, training=False, **kwargs)
        return self._call_leaf(model, args, kwargs, walk, prefix)

    def _run_layer(self, layer, args, kwargs, walk, prefix):
        if isinstance(layer, keras.Sequential) or _keras.is_functional(layer):
            out = self._run_model(layer, args, kwargs, walk, prefix + layer.name + "/")
            if walk.record is not None:
                walk.record.append((layer, prefix + layer.name, args, out, False))
            return self._tap(layer, out, walk)
        return self._call_leaf(layer, args, kwargs, walk, prefix)

    def _call_leaf(self, layer, args, kwargs, walk, prefix):
        kwargs = dict(kwargs)
        if _keras.takes_training(layer):
            kwargs["training"] = False  # dropout off, batch-norm statistics frozen
        key = walk.targets.get(id(layer))
        if walk.strip is not None and layer is walk.strip[0]:
            out = (keras.tree.flatten(args)[0] if walk.strip[1] == "drop"
                   else _call_without_activation(layer, args, kwargs))
        elif (key is not None and walk.pre_activation
              and isinstance(layer, STANDALONE_ACTIVATIONS)):
            self._tap(layer, keras.tree.flatten(args)[0], walk)  # may end the walk here
            return layer(*args, **kwargs)
        elif key is not None and walk.pre_activation and _has_activation(layer):
            before = _call_without_activation(layer, args, kwargs)
            before = self._tap(layer, before, walk, stop=False)
            out = layer.activation(before)
            return self._maybe_stop(out, walk)
        else:
            out = layer(*args, **kwargs)
        if walk.record is not None:
            walk.record.append((layer, prefix + layer.name, args, out, True))
        return self._tap(layer, out, walk)

    def _tap(self, layer, out, walk, stop=True):
        key = walk.targets.get(id(layer))
        if key is None:
            return out
        if walk.watch is not None:
            walk.watch(out)
        walk.outputs[key] = out
        return self._maybe_stop(out, walk) if stop else out

    @staticmethod
    def _maybe_stop(out, walk):
        if walk.stop and len(walk.outputs) == len(walk.targets):
            raise _Stop
        return out

    # -- tracing once: layer names, shapes, the final softmax, the head after a layer -----
    def _trace(self, model):
        if not model.built:  # a Sequential without an Input, never called: build it
            model(np.zeros((1, *self.image_shape), np.float32))
        records = []

        def trace(x):
            out = self._run_model(model, (x,), {}, _Walk(record=records), prefix="", root=True)
            records.append((None, "", (), out, False))
            return out

        spec = tf.TensorSpec((None, *self.image_shape), tf.float32)
        tf.function(trace, autograph=False).get_concrete_function(spec)
        # All traced tensors are alive in `records` here, so their ids are unique.
        final = records.pop()[3]
        if isinstance(final, (list, tuple)):
            raise ValueError(f"expected a model with one output, {self.model_name!r} has "
                             f"{len(final)}")
        for layer, path, args, out, leaf in records:
            if not isinstance(layer, keras.layers.Layer) or isinstance(out, (list, tuple)):
                continue
            self.calls.append(LayerCall(
                layer=layer, name=layer.name, path=path,
                inputs=tuple(id(t) for t in keras.tree.flatten(args) if tf.is_tensor(t)),
                output=id(out), shape=tuple(out.shape[1:]), leaf=leaf))
        self._times_called = collections.Counter(id(c.layer) for c in self.calls)
        self._logits_id = id(final)
        last = [c for c in self.calls if c.leaf and c.output == id(final)]
        if last:
            layer = last[-1].layer
            if isinstance(layer, keras.layers.Softmax) or (
                    isinstance(layer, keras.layers.Activation)
                    and _activation_name(layer.activation) in SQUASHING):
                self.strip = (layer, "drop")
                self._logits_id = last[-1].inputs[0]
            elif _activation_name(getattr(layer, "activation", None)) in SQUASHING:
                self.strip = (layer, "linear")
        if len(final.shape) == 2 and final.shape[-1] is not None:
            self.num_classes = int(final.shape[-1])

    def require_classes(self) -> int:
        """The number of classes; a ValueError if the model is not a classifier."""
        if self.num_classes is None:
            raise ValueError(f"expected a classifier whose output is (N, classes); model "
                             f"{self.model_name!r} outputs something else")
        return self.num_classes

    def layer_names(self, ranks: tuple[int, ...]) -> list[str]:
        """Names of the layers (nested ones included) whose output has one of ``ranks``
        (counting the batch axis), in the order they run; a layer called more than once (a
        shared layer) is left out: which call's output it means would be ambiguous."""
        names = []
        for call in self.calls:
            once = self._times_called[id(call.layer)] == 1
            if once and len(call.shape) + 1 in ranks and call.name not in names:
                names.append(call.name)
        return names

    def find(self, layer: str | None, ranks: tuple[int, ...] = (4,),
             expected: str = "a spatial layer, whose output is 4-D (N, h, w, channels)"
             ) -> LayerCall:
        """The call of the layer named ``layer``, or of the last layer whose output has one
        of ``ranks`` when ``layer`` is None. A layer called more than once (a shared layer)
        is refused with a ValueError: no method guesses which of its calls is meant."""
        if not self.calls:
            raise TypeError(f"cannot look inside {type(self._model()).__name__} "
                            f"{self.model_name!r}: naming a layer needs a Sequential or "
                            "Functional model, not a subclassed one")
        valid = self.layer_names(ranks)
        if layer is None:
            leaves = [c for c in self.calls if c.leaf and len(c.shape) + 1 in ranks]
            if not leaves:
                raise ValueError(f"model {self.model_name!r} has no {expected}")
            return self._called_once(leaves[-1], valid)
        if not isinstance(layer, str):
            raise TypeError(f"layer must be a layer name (str) or None, got "
                            f"{type(layer).__name__}; valid choices: {valid}")
        matches = [c for c in self.calls if layer in (c.name, c.path)]
        if not matches:
            raise ValueError(f"no layer named {layer!r} in model {self.model_name!r}; "
                             f"expected {expected}, one of: {valid}")
        if len({id(c.layer) for c in matches}) > 1:
            raise ValueError(f"several layers are named {layer!r}; give the full path, one "
                             f"of: {sorted({c.path for c in matches})}")
        call = self._called_once(matches[-1], valid)
        if len(call.shape) + 1 not in ranks:
            raise ValueError(f"layer {layer!r} outputs shape {(None, *call.shape)}; expected "
                             f"{expected}, one of: {valid}")
        return call

    def _called_once(self, call: LayerCall, valid: list[str]) -> LayerCall:
        times = self._times_called[id(call.layer)]
        if times > 1:
            raise ValueError(f"layer {call.name!r} is called {times} times in model "
                             f"{self.model_name!r} (a shared layer), so which output to use "
                             f"is ambiguous; name a layer that is called once, one of: {valid}")
        return call

    def dense_head(self, call: LayerCall) -> keras.layers.Dense:
        """The final Dense layer, when ``call``'s output reaches the logits through global
        average pooling and that Dense layer only (CAM's requirement); else a ValueError."""
        consumers: dict[int, list[LayerCall]] = {}
        for c in self.calls:
            if c.leaf:
                for tensor_id in set(c.inputs):
                    consumers.setdefault(tensor_id, []).append(c)
        chain, tensor_id = [], call.output
        while tensor_id != self._logits_id:
            nexts = [c for c in consumers.get(tensor_id, ()) if c.output != tensor_id]
            if len(nexts) != 1:
                break
            tensor_id = nexts[0].output
            if not isinstance(nexts[0].layer, PASS_THROUGH):
                chain.append(nexts[0].layer)
        kinds = [type(layer).__name__ for layer in chain]
        if (tensor_id == self._logits_id and len(chain) == 2
                and isinstance(chain[0], keras.layers.GlobalAveragePooling2D)
                and not chain[0].keepdims and isinstance(chain[1], keras.layers.Dense)):
            return chain[1]
        raise ValueError(
            f"cam needs the layer's output to reach the logits through "
            f"GlobalAveragePooling2D and one Dense layer; after {call.name!r} model "
            f"{self.model_name!r} has {' -> '.join(kinds) or 'something else'}. Use grad_cam, "
            "which works for any architecture (and equals CAM up to scale when CAM applies).")


# -- caching compiled functions per model --------------------------------------------------
_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def forward_pass(model: keras.Model, image_shape: tuple[int, ...]) -> ForwardPass:
    """The (cached) :class:`ForwardPass` of ``model`` for images of ``image_shape``."""
    return compiled(model, ("forward", tuple(image_shape)),
                    lambda: ForwardPass(model, image_shape))


def compiled(model: keras.Model, key: Hashable, build: Callable):
    """``build()``, made once per model and key, and forgotten with the model."""
    functions = _CACHE.setdefault(model, {})
    if key not in functions:
        functions[key] = build()
    return functions[key]


def per_model(build: Callable) -> Callable:
    """Decorator for ``build(forward, *args)``, which makes a method's compiled function(s)
    from a :class:`ForwardPass`: ``build(model, image_shape, *args)`` then makes them once
    per model, image shape and (hashable) ``args``, and they are forgotten with the model."""
    @functools.wraps(build)
    def cached(model: keras.Model, image_shape: tuple[int, ...], *args):
        shape = tuple(int(d) for d in image_shape)
        return compiled(model, (build.__name__, shape, *args),
                        lambda: build(forward_pass(model, shape), *args))

    return cached


# -- one call of a method: its arguments checked once ("validate, then delegate") ----------
#: ``prepare(..., layer=NO_LAYER)``: the method reads no inner layer (pixel gradients).
NO_LAYER = object()


@dataclass(frozen=True)
class Prepared:
    """One call of a method, its arguments checked."""

    model: keras.Model
    batch: np.ndarray  # float32 (N, H, W, C)
    single: bool  # the caller gave one image (H, W, C)
    forward: ForwardPass
    index: np.ndarray | None  # int32 (N,), -1 = the predicted class; None: not a classifier
    batch_size: int
    call: LayerCall | None  # the layer the method reads, if any

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.batch.shape[1:]

    def unbatch(self, result):
        """``result`` (batched) as the caller asked: without the batch axis for one image."""
        return result[0] if self.single else result

    def classes(self) -> np.ndarray:
        """``index`` with each -1 ("the predicted class") replaced by the class the model
        predicts on that image: int32 ``(N,)``."""
        if self.index is None:
            raise ValueError("this call was prepared without classes (classifier=False)")
        if (self.index >= 0).all():
            return self.index
        predicted = in_batches(_predict_fn(self.model, self.image_shape), [self.batch],
                               self.batch_size)
        return np.where(self.index < 0, predicted, self.index).astype(np.int32)


def prepare(model: keras.Model, images, class_index=None, batch_size: int = 1, *,
            layer=NO_LAYER, classifier: bool = True) -> Prepared:
    """Check a method's arguments, in the order their errors are reported."""
    batch, single = as_image_batch(images, model)
    batch_size = check_positive_int(batch_size, "batch_size")
    forward = forward_pass(model, batch.shape[1:])
    call = None if layer is NO_LAYER else forward.find(layer)
    index = (class_indices(class_index, len(batch), forward.require_classes())
             if classifier else None)
    return Prepared(model, batch, single, forward, index, batch_size, call)


def graph_function(input_signature=None, **options) -> Callable:
    """``tf.function`` for the compiled functions cached here, one per model and layer.

    They share their Python code, so TensorFlow would count every new one as a "retracing"
    of the same function and warn; each is traced once per model by design, so the warning
    is turned off for them.
    """
    def decorate(python_function):
        function = tf.function(python_function, input_signature=input_signature, **options)
        _keras.quiet_retracing(function)
        return function

    return decorate


def image_spec(image_shape: tuple[int, ...]) -> tf.TensorSpec:
    return tf.TensorSpec((None, *image_shape), tf.float32)


INDEX_SPEC = tf.TensorSpec((None,), tf.int32)


@per_model
def _predict_fn(forward):
    @graph_function(input_signature=[image_spec(forward.image_shape)])
    def predicted_class(x):
        _, logits = forward.run(x)
        return tf.argmax(logits, axis=-1, output_type=tf.int32)

    return predicted_class


# -- small pieces of graph code shared by the methods ----------------------------------------
def class_scores(logits: tf.Tensor, class_index: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Each image's score for its class (``-1``: its predicted class), and the classes."""
    predicted = tf.argmax(logits, axis=-1, output_type=tf.int32)
    index = tf.where(class_index < 0, predicted, class_index)
    return tf.gather(logits, index, axis=1, batch_dims=1), index


def class_probabilities(logits: tf.Tensor, index: tf.Tensor) -> tf.Tensor:
    """The softmax probability of each image's class, for ``n`` images with ``m`` variants
    each (masked copies, curve steps) run as one batch, image-major: logits ``(n * m,
    classes)`` and classes ``(n,)`` in, probabilities ``(n, m)`` out."""
    n = tf.shape(index)[0]
    probabilities = tf.reshape(tf.nn.softmax(logits), (n, -1, tf.shape(logits)[-1]))
    return tf.gather(probabilities, index, axis=2, batch_dims=1)


def upsample(maps: tf.Tensor, size: tuple[int, int]) -> tf.Tensor:
    """Coarse maps ``(N, h, w)`` resized bilinearly to ``(N, H, W)``, kept non-negative."""
    resized = tf.image.resize(maps[..., None], size, method="bilinear")[..., 0]
    return tf.maximum(resized, 0.0)


def in_batches(function: Callable, arrays: Sequence[np.ndarray], batch_size: int):
    """``function`` applied to slices of ``arrays`` of at most ``batch_size`` along the first
    axis, the outputs (NumPy, one array or a tuple) concatenated.

    A method that runs ``m`` variants of each image (Score-CAM's masked copies) takes
    ``batch_size`` images per slice, and within a slice :func:`in_column_chunks` of the
    variants: at most about ``batch_size`` images per forward pass."""
    n = len(arrays[0])
    parts = [function(*(tf.constant(a[start:start + batch_size]) for a in arrays))
             for start in range(0, n, batch_size)]
    if isinstance(parts[0], (tuple, list)):
        return tuple(np.concatenate([np.asarray(p[i]) for p in parts])
                     for i in range(len(parts[0])))
    return np.concatenate([np.asarray(p) for p in parts])


def in_column_chunks(function: Callable, count: int, images: int, batch_size: int) -> np.ndarray:
    """``function(start, stop)`` (an ``(images, stop - start)`` array) over ``range(count)``
    in chunks of ``max(1, batch_size // images)``, concatenated along axis 1: the variants of
    ``images`` images, at most about ``batch_size`` per forward pass."""
    per_call = max(1, batch_size // images)
    return np.concatenate([np.asarray(function(start, min(start + per_call, count)))
                           for start in range(0, count, per_call)], axis=1)

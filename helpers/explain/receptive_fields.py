"""Which input pixels one unit of a layer sees: its receptive field, read from the model.

Chapter 01's rule (``notebooks/01_convolution.ipynb``, receptive fields), applied layer by
layer through the model's own graph: a ``K x K`` window (convolution or pooling, dilated
windows counted at their dilated size) widens the field by ``(K - 1)`` times the *jump*,
the distance in input pixels between two neighboring units of its input, and its stride
multiplies the jump. Padding moves the field: with ``"same"`` padding the first window
starts ``before`` pixels left of (above) the image, where ``before`` is TensorFlow's share
of the padding (:func:`helpers.conv.same_padding`), so the field of a border unit reaches
outside the image. Layers that work pixel by pixel (batch norm, activations, additions,
concatenations, 1x1 convolutions) change nothing; where branches meet, the field is the
union of theirs. The field is chapter 01's arithmetic: it counts padded positions of inner
maps as if they saw pixels, so a unit that reads only padding added inside the network
(a ``ZeroPadding2D`` column, say) depends on no pixel at all, whatever its field says.
"""

from __future__ import annotations

from typing import NamedTuple

import keras

from helpers.conv import same_padding
from helpers.explain._checks import check_model, image_shape_for
from helpers.explain._graph import PASS_THROUGH, STANDALONE_ACTIVATIONS, forward_pass

#: Layers that slide a window over their input: (kernel attribute, class).
_WINDOWS = ((keras.layers.Conv2D, "kernel_size"), (keras.layers.DepthwiseConv2D, "kernel_size"),
            (keras.layers.SeparableConv2D, "kernel_size"), (keras.layers.MaxPooling2D, "pool_size"),
            (keras.layers.AveragePooling2D, "pool_size"))
#: Layers whose output pixel (i, j) depends on the input pixels (i, j) only.
_PIXELWISE = (keras.layers.BatchNormalization, keras.layers.LayerNormalization,
              keras.layers.Rescaling, keras.layers.Normalization, keras.layers.SpatialDropout2D,
              keras.layers.Add, keras.layers.Subtract, keras.layers.Multiply,
              keras.layers.Average, keras.layers.Maximum, keras.layers.Minimum,
              keras.layers.Concatenate, *STANDALONE_ACTIVATIONS, *PASS_THROUGH)


class ReceptiveField(NamedTuple):
    """The input pixels that the units of one layer see, per axis ``(rows, columns)``.

    Unit ``(i, j)`` sees rows ``start[0] + i * jump[0]`` to that plus ``size[0] - 1``, and
    likewise columns; a negative start, or an end past the image, lies in the padding.
    """

    size: tuple[int, int]  # the field's side, in input pixels
    jump: tuple[int, int]  # input pixels between two neighboring units
    start: tuple[int, int]  # first row and column seen by unit (0, 0)

    def window(self, row: int, col: int) -> tuple[int, int, int, int]:
        """``(top, left, bottom, right)`` of unit ``(row, col)``'s field, bottom and right
        excluded (a slice of the image, before clipping at its border)."""
        top = self.start[0] + row * self.jump[0]
        left = self.start[1] + col * self.jump[1]
        return top, left, top + self.size[0], left + self.size[1]


def receptive_field(model: keras.Model, layer: str,
                    size: int | tuple[int, int] | None = None) -> ReceptiveField:
    """The receptive field of the units of ``layer``, computed from the model's layers.

    Chapter 01's rule (size grows by ``(K - 1) x jump`` per window, the jump by the stride)
    applied through every convolution and pooling between the input and ``layer``, with the
    offset that the padding adds. Used by :func:`helpers.explain.dataset_examples` to cut
    each unit's patch out of its image (chapter 04, notebooks/04_filter_visualization.ipynb).

    Parameters
    ----------
    model
        A Sequential or Functional Keras model; ``layer`` may sit in a nested model.
    layer
        Name of a layer with a 4-D ``(N, h, w, channels)`` output.
    size
        ``(H, W)`` of the images (an int for a square), needed only for a model that
        accepts any size: ``"same"`` padding with a stride depends on it.

    Returns
    -------
    ReceptiveField
        ``size``, ``jump`` and ``start`` per axis; ``window(row, col)`` gives one unit's.

    Raises
    ------
    ValueError
        For an unknown layer (the message lists the spatial ones), or a layer on the way
        whose geometry is not known here (for example a transposed convolution or a resize).

    Examples
    --------
    Two 3 x 3 convolutions see 5 x 5 pixels: the course model's first two layers. Their
    ``"same"`` padding starts the field of unit ``(0, 0)`` 2 pixels above and left of the
    image:

    >>> model = helpers.load_course_model()
    >>> receptive_field(model, "conv2")
    ReceptiveField(size=(5, 5), jump=(1, 1), start=(-2, -2))

    A 2 x 2 pooling with stride 2 widens the field by one jump and doubles the jump. By
    ``conv5``, a unit sees 24 x 24 of the 28 x 28 pixels, and its neighbors' fields are 4
    pixels apart:

    >>> receptive_field(model, "pool1")
    ReceptiveField(size=(6, 6), jump=(2, 2), start=(-2, -2))
    >>> field = receptive_field(model, "conv5")
    >>> field
    ReceptiveField(size=(24, 24), jump=(4, 4), start=(-10, -10))
    >>> field.window(3, 3)  # (top, left, bottom, right): rows and columns 2 to 25
    (2, 2, 26, 26)
    """
    check_model(model)
    image_shape = image_shape_for(model, size)
    forward = forward_pass(model, image_shape)
    call = forward.find(layer)
    return _field_of(forward, call.output, image_shape)


def _field_of(forward, tensor_id: int, image_shape) -> ReceptiveField:
    """The field of the traced tensor ``tensor_id``, walking back to the input."""
    producers = {}  # tensor id -> the leaf call that made it
    for call in forward.calls:
        if call.leaf:
            producers[call.output] = call
    identity = ReceptiveField((1, 1), (1, 1), (0, 0))
    known: dict[int, ReceptiveField] = {}

    def spatial_size(tensor):
        return producers[tensor].shape[:2] if tensor in producers else image_shape[:2]

    def field(tensor):  # the graph is a DAG; memoized so shared branches are walked once
        if tensor in known:
            return known[tensor]
        call = producers.get(tensor)
        if call is None:  # not made by any layer: the model's input
            return identity
        fields = [field(t) for t in call.inputs] or [identity]
        known[tensor] = _through(call, _union(fields, call.name),
                                 spatial_size(call.inputs[0]) if call.inputs else image_shape)
        return known[tensor]

    return field(tensor_id)


def _union(fields: list[ReceptiveField], name: str) -> ReceptiveField:
    """The field of a pixel that sees several branches' pixels at once."""
    if len({f.jump for f in fields}) > 1:
        raise ValueError(f"the branches that meet at layer {name!r} have different strides "
                         f"({sorted({f.jump for f in fields})}): their receptive fields do not "
                         "line up")
    start = tuple(min(f.start[a] for f in fields) for a in (0, 1))
    end = tuple(max(f.start[a] + f.size[a] for f in fields) for a in (0, 1))
    return ReceptiveField((end[0] - start[0], end[1] - start[1]), fields[0].jump, start)


def _through(call, field: ReceptiveField, input_size) -> ReceptiveField:
    """``field`` (of the layer's input) carried through the layer of ``call``."""
    layer = call.layer
    for kind, attribute in _WINDOWS:
        if isinstance(layer, kind):
            kernel = getattr(layer, attribute)
            strides = layer.strides
            dilation = getattr(layer, "dilation_rate", (1, 1))
            padding = layer.padding.lower()
            size, jump, start = [], [], []
            for axis in (0, 1):
                extent = (kernel[axis] - 1) * dilation[axis] + 1  # the dilated window
                before = (same_padding(int(input_size[axis]), extent, strides[axis])[0]
                          if padding == "same" else 0)
                size.append(field.size[axis] + (extent - 1) * field.jump[axis])
                start.append(field.start[axis] - before * field.jump[axis])
                jump.append(field.jump[axis] * strides[axis])
            return ReceptiveField(tuple(size), tuple(jump), tuple(start))
    if isinstance(layer, keras.layers.ZeroPadding2D):
        (top, _), (left, _) = layer.padding
        return field._replace(start=(field.start[0] - top * field.jump[0],
                                     field.start[1] - left * field.jump[1]))
    if isinstance(layer, keras.layers.Cropping2D):
        (top, _), (left, _) = layer.cropping
        return field._replace(start=(field.start[0] + top * field.jump[0],
                                     field.start[1] + left * field.jump[1]))
    if isinstance(layer, _PIXELWISE) and len(call.shape) == 3:
        return field
    raise ValueError(f"cannot tell the receptive field through layer {call.name!r} "
                     f"({type(layer).__name__}): expected only convolutions, poolings, "
                     "padding and layers that work pixel by pixel between the input and the "
                     "layer asked for")

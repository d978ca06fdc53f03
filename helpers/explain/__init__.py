"""Explanations: what a convnet computes, and which pixels its decision rests on.

One concept per module, each derived in a chapter of the book:

* :mod:`~helpers.explain.layer_outputs` - chapter 03, ``feature_maps``
* :mod:`~helpers.explain.filters` - chapter 04, ``maximize_activation``
* :mod:`~helpers.explain.examples` - chapter 04, ``dataset_examples`` (``strongest_units``,
  then ``cut_patches``)
* :mod:`~helpers.explain.receptive_fields` - chapter 01's rule through a model's layers,
  ``receptive_field``
* :mod:`~helpers.explain.gradients` - chapter 05, ``saliency``, ``smoothgrad``,
  ``integrated_gradients``
* :mod:`~helpers.explain.class_maps` - chapter 06, ``cam``, ``grad_cam``,
  ``grad_cam_plus_plus``, ``score_cam``, and ``ClassActivationMap``, the skeleton they share
  and the way to add a method (``CONTRIBUTING.md``)

Every function takes a Keras model (Sequential or Functional; layers inside a nested model
are found by their own name) and a float32 batch ``(N, H, W, C)`` or one image
``(H, W, C)``, and returns float32 NumPy arrays, without a batch axis for one image.
Scores are logits: a final softmax is looked through, without changing the model.
"""

from helpers.explain.class_maps import (
    ClassActivationMap,
    cam,
    grad_cam,
    grad_cam_plus_plus,
    score_cam,
)
from helpers.explain.examples import (
    StrongestUnits,
    cut_patches,
    dataset_examples,
    strongest_units,
)
from helpers.explain.filters import maximize_activation
from helpers.explain.gradients import integrated_gradients, saliency, smoothgrad
from helpers.explain.layer_outputs import feature_maps
from helpers.explain.receptive_fields import ReceptiveField, receptive_field

__all__ = [
    "ClassActivationMap",
    "ReceptiveField",
    "StrongestUnits",
    "cam",
    "cut_patches",
    "dataset_examples",
    "feature_maps",
    "grad_cam",
    "grad_cam_plus_plus",
    "integrated_gradients",
    "maximize_activation",
    "receptive_field",
    "saliency",
    "score_cam",
    "smoothgrad",
    "strongest_units",
]

"""Inside the ConvNet: the tested version of every technique the book teaches.

The chapters derive each method step by step with plain TensorFlow, then call the
function here. Each function's docstring names the chapter that derives it.
"""

from helpers._setup import setup  # first: sets TensorFlow's log level before it loads
from helpers.data import (
    FASHION_MNIST_CLASSES,
    SHAPE_CLASSES,
    DataNotFoundError,
    load_fashion_mnist,
    load_photo,
    make_shapes,
)
from helpers.models import load_course_model

# isort: split
# The explanation methods, the pictures and the ImageNet network, as
# ``helpers.explain.grad_cam(...)``, ``helpers.plot.overlay(...)`` and
# ``helpers.imagenet.load_model()`` after a plain ``import helpers`` (importing
# ``imagenet`` reads only its class names; the weights load on the first ``load_model()``).
from helpers import explain, imagenet, plot

__all__ = ["FASHION_MNIST_CLASSES", "SHAPE_CLASSES", "DataNotFoundError", "explain", "imagenet",
           "load_course_model", "load_fashion_mnist", "load_photo", "make_shapes", "plot", "setup"]
__version__ = "0.1.0"

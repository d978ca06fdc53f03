"""Saliency and SmoothGrad: helpers.explain against the plain forward+backward pass and
against tf-keras-vis 0.8.7's ``Saliency``, on the same model, images and classes.

Run through ``python -m benchmarks.run_all``.
"""

from __future__ import annotations

from benchmarks.common import Row, Subject, compare, plain_gradient, ratio_goal
from helpers import explain


def saliency_rows(subject: Subject, batch_sizes, rounds: int, tf_keras_vis) -> list[Row]:
    rows = []
    plain = plain_gradient(subject.model, subject.image_shape)
    if tf_keras_vis is not None:
        vis = tf_keras_vis.Saliency(subject.functional, model_modifier=None)
    for n in batch_sizes:
        x, classes = subject.images(n), subject.classes(n)
        candidates = {
            "plain fwd+bwd": lambda x=x, c=classes: plain(x, c),
            "saliency": lambda x=x, c=classes: explain.saliency(subject.model, x, c),
        }
        if tf_keras_vis is not None:
            score = tf_keras_vis.CategoricalScore(list(classes))
            candidates["tf-keras-vis Saliency"] = lambda x=x, s=score: vis(
                s, x, normalize_map=False)
        seconds = compare(candidates, rounds)
        ratios = {"saliency / plain": seconds["saliency"] / seconds["plain fwd+bwd"]}
        goals = []
        if tf_keras_vis is not None:
            ratios["tf-keras-vis / saliency"] = (seconds["tf-keras-vis Saliency"]
                                                 / seconds["saliency"])
            goals.append(ratio_goal("saliency speed-up over tf-keras-vis",
                                    ratios["tf-keras-vis / saliency"], at_least=2.5))
        rows.append(Row("saliency", subject.name, str(n), seconds, ratios, goals))
    return rows


def smoothgrad_rows(subject: Subject, batch_sizes, rounds: int, tf_keras_vis,
                    samples: int = 10, noise: float = 0.2) -> list[Row]:
    rows = []
    plain = plain_gradient(subject.model, subject.image_shape)
    if tf_keras_vis is not None:
        vis = tf_keras_vis.Saliency(subject.functional, model_modifier=None)
    for n in batch_sizes:
        x, classes = subject.images(n), subject.classes(n)
        candidates = {
            "plain fwd+bwd": lambda x=x, c=classes: plain(x, c),
            "smoothgrad": lambda x=x, c=classes: explain.smoothgrad(
                subject.model, x, c, samples=samples, noise=noise),
        }
        if tf_keras_vis is not None:
            score = tf_keras_vis.CategoricalScore(list(classes))
            candidates["tf-keras-vis Saliency(smooth)"] = lambda x=x, s=score: vis(
                s, x, smooth_samples=samples, smooth_noise=noise, normalize_map=False)
        seconds = compare(candidates, rounds)
        floor = samples * seconds["plain fwd+bwd"]
        ratios = {f"smoothgrad / ({samples} x plain)": seconds["smoothgrad"] / floor}
        goals = [ratio_goal(f"SmoothGrad / ({samples} x plain forward+backward)",
                            ratios[f"smoothgrad / ({samples} x plain)"], at_most=1.1)]
        if tf_keras_vis is not None:
            ratios["tf-keras-vis / smoothgrad"] = (seconds["tf-keras-vis Saliency(smooth)"]
                                                   / seconds["smoothgrad"])
            goals.append(ratio_goal("SmoothGrad speed-up over tf-keras-vis",
                                    ratios["tf-keras-vis / smoothgrad"], at_least=1.4))
        rows.append(Row(f"SmoothGrad ({samples} samples)", subject.name, str(n), seconds,
                        ratios, goals))
    return rows

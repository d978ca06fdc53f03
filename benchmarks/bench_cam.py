"""Grad-CAM, Grad-CAM++ and Score-CAM: helpers.explain against one plain forward+backward
pass and against tf-keras-vis 0.8.7, on the same model, images and classes.

Run through ``python -m benchmarks.run_all``.
"""

from __future__ import annotations

from benchmarks.common import Row, Subject, compare, plain_gradient, ratio_goal
from helpers import explain


def grad_cam_rows(subject: Subject, batch_sizes, rounds: int, tf_keras_vis) -> list[Row]:
    rows = []
    plain = plain_gradient(subject.model, subject.image_shape)
    if tf_keras_vis is not None:
        gradcam = tf_keras_vis.Gradcam(subject.functional, model_modifier=None)
        plusplus = tf_keras_vis.GradcamPlusPlus(subject.functional, model_modifier=None)
    for n in batch_sizes:
        x, classes = subject.images(n), subject.classes(n)
        candidates = {
            "plain fwd+bwd": lambda x=x, c=classes: plain(x, c),
            "grad_cam": lambda x=x, c=classes: explain.grad_cam(subject.model, x, c,
                                                                subject.layer),
            "grad_cam_plus_plus": lambda x=x, c=classes: explain.grad_cam_plus_plus(
                subject.model, x, c, subject.layer),
        }
        if tf_keras_vis is not None:
            score = tf_keras_vis.CategoricalScore(list(classes))
            candidates["tf-keras-vis Gradcam"] = lambda x=x, s=score: gradcam(
                s, x, penultimate_layer=subject.layer, normalize_cam=False)
            candidates["tf-keras-vis GradcamPlusPlus"] = lambda x=x, s=score: plusplus(
                s, x, penultimate_layer=subject.layer, normalize_cam=False)
        seconds = compare(candidates, rounds)
        ratios = {"grad_cam / plain": seconds["grad_cam"] / seconds["plain fwd+bwd"]}
        goals = [ratio_goal("Grad-CAM / plain forward+backward", ratios["grad_cam / plain"],
                            at_most=1.1)]
        if tf_keras_vis is not None:
            ratios["tf-keras-vis / grad_cam"] = (seconds["tf-keras-vis Gradcam"]
                                                 / seconds["grad_cam"])
            ratios["tf-keras-vis / grad_cam_plus_plus"] = (
                seconds["tf-keras-vis GradcamPlusPlus"] / seconds["grad_cam_plus_plus"])
            goals += [ratio_goal("Grad-CAM speed-up over tf-keras-vis",
                                 ratios["tf-keras-vis / grad_cam"], at_least=3.5),
                      ratio_goal("Grad-CAM++ speed-up over tf-keras-vis",
                                 ratios["tf-keras-vis / grad_cam_plus_plus"], at_least=1.0)]
        rows.append(Row("Grad-CAM, Grad-CAM++", subject.name, str(n), seconds, ratios, goals))
    return rows


def score_cam_rows(subject: Subject, batch_sizes, rounds: int, tf_keras_vis,
                   max_channels: int | None) -> list[Row]:
    rows = []
    if tf_keras_vis is not None:
        scorecam = tf_keras_vis.Scorecam(subject.functional)
    for n in batch_sizes:
        x, classes = subject.images(n), subject.classes(n)
        candidates = {"score_cam": lambda x=x, c=classes: explain.score_cam(
            subject.model, x, c, subject.layer, max_channels=max_channels, batch_size=32)}
        if tf_keras_vis is not None:
            score = tf_keras_vis.CategoricalScore(list(classes))
            candidates["tf-keras-vis Scorecam"] = lambda x=x, s=score: scorecam(
                s, x, penultimate_layer=subject.layer, normalize_cam=False, batch_size=32,
                max_N=max_channels)
        seconds = compare(candidates, rounds)
        ratios, goals = {}, []
        if tf_keras_vis is not None:
            ratios["tf-keras-vis / score_cam"] = (seconds["tf-keras-vis Scorecam"]
                                                  / seconds["score_cam"])
            goals.append(ratio_goal("Score-CAM speed-up over tf-keras-vis",
                                    ratios["tf-keras-vis / score_cam"], at_least=1.0))
        channels = "all channels" if max_channels is None else f"max {max_channels} channels"
        rows.append(Row(f"Score-CAM ({channels})", subject.name, str(n), seconds, ratios,
                        goals))
    return rows

"""Run every benchmark and print the ratios: ``python -m benchmarks.run_all``.

``make benchmark`` installs ``benchmarks/requirements.txt`` (tf-keras-vis 0.8.7) first.
Without tf-keras-vis the comparisons against it are skipped. About 14 minutes on 2 CPU
cores with the defaults; ``--quick`` runs the course model only (about a minute);
``--subjects efficientnet`` runs one network's rows.
"""

from __future__ import annotations

import argparse
import time
import types

from benchmarks import bench_cam, bench_filters, bench_saliency
from benchmarks.common import (
    course_subject,
    efficientnet_subject,
    machine,
    print_row,
    quiet,
    vgg16_subject,
)


def load_tf_keras_vis():
    """tf-keras-vis' classes, or None when it is not installed."""
    try:
        from tf_keras_vis.gradcam import Gradcam
        from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
        from tf_keras_vis.saliency import Saliency
        from tf_keras_vis.scorecam import Scorecam
        from tf_keras_vis.utils.scores import CategoricalScore
    except ImportError:
        return None
    return types.SimpleNamespace(Gradcam=Gradcam, GradcamPlusPlus=GradcamPlusPlus,
                                 Saliency=Saliency, Scorecam=Scorecam,
                                 CategoricalScore=CategoricalScore)


def sizes(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


#: What ``--subjects`` can choose.
SUBJECTS = ("course", "vgg16", "efficientnet")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the course model only")
    parser.add_argument("--subjects", type=names, default=list(SUBJECTS),
                        help=f"comma-separated, from {','.join(SUBJECTS)} (default: all)")
    parser.add_argument("--course-batch-sizes", type=sizes, default=[1, 8, 32])
    parser.add_argument("--vgg-batch-sizes", type=sizes, default=[1, 8, 32],
                        help="VGG16 batches for Grad-CAM (32 takes 4 of the ~10 minutes)")
    parser.add_argument("--rounds", type=int, default=15,
                        help="timed rounds, course model (Score-CAM: a third of them)")
    parser.add_argument("--vgg-rounds", type=int, default=3, help="timed rounds, VGG16")
    parser.add_argument("--efficientnet-batch-sizes", type=sizes, default=[1, 8, 32],
                        help="EfficientNet-Lite0 batches for Grad-CAM")
    parser.add_argument("--efficientnet-rounds", type=int, default=5,
                        help="timed rounds, EfficientNet-Lite0")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.subjects) - set(SUBJECTS))
    if unknown:
        parser.error(f"unknown subjects {unknown}; choose from {list(SUBJECTS)}")
    subjects = ["course"] if args.quick else args.subjects

    quiet()
    tf_keras_vis = load_tf_keras_vis()
    started = time.perf_counter()
    print(f"Machine: {machine()}")
    print("Median seconds per call after a warm-up call; candidates interleaved round by "
          "round, so ratios hold on a shared machine better than absolute times.")
    if tf_keras_vis is None:
        print("tf-keras-vis is not installed: its comparisons are skipped "
              "(pip install -r benchmarks/requirements.txt).")
    rows = []

    def report(new_rows):
        for row in new_rows:
            print_row(row)
        rows.extend(new_rows)

    if "course" in subjects:
        course = course_subject()
        print(f"\n== {course.name} (28x28x1), {', '.join(course.notes) or 'trained'}")
        batches = args.course_batch_sizes
        report(bench_cam.grad_cam_rows(course, batches, args.rounds, tf_keras_vis))
        report(bench_cam.score_cam_rows(course, batches, max(1, args.rounds // 3),
                                        tf_keras_vis, None))
        report(bench_saliency.saliency_rows(course, batches, args.rounds, tf_keras_vis))
        report(bench_saliency.smoothgrad_rows(course, batches, args.rounds, tf_keras_vis))
        report(bench_filters.filter_rows(course.model, course.name, "conv3", (28, 28, 1),
                                         steps=30, rounds=1))

    if "vgg16" in subjects:
        vgg = vgg16_subject()
        print(f"\n== {vgg.name} (224x224x3), {', '.join(vgg.notes)}")
        rounds = args.vgg_rounds
        report(bench_cam.grad_cam_rows(vgg, args.vgg_batch_sizes, rounds, tf_keras_vis))
        report(bench_cam.score_cam_rows(vgg, [1], rounds, tf_keras_vis, max_channels=16))
        report(bench_saliency.saliency_rows(vgg, [4], rounds, tf_keras_vis))
        report(bench_saliency.smoothgrad_rows(vgg, [1], 1, tf_keras_vis))
        import keras

        # Filter visualization on VGG16's convolutional base at 64x64 (224x224 would take
        # hours one filter at a time on a CPU).
        base = keras.applications.VGG16(weights=None, include_top=False,
                                        input_shape=(64, 64, 3))
        report(bench_filters.filter_rows(base, "VGG16 base", "block2_conv2", (64, 64, 3),
                                         steps=10, rounds=1))

    if "efficientnet" in subjects:
        # The same rows as VGG16's (the network of the book's photo sections, 30x fewer
        # parameters), with more rounds: a call costs a tenth of VGG16's.
        net = efficientnet_subject()
        print(f"\n== {net.name} (224x224x3), {', '.join(net.notes)}")
        rounds = args.efficientnet_rounds
        report(bench_cam.grad_cam_rows(net, args.efficientnet_batch_sizes, rounds,
                                       tf_keras_vis))
        report(bench_cam.score_cam_rows(net, [1], rounds, tf_keras_vis, max_channels=16))
        report(bench_saliency.saliency_rows(net, [4], rounds, tf_keras_vis))
        report(bench_saliency.smoothgrad_rows(net, [1], rounds, tf_keras_vis))

    missed = [(row, text) for row in rows for text, ok in row.goals if not ok]
    print(f"\n{len(rows)} benchmarks in {time.perf_counter() - started:.0f} s; "
          f"{sum(len(row.goals) for row in rows) - len(missed)} goals met, {len(missed)} missed.")
    for row, text in missed:
        print(f"  MISS  {row.subject}, batch {row.batch}: {text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

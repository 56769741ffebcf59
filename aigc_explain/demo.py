"""``python -m aigc_explain.demo`` (``make demo``) — the main job end to end on data it builds itself.

1. A dataset of photo crops (real) and their up-convolution autoencoder regenerations (fake).
2. Two MobileNetV2 detectors from ImageNet weights: the report's unaugmented and augmented settings.
3. Evaluation, Grad-CAM over the validation images, the comparison and the report panels.
Everything lands in one folder (default ``reports/demo``); the last lines printed are the numbers.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from aigc_explain._cli import make_parser, run, setup_logging
from aigc_explain.runs.demo_summary import DemoAudit, DemoDetector, DemoSummary

log = logging.getLogger("aigc_explain.demo")

SETTINGS = {"unaugmented": "none", "augmented": "report"}


def _build_parser() -> argparse.ArgumentParser:
    p = make_parser("demo", __doc__.splitlines()[0])
    p.add_argument("--out", default="reports/demo")
    p.add_argument("--model", default="mobilenet_v2")
    p.add_argument("--weights", default="imagenet")
    p.add_argument("--n-train", type=int, default=200, help="training images per class")
    p.add_argument("--n-val", type=int, default=100, help="validation images per class")
    p.add_argument("--size", type=int, default=96, help="crop size of the demo images")
    p.add_argument("--image-size", "--img-size", dest="image_size", type=int, default=128,
                   help="detector input size")
    p.add_argument("--epochs", type=int, default=2,
                   help="epochs of each detector; the one with the best val accuracy is kept")
    p.add_argument("--layer", default="features.13", help="CAM layer, a dotted name or grad-cam's indexing (layer4[-1]); features.13 "
                   "gives an 8x8 map at 128 px for MobileNetV2")
    p.add_argument("--ae-steps", type=int, default=400, help="training steps of the fake-making autoencoder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--amp", choices=("auto", "bf16", "off"), default="auto",
                   help="training autocast (auto: bf16 where the CPU or GPU computes it natively, fp32 elsewhere)")
    p.add_argument("--overwrite", action="store_true")
    return p


def _step(message: str, start: float) -> None:
    print(f"[{time.perf_counter() - start:6.1f}s] {message}", flush=True)


def run_demo(args: argparse.Namespace) -> DemoSummary:
    from aigc_explain.runs.folders import run_folder

    with run_folder(args.out, command="demo", overwrite=args.overwrite) as run:
        return _demo_into(run.path, args)


def _demo_into(out: Path, args: argparse.Namespace) -> DemoSummary:
    from aigc_explain.core.checkpoint import load_detector
    from aigc_explain.core.evaluation import write_evaluation_run
    from aigc_explain.core.experiments import TrainConfig
    from aigc_explain.core.inference import resolve_device
    from aigc_explain.core.training import fit
    from aigc_explain.explain.folder import CamSettings
    from aigc_explain.explain.save import write_cam_run
    from aigc_explain.reporting.report import write_comparison_run, write_report_run
    from aigc_explain.runs.files import atomic_write_bytes, write_json
    from aigc_explain.runs.reader import load_cam_run, load_run
    from aigc_explain.evidence.gather import AuditSettings
    from aigc_explain.evidence.write import write_audit_run
    from aigc_explain.synth.demo_data import build_demo_dataset

    start = time.perf_counter()
    _step("building the demo dataset (photo crops vs. up-convolution autoencoder regenerations)", start)
    data = out / "data"
    info = build_demo_dataset(data, n_train=args.n_train, n_val=args.n_val, size=args.size, seed=args.seed,
                              ae_steps=args.ae_steps)
    detectors: dict[str, DemoDetector] = {}
    _step("auditing the data (file cues, pixel evidence) before any detector sees it", start)
    audit = write_audit_run(data=data, out=out / "audit", settings=AuditSettings(size=args.image_size),
                            arguments={"data": str(data), "size": args.image_size})
    data_audit = DemoAudit(cue_auc=audit.overall.cue.auc, cue_auc_ci95=audit.overall.cue.ci95,
                           pixel_corner_share=audit.overall.pixels.corner_share, verdict=audit.verdict,
                           val_pixel_corner_share=audit.split("val").pixels.corner_share)
    for name, augment in SETTINGS.items():
        _step(f"training {args.model} ({name}) for {args.epochs} epochs", start)
        cfg = TrainConfig(data=str(data), out=str(out / f"train_{name}"), model=args.model, weights=args.weights,
                          augment=augment, epochs=args.epochs, batch_size=32, image_size=args.image_size,
                          seed=args.seed, lr=1e-4, amp=args.amp)
        ckpt = fit(cfg, progress=False).run_dir / "best_model.pth"
        detector = load_detector(ckpt)
        _step(f"evaluating and running Grad-CAM ({name}) at {args.layer} on the validation images", start)
        metrics = write_evaluation_run(detector, ckpt=ckpt, data=data, out=out / f"eval_{name}",
                                       device=resolve_device("auto"), arguments={"ckpt": str(ckpt), "data": str(data), "demo": name})
        summary, _ = write_cam_run(detector, ckpt=ckpt, images=data / "val", out=out / f"cam_{name}",
                                   settings=CamSettings(layer=args.layer),
                                   arguments={"ckpt": str(ckpt), "images": str(data / "val"), "layer": args.layer,
                                              "demo": name}, overlays=3)
        detectors[name] = DemoDetector(val_accuracy=metrics.accuracy, accuracy_ci95=metrics.ci95.accuracy,
                                       average_precision=metrics.average_precision,
                                       corner_share={g: summary.groups[g].corner_share for g in ("real", "fake")
                                                     if g in summary.groups})
    _step("comparison and report panels", start)
    labels = ("unaugmented", "augmented")
    write_comparison_run(*(load_cam_run(out / f"cam_{n}") for n in labels), labels, out=out / "comparison",
                         arguments={"runs": [f"cam_{n}" for n in labels], "labels": list(labels)})
    runs = {f"{kind}_{name}": load_run(out / f"{kind}_{name}") for name in SETTINGS for kind in ("train", "eval", "cam")}
    runs["audit"] = load_run(out / "audit")
    write_report_run(runs, out=out / "report", arguments={"runs": list(runs)})
    # the README's picture
    atomic_write_bytes(out.parent / "demo_comparison.png", (out / "comparison" / "comparison.png").read_bytes())
    results = DemoSummary(dataset=info, runs=detectors, audit=data_audit,
                          seconds=round(time.perf_counter() - start, 1))
    write_json(out / "demo_summary.json", results.to_json())
    return results


def _print_results(results: DemoSummary, out: str) -> None:
    print(f"\ndemo finished in {results.seconds:.0f} s; everything is under {out}/ (report: {out}/report/index.md)")
    for name, r in results.runs.items():
        shares = ", ".join(f"{g} {v.format()}" for g, v in r.corner_share.items() if v.defined)
        print(f"  {name:<12} val accuracy {r.val_accuracy:.3f}  AP {r.average_precision:.3f}  "
              f"corner_share {shares}")
    print(f"  data audit   {results.audit.verdict}")


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    setup_logging()
    package_log = logging.getLogger("aigc_explain")
    level = package_log.level
    package_log.setLevel(logging.WARNING)  # the demo prints its own progress, and training one line per epoch
    training_log = logging.getLogger("aigc_explain.core.training")
    training_level = training_log.level
    training_log.setLevel(logging.INFO)
    try:
        return run("demo", lambda: _print_results(run_demo(args), args.out))
    finally:
        package_log.setLevel(level)
        training_log.setLevel(training_level)


if __name__ == "__main__":
    raise SystemExit(main())

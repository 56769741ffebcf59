"""``python -m aigc_explain.cam --ckpt CKPT --images DIR`` — explain a folder with Grad-CAM (or a
relative), aggregate per class and measure corner-vs-centre attention with intervals."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ._cli import add_explain_arguments, default_out, run, setup_logging


def _shard(text: str) -> tuple[int, int]:
    try:
        k, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard {text!r} must look like K/N, e.g. 1/4") from None
    return k, n


def _build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="aigc-explain cam", description=__doc__)
    add_explain_arguments(p, "cam", images_required=False)
    p.add_argument("--list-layers", action="store_true", help="print candidate layers with their map size and exit")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--limit", type=int, help="explain at most N images (balanced between classes)")
    p.add_argument("--shard", type=_shard, help="K/N: explain every N-th image starting at the K-th")
    p.add_argument("--overlays", type=int, default=4, help="overlay images per class and kind (0: none)")
    p.add_argument("--corner-frac", type=float, default=0.25)
    p.add_argument("--center-frac", type=float, default=0.5)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")
    return p


def _build_merge_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="aigc-explain cam merge",
                                description="combine the run folders of --shard K/N runs into one run")
    p.add_argument("runs", nargs="+", help="shard run folders")
    p.add_argument("--out", required=True)
    p.add_argument("--overlays", type=int, default=4)
    p.add_argument("--overwrite", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["merge"]:
        margs = _build_merge_parser().parse_args(argv[1:])
        setup_logging()
        return run("cam merge", lambda: merge_runs(margs.runs, margs.out, overlays=margs.overlays,
                                                   overwrite=margs.overwrite))
    args = _build_parser().parse_args(argv)
    setup_logging(args.verbose)
    return run("cam", lambda: _run(args))


def merge_runs(runs: list[str], out: str, *, overwrite: bool = False, overlays: int = 4) -> Path:
    """``cam merge``: shards -> one run folder equal to a single run over all their images."""
    from .runs import run_folder

    for r in runs:
        if not Path(r).is_dir():
            raise FileNotFoundError(f"shard run folder {r} does not exist")
    with run_folder(out, command="cam merge", overwrite=overwrite, inputs=runs) as run:
        merge_into(runs, run.path, overlays=overlays)
    return run.path


def merge_into(runs: list[str], folder: Path, *, overlays: int = 4) -> None:
    """Write the merge of the shard folders ``runs`` into the open run folder ``folder``."""
    from .cam_outputs import load_result, merge_results, save_result
    from .runs import write_manifest

    results = [load_result(r) for r in runs]  # refuses incomplete or damaged shards
    summaries = [json.loads((Path(r) / "summary.json").read_text()) for r in runs]
    merged = merge_results(results, summaries)
    extra = {k: summaries[0][k] for k in ("preprocessing", "checkpoint_sha256", "versions") if k in summaries[0]}
    save_result(merged, folder, overlays=overlays, extra_summary=extra)
    write_manifest(folder, command="cam merge", arguments={"runs": runs, "out": str(folder)}, merged_from=runs,
                   **extra)


def _run(args: argparse.Namespace) -> None:
    from .cam_methods import list_layers, method_names
    from .cam_outputs import save_result
    from .checkpoint import load_detector
    from .explain import CamSettings, explain_folder
    from .models import resolve_device
    from .runs import run_folder, write_manifest

    if args.method.lower() not in method_names():
        raise ValueError(f"--method {args.method!r} is unknown; use one of: {', '.join(method_names())}")
    if args.overlays < 0:
        raise ValueError(f"--overlays must be >= 0, got {args.overlays}")
    detector = load_detector(args.ckpt, arch=args.arch)
    if args.list_layers:
        for name, (h, w) in list_layers(detector.backbone, detector.image_size):
            print(f"{name}\t{h}x{w}")
        return
    if not args.images:
        raise ValueError("--images is required (a folder of images to explain)")
    settings = CamSettings(method=args.method.lower(), target=args.target, layer=args.layer,
                           batch_size=args.batch_size, corner_frac=args.corner_frac, center_frac=args.center_frac,
                           limit=args.limit, shard=args.shard)
    if not Path(args.images).is_dir():
        raise FileNotFoundError(f"--images {args.images} is not a folder")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and args.shard is None:
        _run_distributed(args, detector, settings)
        return
    out = args.out or default_out("cam", args.ckpt, args.images)
    with run_folder(out, command="cam", overwrite=args.overwrite, inputs=[args.ckpt, args.images]) as run:
        result = explain_folder(detector, args.images, settings, device=resolve_device(args.device),
                                workers=args.workers, progress=not args.no_progress)
        extra = _extra(args, detector)
        summary = save_result(result, run.path, overlays=args.overlays, extra_summary=extra)
        write_manifest(run.path, command="cam", arguments=vars(args), checkpoint_sha256=extra["checkpoint_sha256"],
                       detector=detector.config(), preprocessing=extra["preprocessing"])
    brief = {g: {"n": v["n"], "n_empty": v["n_empty"], "corner_share": v["corner_share"]}
             for g, v in summary["groups"].items()}
    print(json.dumps({"out": str(out), "layer": result.layer_name, "map_size": list(result.map_size),
                      "accuracy": summary["accuracy"], "groups": brief}))


def _run_distributed(args: argparse.Namespace, detector, settings) -> None:
    """Under torchrun: rank r explains shard r+1/N into OUT/shards/, rank 0 then merges them into OUT."""
    import dataclasses

    import torch
    import torch.distributed as dist

    from .cam_outputs import save_result
    from .explain import explain_folder
    from .models import resolve_device
    from .runs import mark_complete, open_run, prepare_run_dir

    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    dist.init_process_group("gloo")  # only barriers travel; CAMs run on each rank's own device
    out = Path(args.out or default_out("cam", args.ckpt, args.images))
    run = None
    try:
        if rank == 0:
            run = open_run(out, command="cam", overwrite=args.overwrite, inputs=[args.ckpt, args.images])
        dist.barrier()
        shard = prepare_run_dir(out / "shards" / f"shard-{rank + 1}-of-{world}", command="cam")
        device = resolve_device(args.device)
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        result = explain_folder(detector, args.images, dataclasses.replace(settings, shard=(rank + 1, world)),
                                device=device, workers=args.workers, progress=False)
        save_result(result, shard, overlays=0, extra_summary=_extra(args, detector))
        mark_complete(shard, "cam")
        dist.barrier()
        if rank == 0:
            merge_into(sorted(str(p) for p in (out / "shards").iterdir()), out, overlays=args.overlays)
            run.complete()
    except BaseException as exc:
        if run is not None:
            run.abort(exc)
        raise
    finally:
        dist.destroy_process_group()


def _extra(args: argparse.Namespace, detector) -> dict:
    from .data import describe_preprocessing
    from .runs import library_versions, sha256_file

    return {"preprocessing": describe_preprocessing(detector.image_size, detector.mean, detector.std),
            "checkpoint_sha256": sha256_file(args.ckpt), "versions": library_versions()}


if __name__ == "__main__":
    raise SystemExit(main())

"""``python -m aigc_explain.train`` — train a detector the report's way (see ``training.fit``)."""

from __future__ import annotations

import argparse
import logging

from aigc_explain._cli import make_parser, run, setup_logging

log = logging.getLogger(__name__)


def _build_parser() -> argparse.ArgumentParser:
    p = make_parser("train", __doc__,
                    epilog="--experiment N picks the report's setting N (1: ResNet+augment+focal, 2: ResNet, 3: ViT, "
                           "4: Swin, 5: ResNet+augment); explicit flags override it. The default (ResNet-101, 224 px, "
                           "10 epochs) is sized for a GPU; on a CPU start with --model mobilenet_v2 --img-size 64 "
                           "--epochs 3 -b 32.")
    p.add_argument("--data", required=True, help="root holding train/ and val/ with 0_real/ and 1_fake/ (or, with "
                                                 "--val-split, one folder holding 0_real/ and 1_fake/)")
    p.add_argument("--val-split", type=float, metavar="F",
                   help="hold out a seeded, class-stratified share F (e.g. 0.2) of a folder without train/ and val/; "
                        "the lists are written to train_files.csv and val_files.csv in --out")
    p.add_argument("--out", required=True, help="run folder (refused if it already holds a run)")
    p.add_argument("--experiment", type=int, choices=range(1, 6), help="the report's setting 1-5")
    p.add_argument("--model", help="resnet | vit | swin | any torchvision/timm model name (default resnet)")
    aug = p.add_mutually_exclusive_group()
    aug.add_argument("--augment", nargs="?", const="report", choices=("report", "blur-jpeg", "none"),
                     help="report (the flag alone): flip + rotate ±10° + RandomCrop(pad 4); blur-jpeg adds blur and "
                          "JPEG; none (default)")
    aug.add_argument("--no-augment", dest="augment", action="store_const", const="none",
                     help="no augmentation (the default, as in the report's settings 2-4)")
    p.add_argument("--loss", choices=("bce", "focal"), help="bce (default) or the report's focal loss")
    p.add_argument("--focal-alpha", type=float, help="focal loss alpha (default 0.7, the report's)")
    p.add_argument("--focal-gamma", type=float, help="focal loss gamma (default 1, the report's)")
    p.add_argument("--epochs", type=int, help="epochs (default 10)")
    p.add_argument("-b", "--batch-size", type=int, help="images per step (default 64)")
    p.add_argument("--lr", type=float, help="AdamW learning rate (default 1e-4)")
    p.add_argument("--weight-decay", type=float, help="AdamW weight decay (default 0.01)")
    p.add_argument("--patience", type=int, help="ReduceLROnPlateau patience (default 3)")
    p.add_argument("--image-size", "--img-size", dest="image_size", type=int,
                   help="input side in pixels (default 224; 64 fits a CPU)")
    p.add_argument("--weights", help="imagenet (default) | imagenet:TAG or a torchvision weight name (IMAGENET1K_V1, "
                                     "DEFAULT) | none | PATH")
    p.add_argument("--seed", type=int, help="seed of initialisation, shuffling, augmentation, --val-split (default 0)")
    p.add_argument("--workers", type=int, help="data-loading processes (default 0: on 2 cores a worker only takes a "
                                               "core from the model)")
    p.add_argument("--device", help="auto (default) | cpu | cuda[:N]")
    p.add_argument("--amp", choices=("auto", "bf16", "off"),
                   help="bf16 autocast: auto (default) = where the hardware computes bf16 natively (CUDA with bf16, CPUs "
                        "with AMX or AVX512-BF16), exact fp32 elsewhere; bf16 = always; off = exact fp32. The "
                        "manifest records which was used and why")
    p.add_argument("--limit", type=int, help="use at most N images per split (quick runs)")
    p.add_argument("--reencode", metavar="jpeg:Q|png", help="re-encode every image identically in memory first, "
                                                            "removing storage cues (see the audit command)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from checkpoint.pth with its own settings (--epochs N extends it)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run in --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (one log line per epoch stays)")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    setup_logging(args.verbose)

    def body() -> None:
        from aigc_explain.core.experiments import config_from_experiment
        from aigc_explain.core.resume import resume_overrides, resume_run
        from aigc_explain.core.training import fit

        options = {k: v for k, v in vars(args).items()
                   if k not in ("experiment", "resume", "overwrite", "no_progress", "verbose")}
        if args.resume:
            given = resume_overrides(options, experiment=args.experiment, overwrite=args.overwrite)
            result = resume_run(args.out, overrides=given, progress=not args.no_progress)
            if result.finished_already:
                epochs = len(result.history)
                print(f"run folder {result.run_dir} already finished its {epochs} epochs; nothing to do "
                      f"(pass --epochs N > {epochs} to train further)")
                return
        else:
            cfg = config_from_experiment(args.experiment, **options)
            result = fit(cfg, overwrite=args.overwrite, progress=not args.no_progress)
        print(f"best val accuracy {result.best_val_acc:.4f}; run folder {result.run_dir}")

    return run("train", body)


if __name__ == "__main__":
    raise SystemExit(main())

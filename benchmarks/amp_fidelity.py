"""What ``--amp bf16`` costs and buys in evaluate and cam: fidelity to exact fp32, next to its speed-up.

    python benchmarks/amp_fidelity.py --ckpt RUN/best_model.pth [--data ../shared/data/cifake-dev/val]
                                      [--images 400] [--layer auto] [--threads 2]

evaluate: the same images scored in fp32 (the default) and under bf16 autocast — max and mean
|Δ probability|, how many calls flip, the accuracy change, images/s of each. cam: Grad-CAM in both —
per-image Pearson correlation of the native maps (mean and minimum), the change in the fakes' mean
corner share and the largest per-image change, images/s. Each variant runs twice in turn (the first warms
up); the second is timed. Only the one-pass CAM methods run under bf16 (others are refused).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from aigc_explain.core.checkpoint import load_detector
from aigc_explain.core.folders import balanced_subset, find_samples
from aigc_explain.core.inference import predict, resolve_amp
from aigc_explain.explain import CamSettings, explain_samples

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifake-dev" / "val"


def _twice(fn):
    fn()
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ckpt", required=True, help="a trained detector (e.g. from benchmarks/amp_parity.py)")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="a labelled folder (0_real, 1_fake)")
    p.add_argument("--images", type=int, default=400, help="balanced subset size")
    p.add_argument("--layer", default="auto")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    detector = load_detector(args.ckpt)
    samples = balanced_subset(find_samples(args.data, require_labels=True), args.images)
    print(f"{args.ckpt}: {detector.arch} at {detector.image_size}px, {len(samples)} images, {args.threads} threads; "
          f"bf16 here: {resolve_amp(torch.device('cpu'), 'auto')[1]}")

    preds, secs = {}, {}
    for amp in ("off", "bf16"):
        preds[amp], secs[amp] = _twice(lambda: predict(detector, samples, batch_size=args.batch_size, amp=amp))
    a, b = preds["off"].probs, preds["bf16"].probs
    labels = preds["off"].labels
    acc = {k: float(np.mean((v.probs >= 0.5) == (labels == 1))) for k, v in preds.items()}
    print(f"evaluate: max |dprob| {np.abs(a - b).max():.4f}, mean {np.abs(a - b).mean():.5f}; "
          f"{int(np.sum((a >= 0.5) != (b >= 0.5)))} of {len(a)} calls flip; accuracy {acc['off']:.4f} -> "
          f"{acc['bf16']:.4f} ({100 * (acc['bf16'] - acc['off']):+.2f} pt); "
          f"{len(a) / secs['off']:.1f} -> {len(a) / secs['bf16']:.1f} img/s ({secs['off'] / secs['bf16']:.2f}x)")

    cams = {}
    for amp in ("off", "bf16"):
        settings = CamSettings(layer=args.layer, batch_size=args.batch_size, amp=amp)
        cams[amp], secs[amp] = _twice(lambda: explain_samples(detector, samples, settings))
    x, y = (cams[k].raw_maps.reshape(len(cams[k].paths), -1).astype(np.float64) for k in ("off", "bf16"))
    ok = (x.std(axis=1) > 0) & (y.std(axis=1) > 0)
    r = np.array([np.corrcoef(u, v)[0, 1] for u, v in zip(x[ok], y[ok])])
    fake = cams["off"].labels == 1
    share = {k: cams[k].masses["corner_share"] for k in cams}
    both = fake & np.isfinite(share["off"]) & np.isfinite(share["bf16"])
    d_mean = np.nanmean(share["bf16"][fake]) - np.nanmean(share["off"][fake])
    print(f"cam ({cams['off'].layer_name}, {cams['off'].map_size[0]}x{cams['off'].map_size[1]}): map Pearson r mean "
          f"{r.mean():.4f}, min {r.min():.4f} over {ok.sum()} non-constant maps; fakes' corner share "
          f"{np.nanmean(share['off'][fake]):.4f} -> {np.nanmean(share['bf16'][fake]):.4f} ({d_mean:+.4f}), "
          f"largest per-image change {np.abs(share['bf16'][both] - share['off'][both]).max():.4f}; "
          f"{len(samples) / secs['off']:.1f} -> {len(samples) / secs['bf16']:.1f} img/s "
          f"({secs['off'] / secs['bf16']:.2f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Accuracy parity of training under the default autocast and under ``--amp off``.

    python benchmarks/amp_parity.py [--data ../shared/data/cifake-dev] [--out runs/amp_parity]

Trains MobileNetV2 from ImageNet weights (``make weights``) for 2 epochs at 96 px on the CIFAKE
development subset twice — with the defaults (``--amp auto``: bf16 on CPUs with AMX/AVX512-BF16) and with
``--amp off`` — then scores both best models the same exact way (``evaluate``'s fp32 default) and prints
val accuracy and AP with their intervals, the differences, the training time of each and whether they
agree within 0.5 accuracy points and 0.005 AP. The two runs stay in ``--out`` (``--checkpoint`` for
``amp_fidelity.py``: ``<out>/auto/best_model.pth``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from aigc_explain.core.checkpoint import load_detector
from aigc_explain.core.evaluation import evaluate_folder
from aigc_explain.core.experiments import TrainConfig
from aigc_explain.core.training import fit

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "cifake-dev"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "amp_parity")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--image-size", type=int, default=96)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    results = {}
    for amp in ("auto", "off"):
        cfg = TrainConfig(data=str(args.data), out=str(args.out / amp), model="mobilenet_v2", weights="imagenet",
                          image_size=args.image_size, epochs=args.epochs, batch_size=args.batch_size, amp=amp, seed=0)
        start = time.perf_counter()
        fit(cfg, overwrite=True, progress=False)
        seconds = time.perf_counter() - start
        metrics = evaluate_folder(load_detector(args.out / amp / "best_model.pth"), args.data, split="val")[0].to_json()
        used = json.loads((args.out / amp / "manifest.json").read_text())["amp"]
        results[amp] = (metrics, seconds, used)
        ci = metrics["ci95"]
        print(f"--amp {amp:<4} (used {used['used']}: {used['reason']}): val accuracy {metrics['accuracy']:.4f} "
              f"[{ci['accuracy'][0]:.4f}, {ci['accuracy'][1]:.4f}], AP {metrics['average_precision']:.4f} "
              f"[{ci['average_precision'][0]:.4f}, {ci['average_precision'][1]:.4f}], trained in {seconds:.0f} s")
    (a, ta, _), (b, tb, _) = results["auto"], results["off"]
    d_acc = 100 * (a["accuracy"] - b["accuracy"])
    d_ap = a["average_precision"] - b["average_precision"]
    ok = abs(d_acc) <= 0.5 and abs(d_ap) <= 0.005
    print(f"default - off: accuracy {d_acc:+.2f} pt, AP {d_ap:+.4f}; training time ratio off/default {tb / ta:.2f}x; "
          f"{'within' if ok else 'NOT within'} 0.5 pt and 0.005 AP")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

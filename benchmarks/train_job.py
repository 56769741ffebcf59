"""Whole-job training time: ``python -m aigc_explain.train`` (defaults, and ``--amp off``) vs the report's loop.

    python benchmarks/train_job.py [--model resnet18] [--size 128] [--batch-size 16] [--train 512] [--val 128]

A job is what a user waits for: a fresh process that builds the model, trains one epoch, validates and
saves the best model. The report's job is its notebook loop in a script (PIL Dataset, Compose(Resize,
ToTensor, Normalize), ``Sequential(Linear, Sigmoid)`` head, BCELoss, AdamW 1e-4, per-step ``.item()``,
validation under ``no_grad``, ``torch.save`` of the state dict). Ours is the command with its defaults
(``--amp auto``) and with ``--amp off``. All three train the same balanced CIFAKE-dev subset with the same
batch size, threads and workers, from random initialisation (no hub access here); the jobs run in turn,
``--repeats`` times, and each one's fastest wall time is compared. Prints seconds and ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "cifake-dev"

REPORT_JOB = r"""
import sys, torch, torchvision
from pathlib import Path
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

root, model_name, size, batch, workers, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), \
    int(sys.argv[5]), sys.argv[6]

class DS(Dataset):
    def __init__(self, split, tf):
        self.items = [(p, y) for y, c in enumerate(("0_real", "1_fake")) for p in sorted((Path(root) / split / c).iterdir())]
        self.tf = tf
    def __len__(self):
        return len(self.items)
    def __getitem__(self, i):
        p, y = self.items[i]
        return self.tf(Image.open(p).convert("RGB")), y

tf = transforms.Compose([transforms.Resize((size, size)), transforms.ToTensor(),
                         transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
train = DataLoader(DS("train", tf), batch_size=batch, shuffle=True, num_workers=workers)
val = DataLoader(DS("val", tf), batch_size=batch, shuffle=False, num_workers=workers)
torch.manual_seed(0)
model = torchvision.models.get_model(model_name)
model.fc = nn.Sequential(nn.Linear(model.fc.in_features, 1), nn.Sigmoid())
opt, crit = torch.optim.AdamW(model.parameters(), lr=1e-4), nn.BCELoss()
model.train()
for x, y in train:
    y = y.float()
    opt.zero_grad()
    out_ = model(x).squeeze(1)
    loss = crit(out_, y)
    loss.backward()
    opt.step()
    running = loss.item() * x.size(0)
    correct = ((out_ > 0.5).float() == y).sum().item()
model.eval()
correct = 0
with torch.no_grad():
    for x, y in val:
        correct += ((model(x).squeeze(1) > 0.5).float() == y.float()).sum().item()
torch.save(model.state_dict(), out)
"""


def _subset(data: Path, n_train: int, n_val: int, tmp: Path) -> Path:
    """Links to a balanced subset of ``data``: n_train training and n_val validation images."""
    sys.path.insert(0, str(ROOT))
    from aigc_explain.core.folders import balanced_subset, find_samples

    for split, count in (("train", n_train), ("val", n_val)):
        for s in balanced_subset(find_samples(data / split), count):
            dest = tmp / split / ("1_fake" if s.label else "0_real") / Path(s.path).name
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.symlink_to(Path(s.path).resolve())
    return tmp


def _timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])}… failed:\n{proc.stderr[-2000:]}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="root with train|val/0_real|1_fake")
    p.add_argument("--model", default="resnet18", help="a torchvision ResNet")
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--train", type=int, default=512, help="training images (balanced)")
    p.add_argument("--val", type=int, default=128, help="validation images (balanced)")
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args(argv)
    if not args.data.is_dir():
        raise SystemExit(f"--data {args.data} is not a folder (the CIFAKE development subset by default)")
    tmp = Path(tempfile.mkdtemp(prefix="train_job_"))
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "PYTHONPATH": str(ROOT)}
    common = ["--data", str(tmp / "data"), "--model", args.model, "--weights", "none", "--image-size",
              str(args.size), "--batch-size", str(args.batch_size), "--epochs", "1", "--workers", str(args.workers),
              "--no-progress", "--overwrite"]
    jobs = {
        "report loop": lambda i: [sys.executable, "-c", REPORT_JOB, str(tmp / "data"), args.model, str(args.size),
                                  str(args.batch_size), str(args.workers), str(tmp / f"report{i}.pth")],
        "aigc_explain.train (defaults)": lambda i: [sys.executable, "-m", "aigc_explain.train", *common,
                                                    "--out", str(tmp / f"default{i}")],
        "aigc_explain.train --amp off": lambda i: [sys.executable, "-m", "aigc_explain.train", *common,
                                                   "--amp", "off", "--out", str(tmp / f"off{i}")],
    }
    try:
        _subset(args.data, args.train, args.val, tmp / "data")
        seconds = {name: [] for name in jobs}
        for i in range(args.repeats):
            for name, cmd in jobs.items():
                seconds[name].append(_timed(cmd(i), env))
        amp = json.loads((tmp / "default0" / "manifest.json").read_text())["amp"]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    best = {name: min(v) for name, v in seconds.items()}
    print(f"{args.model} at {args.size}px, batch {args.batch_size}, {args.train}+{args.val} images, one epoch + "
          f"validation, {args.threads} threads, {args.workers} workers; defaults used amp {amp['used']} "
          f"({amp['reason']})")
    report = best["report loop"]
    for name, s in best.items():
        runs = ", ".join(f"{x:.1f}" for x in seconds[name])
        print(f"{name:<32} {s:7.1f} s  (runs: {runs})  speed vs the report's loop: {report / s:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

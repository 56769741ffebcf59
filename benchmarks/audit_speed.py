"""How fast the audit reads file cues (headers only) and the whole audit (cues + pixel evidence + budget) runs.

    python -m benchmarks.audit_speed [--data ../shared/data/cifake-dev] [--size 64] [--limit 4000]
    python -m benchmarks.audit_speed --jpegs 300 [--side 512] [--size 224]

With ``--data``: images/s for ``read_cues`` over every image and for ``run_audit`` at ``--size``, in one run.

With ``--jpegs N``: builds N synthetic ``--side``-px JPEG photos in a temporary folder (random crops of the
photographs installed packages ship, ``synth.photos``; reals at quality 90, fakes other crops at quality 75),
then, in one run: the file cues alone (images/s; target >= 200); the ``audit`` command in a fresh process
with its default settings (wall time and peak RSS, beside a process that only imports the audit); and the
audit's job in this process (``write_audit_run``: images/s, the target being >= 30, and where its time goes:
decoding, per-image features, classifiers, the permutation null, writing). Wall time is noisy on shared
cores: compare numbers of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from aigc_explain.core.folders import balanced_subset, find_samples
from aigc_explain.evidence.cues import read_cues
from aigc_explain.evidence.gather import AuditSettings, run_audit

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "cifake-dev"
QUALITY = {"0_real": 90, "1_fake": 75}
CHUNK = 32  # crops made and written at a time: the build keeps no more than this many images in memory


def build_jpegs(root: Path, n: int, side: int, *, seed: int = 0) -> Path:
    """N/2 + N/2 ``side``-px JPEGs under root/0_real and root/1_fake: different random crops of the shipped
    photos (enlarged first where shorter than 1.25 × side), the two classes saved at different qualities."""
    from PIL import Image

    from aigc_explain.synth.photos import photo_sources, random_crops

    photos = []
    for _, photo in photo_sources():
        short = min(photo.shape[:2])
        if short < 1.25 * side:
            scale = 1.25 * side / short
            size = (round(photo.shape[1] * scale), round(photo.shape[0] * scale))
            photo = np.asarray(Image.fromarray(photo).resize(size, Image.Resampling.BICUBIC))
        photos.append(photo)
    for c, (folder, quality) in enumerate(QUALITY.items()):
        out = root / folder
        out.mkdir(parents=True)
        count = n // 2 + (n % 2 if c == 0 else 0)
        for start in range(0, count, CHUNK):
            crops = random_crops(photos, min(CHUNK, count - start), size=side, seed=seed + 1000 * c + start)
            for i, crop in enumerate(crops):
                Image.fromarray(crop).save(out / f"{start + i:04d}.jpg", format="JPEG", quality=quality)
    return root


def _rate(n: int, seconds: float) -> str:
    return f"{n / seconds:.0f} images/s" if seconds > 0 else "–"


def _cue_rate(paths: list[str]) -> tuple[float, float]:
    start = time.perf_counter()
    for path in paths:
        read_cues(path)
    seconds = time.perf_counter() - start
    return seconds, len(paths) / seconds


def _run_data(args: argparse.Namespace) -> int:
    size = args.size or 64
    samples = find_samples(args.data)
    _, cue_rate = _cue_rate([s.path for s in samples])
    n = sum(len(balanced_subset(find_samples(args.data / split), args.limit)) for split in ("train", "val")
            if (args.data / split).is_dir()) or len(samples)
    start = time.perf_counter()
    run_audit(args.data, AuditSettings(size=size, limit=args.limit))
    audit_rate = n / (time.perf_counter() - start)
    print(f"file cues (headers): {len(samples)} images, {cue_rate:.0f} images/s (target >= 200)")
    print(f"whole audit at {size} px: {n} images, {audit_rate:.0f} images/s")
    return 0


class Timers:
    """Seconds spent in patched functions, by bucket (a benchmark's instrument, undone on exit). A part
    ("read: decode") counts only while its whole ("read") runs: the calibration's decodes are not the pass's."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.captured: dict[str, Any] = {}
        self.active: list[str] = []

    @contextmanager
    def patched(self, targets: list[tuple[Any, str, str]]) -> Iterator[None]:
        targets = [t for t in targets if t[1] in vars(t[0])]  # what this version of the audit has
        saved = [(owner, attr, vars(owner)[attr]) for owner, attr, _ in targets]
        try:
            for (owner, attr, bucket), (_, _, original) in zip(targets, saved):
                setattr(owner, attr, self._wrap(original, bucket))
            yield
        finally:
            for owner, attr, original in saved:
                setattr(owner, attr, original)

    def _wrap(self, fn: Any, bucket: str) -> Any:
        whole = bucket.split(": ")[0] if ": " in bucket else None

        def timed(*a: Any, **kw: Any) -> Any:
            if whole is not None and whole not in self.active:
                return fn(*a, **kw)
            start = time.perf_counter()
            self.active.append(bucket)
            try:
                out = fn(*a, **kw)
            finally:
                self.active.pop()
                name = bucket.format(kind=getattr(a[0], "name", "?")) if a else bucket
                self.seconds[name] += time.perf_counter() - start
            self.captured[bucket] = out
            return out
        return timed


def _targets() -> list[tuple[Any, str, str]]:
    """What the breakdown times: (module or class, attribute, bucket)."""
    from aigc_explain.evidence import gather, kinds, pixel_kinds, write

    return [
        (gather, "native_sides", "size pre-pass (headers)"),
        (gather._Gatherer, "calibrate", "calibrate"),
        (gather._Gatherer, "read", "read"), (gather, "read_rgb", "read: decode"),
        (gather, "read_image", "read: decode"),  # before the audit read (H, W, 3) arrays
        (gather, "read_cues", "read: file cues"), (kinds.HistoryKind, "image_features", "read: history features"),
        (gather._Gatherer, "flush", "batch"), (kinds, "residual_maps", "batch: residuals"),
        (kinds, "residual_energy", "batch: residuals"), (kinds.ContentKind, "features", "batch: content features"),
        (kinds.ResidualKind, "features", "batch: residual features"),
        (pixel_kinds, "pooled_log_energy", "batch: pooled energy"),
        (write, "run_audit", "audit"), (gather, "summarize_evidence", "summary"),
        (kinds.FileCueKind, "summary", "summary: classifier {kind}"),
        (kinds.FeatureKind, "summary", "summary: classifier {kind}"),
        (pixel_kinds.BlockEnergy, "summary", "summary: localisation (permutation null)"),
        (pixel_kinds.Fingerprint, "summary", "summary: fingerprint"),
        (write, "write_audit", "write"), (write, "save_figure", "write: figures"),
    ]


def _breakdown(t: Timers, total: float) -> list[tuple[str, float]]:
    """Buckets in order, each parent followed by its parts and their remainder ("other")."""
    s = dict(t.seconds)
    pre, audit, summary, scan = (s.pop(k, 0.0) for k in ("size pre-pass (headers)", "audit", "summary", "calibrate"))
    rows = [("size pre-pass (headers)", pre), ("calibration (the history's resize scan)", scan)]
    wholes = {}
    for parent, label in (("read", "read each image"), ("batch", "fold each batch into the kinds"),
                          ("summary", "summaries"), ("write", "write the run folder")):
        whole = wholes[parent] = summary if parent == "summary" else s.pop(parent, 0.0)
        parts = sorted((k, v) for k, v in s.items() if k.startswith(parent + ": "))
        rows += [(label, whole), *((f"  {k[len(parent) + 2:]}", v) for k, v in parts),
                 ("  other", whole - sum(v for _, v in parts))]
        if parent == "batch":  # the loop's own bookkeeping (listing, tqdm, appends) after read and batch
            rows.append(("gathering loop, other", audit - summary - pre - scan - wholes["read"] - whole))
    counted = sum(v for k, v in rows if not k.startswith("  "))
    return rows + [("everything else (run folder, manifest)", total - counted)]


def _row_bytes(row: Any) -> int:
    """An array row's bytes; a cue row's (a dict) its size and its values' (the keys are shared)."""
    if hasattr(row, "nbytes"):
        return row.nbytes
    return sys.getsizeof(row) + sum(sys.getsizeof(v) for v in row.values())


def _per_image_bytes(result: Any) -> dict[str, float]:
    """Bytes per image that the overall evidence keeps in its per-image rows, by kind (a split's rows are the
    same arrays and dicts, not copies)."""
    kinds = [k for k in result.evidence["all"].kinds if getattr(k, "rows", None)]
    return {k.name: sum(_row_bytes(r) for r in k.rows) / len(k.rows) for k in kinds}


def _cli(data: Path, out: Path) -> tuple[float, float, float, float, dict[str, Any]]:
    """The audit command in a fresh process: (import-only wall s, its peak RSS MB, audit wall s, peak RSS MB,
    its --json output). Peak RSS is the children's high-water mark, so the smaller process runs first."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import aigc_explain.audit, aigc_explain.evidence.write"], check=True,
                   env=env)
    imports = time.perf_counter() - start
    rss_imports = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "aigc_explain.audit", "--data", str(data), "--out", str(out),
                           "--no-progress", "--json"], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"the audit command failed:\n{proc.stderr[-2000:]}")
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return imports, rss_imports, wall, rss, json.loads(proc.stdout)


def _run_jpegs(args: argparse.Namespace) -> int:
    from aigc_explain.evidence.write import write_audit_run

    settings = AuditSettings() if args.size is None else AuditSettings(size=args.size)
    tmp = Path(tempfile.mkdtemp(prefix="audit_speed_"))
    try:
        start = time.perf_counter()
        data = build_jpegs(tmp / "data", args.jpegs, args.side)
        built = time.perf_counter() - start
        paths = sorted(str(p) for p in data.rglob("*.jpg"))
        n = len(paths)
        cue_s, cue_rate = _cue_rate(paths)
        cli = _cli(data, tmp / "cli") if args.cli else None
        timers = Timers()
        with timers.patched(_targets()):
            start, cpu = time.perf_counter(), time.process_time()
            write_audit_run(data=data, out=tmp / "job", settings=settings, arguments={})
            job, cpu = time.perf_counter() - start, time.process_time() - cpu
        result = timers.captured["audit"]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    budget = result.summary.overall.budget.rows()
    print(f"{n} synthetic {args.side}-px JPEG photos (built in {built:.1f} s), audit at {result.geometry.size} px, "
          f"one run:")
    print(f"  file cues (headers): {cue_s:.2f} s, {cue_rate:.0f} images/s (target >= 200)")
    print(f"  whole audit, the job in this process (write_audit_run): {job:.1f} s, {_rate(n, job)} (target >= 30); "
          f"file cues are {cue_rate / (n / job):.0f}x faster")
    print(f"    its CPU time: {cpu:.1f} s, {_rate(n, cpu)} a core (what a quiet machine nears; wall time on "
          f"shared cores is longer)")
    if cli is not None:
        imports, rss_imports, wall, rss, out = cli
        print(f"  whole audit, the command in a fresh process: {wall:.1f} s wall, {_rate(n, wall)} "
              f"({imports:.1f} s of it is Python start-up and imports: {_rate(n, wall - imports)} without); "
              f"peak RSS {rss:.0f} MB (a process that only imports the audit: {rss_imports:.0f} MB)")
        same = out["budget"] == {k: v and {"auc": v.auc, "top": v.top} for k, v in budget.items()}
        print(f"  its budget is {'the same as' if same else 'NOT the same as'} the job's")
    print("  budget (AUC): " + ", ".join(f"{k} {v.auc:.3f}" for k, v in budget.items() if v))
    per_image = _per_image_bytes(result)
    print(f"  per-image features kept (overall evidence): {sum(per_image.values()) / 1024:.1f} KiB an image "
          f"({', '.join(f'{k} {v / 1024:.1f}' for k, v in per_image.items())})")
    print(f"  where the job's {job:.1f} s go:")
    for label, seconds in _breakdown(timers, job):
        print(f"    {label:<44} {seconds:6.2f} s  {100 * seconds / job:5.1f}%")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--size", type=int, default=None,
                   help="audit size (default: 64 with --data, the audit's own default with --jpegs)")
    p.add_argument("--limit", type=int, default=None, help="images per split for the whole audit (--data)")
    p.add_argument("--jpegs", type=int, default=None, metavar="N",
                   help="build N synthetic JPEG photos (e.g. 300) and time the audit on them instead of --data")
    p.add_argument("--side", type=int, default=512, help="side of the synthetic JPEGs (default 512)")
    p.add_argument("--no-cli", dest="cli", action="store_false",
                   help="skip the audit command in a fresh process (its wall time and peak RSS)")
    args = p.parse_args(argv)
    if args.jpegs is not None:
        if args.jpegs < 8:
            p.error(f"--jpegs must be >= 8 (the audit's classifiers need a few images of each class), got {args.jpegs}")
        return _run_jpegs(args)
    return _run_data(args)


if __name__ == "__main__":
    raise SystemExit(main())

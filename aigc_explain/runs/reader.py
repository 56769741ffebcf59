"""Reading run folders back: which kind a folder is, and its csv/json/npy files as numpy and dicts.

A folder's kind is told by its files: ``summary.json`` + ``per_image.csv`` is a CAM run (``cam``),
``history.csv`` a training run (``train``), ``metrics.json`` + ``predictions.csv`` an evaluation run
(``evaluate``). Pure standard library + numpy (no torch), so reports redraw from files alone.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from aigc_explain.runs.contract import GROUPS, KINDS, LABEL_VALUES, MASS_KEYS, PREDICTION_COLUMNS
from aigc_explain.runs.files import open_text, sha256_file
from aigc_explain.runs.folders import check_complete


@dataclass(frozen=True)
class PredictionTable:
    """One row per image: labels 0 real / 1 fake / -1 unknown, probability of fake, predicted class."""
    paths: list[str]
    labels: np.ndarray
    prob_fake: np.ndarray
    preds: np.ndarray

    @property
    def has_both_classes(self) -> bool:
        return bool((self.labels == 0).any() and (self.labels == 1).any())


@dataclass
class CamRun:
    path: Path
    summary: dict[str, Any]
    manifest: dict[str, Any] | None
    predictions: PredictionTable
    cam_empty: np.ndarray
    masses: dict[str, np.ndarray]  # MASS_KEYS, NaN where undefined (empty map)
    kind: str = field(default="cam", init=False)
    _mean_maps: dict[str, np.ndarray | None] = field(default_factory=dict, init=False, repr=False, compare=False)

    def group_mask(self, group: str) -> np.ndarray:
        """Which rows of per_image.csv belong to ``group`` (all, real, fake, pred_real, pred_fake)."""
        p = self.predictions
        masks = {"all": np.ones(len(p.labels), bool), "real": p.labels == 0, "fake": p.labels == 1,
                 "pred_real": p.preds == 0, "pred_fake": p.preds == 1}
        if group not in masks:
            raise ValueError(f"group {group!r} is not one of {', '.join(GROUPS)}")
        return masks[group]

    def mean_map(self, group: str) -> np.ndarray | None:
        """The unit-mass mean CAM of ``group`` at input size, or None when the run has none. Read once per run
        (compare and report ask for the same maps several times); the array is read-only."""
        if group not in self._mean_maps:
            path = self.path / f"mean_cam_{group}.npy"
            mean = _damaged_if_fails(self.path, lambda: np.load(path)) if path.is_file() else None
            if mean is not None:
                mean.setflags(write=False)
            self._mean_maps[group] = mean
        return self._mean_maps[group]

    def arrays(self) -> dict[str, np.ndarray]:
        """``cams.npz``: index, labels, prob_fake and the raw maps, in per_image.csv order."""
        def read() -> dict[str, np.ndarray]:
            with np.load(self.path / "cams.npz") as cams:
                return {k: cams[k] for k in ("index", "labels", "prob_fake", "maps")}
        return _damaged_if_fails(self.path, read)

    def aggregates(self) -> dict[str, dict[str, np.ndarray]]:
        """``aggregates.npz``: per group the running sums behind the mean maps (sum, n, n_empty)."""
        def read() -> dict[str, dict[str, np.ndarray]]:
            with np.load(self.path / "aggregates.npz") as state:
                groups = {key.split("/")[0] for key in state.files}
                return {g: {k: state[f"{g}/{k}"] for k in ("sum", "n", "n_empty")} for g in sorted(groups)}
        return _damaged_if_fails(self.path, read)

    def skipped(self) -> list[tuple[str, str]]:
        path = self.path / "skipped.csv"
        if not path.is_file():
            return []
        cols = read_csv_columns(path, ("path", "reason"))
        return list(zip(cols["path"], cols["reason"]))

    @property
    def regions(self) -> dict[str, float]:
        return dict(self.summary.get("regions") or {"corner_frac": 0.25, "center_frac": 0.5, "border_frac": 0.125})


@dataclass
class TrainingRun:
    path: Path
    history: dict[str, np.ndarray]
    manifest: dict[str, Any] | None
    kind: str = field(default="training", init=False)

    @property
    def arguments(self) -> dict[str, Any]:
        return dict((self.manifest or {}).get("arguments") or {})


@dataclass
class EvaluationRun:
    path: Path
    metrics: dict[str, Any]
    predictions: PredictionTable
    manifest: dict[str, Any] | None
    kind: str = field(default="evaluation", init=False)


@dataclass
class AuditRun:
    path: Path
    summary: dict[str, Any]
    manifest: dict[str, Any] | None
    kind: str = field(default="audit", init=False)

    def split_of(self, images: str | Path) -> str | None:
        """Which evidence of this audit covers exactly the folder ``images``: "all", a split, or None."""
        target = str(Path(images).resolve())
        if target == self.summary.get("data_resolved"):
            return "all"
        return next((name for name, s in self.summary.get("per_split", {}).items() if s.get("folder") == target), None)

    def maps(self, split: str = "all") -> dict[str, np.ndarray]:
        """``pixel_evidence.npz`` of one split: mean_real, mean_fake, difference, t, excess and differ (|fake −
        real|), both unit mass, and the spectra."""
        def read() -> dict[str, np.ndarray]:
            with np.load(self.path / "pixel_evidence.npz") as npz:
                return {k.split("/", 1)[1]: npz[k] for k in npz.files if k.startswith(f"{split}/")}
        return _damaged_if_fails(self.path, read)


Run = CamRun | TrainingRun | EvaluationRun | AuditRun


def _damaged_if_fails(folder: Path, read):
    import zipfile

    try:
        return read()
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"run folder {folder} is damaged ({type(exc).__name__}: {exc}); run its command again") \
            from None


def run_kind(path: str | Path) -> str:
    """"cam", "training", "evaluation" or "audit", told by the files the folder holds; the run must be complete and
    undamaged (``check_complete``)."""
    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"run folder {folder} does not exist; pass a folder written by cam, train, evaluate "
                                f"or audit")
    for kind, files in KINDS.items():
        if all((folder / f).is_file() for f in files):
            check_complete(folder, what=f"{kind} run folder")
            return kind
    expected = "; ".join(f"{' + '.join(files)} ({kind} run)" for kind, files in KINDS.items())
    raise ValueError(f"{folder} is not a run folder: expected {expected}")


def read_json(path: str | Path) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); re-run the command that wrote it") from None


def read_csv_columns(path: str | Path, required: tuple[str, ...]) -> dict[str, list[str]]:
    """Columns of a csv as lists of strings; names the missing columns when the header lacks them."""
    with open_text(path) as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path} lacks column(s) {', '.join(missing)}; expected {', '.join(required)}")
        rows = list(reader)
    return {c: [r[c] for r in rows] for c in (reader.fieldnames or [])}


def _floats(values: list[str]) -> np.ndarray:
    try:
        return np.array([float(v) if v not in ("", "None") else np.nan for v in values], dtype=np.float64)
    except ValueError as exc:
        raise ValueError(f"a run file holds a value that is not a number ({exc}); re-run its command") from None


def _labels(values: list[str], path: Path, column: str) -> np.ndarray:
    bad = sorted({v for v in values if v not in LABEL_VALUES})
    if bad:
        raise ValueError(f"{path} column {column} holds {bad[:3]}; expected real, fake or unknown")
    return np.array([LABEL_VALUES[v] for v in values], dtype=np.int64)


def _prediction_table(cols: dict[str, list[str]], path: Path) -> PredictionTable:
    return PredictionTable(list(cols["path"]), _labels(cols["label"], path, "label"), _floats(cols["prob_fake"]),
                           _labels(cols["pred"], path, "pred"))


def _manifest(folder: Path) -> dict[str, Any] | None:
    path = folder / "manifest.json"
    return read_json(path) if path.is_file() else None


def load_cam_run(path: str | Path) -> CamRun:
    folder = Path(path)
    check_complete(folder, what="CAM run folder")
    csv_path = folder / "per_image.csv"
    cols = read_csv_columns(csv_path, PREDICTION_COLUMNS + ("cam_empty",) + MASS_KEYS)
    empty = np.array([v == "True" for v in cols["cam_empty"]], dtype=bool)
    return CamRun(folder, read_json(folder / "summary.json"), _manifest(folder), _prediction_table(cols, csv_path),
                  empty, {k: _floats(cols[k]) for k in MASS_KEYS})


def load_training_run(path: str | Path) -> TrainingRun:
    folder = Path(path)
    cols = read_csv_columns(folder / "history.csv", ("epoch", "train_loss", "train_acc", "val_loss", "val_acc"))
    if not cols["epoch"]:
        raise ValueError(f"{folder / 'history.csv'} has no epoch yet; train at least one epoch")
    return TrainingRun(folder, {k: _floats(v) for k, v in cols.items()}, _manifest(folder))


def load_evaluation_run(path: str | Path) -> EvaluationRun:
    folder = Path(path)
    csv_path = folder / "predictions.csv"
    table = _prediction_table(read_csv_columns(csv_path, PREDICTION_COLUMNS), csv_path)
    return EvaluationRun(folder, read_json(folder / "metrics.json"), table, _manifest(folder))


def load_audit_run(path: str | Path) -> AuditRun:
    folder = Path(path)
    return AuditRun(folder, read_json(folder / "audit.json"), _manifest(folder))


def load_run(path: str | Path) -> Run:
    """The run in ``path``, whatever its kind (see ``run_kind``)."""
    loaders = {"cam": load_cam_run, "training": load_training_run, "evaluation": load_evaluation_run,
               "audit": load_audit_run}
    return loaders[run_kind(path)](path)


def load_cam_runs(paths: list[str | Path], flags: list[str]) -> list[CamRun]:
    """Load CAM runs; a folder of another kind is refused, naming the flag that passed it."""
    runs = []
    for path, flag in zip(paths, flags):
        kind = run_kind(path)
        if kind != "cam":
            raise ValueError(f"{flag} {path} is a {kind} run, not a CAM run; run aigc_explain.cam on its "
                             "checkpoint and pass that folder")
        runs.append(load_cam_run(path))
    return runs


def checkpoint_folder(run: Run) -> Path | None:
    """The folder of the checkpoint a CAM or evaluation run explained (its training run, if ours)."""
    ckpt = ((run.manifest or {}).get("arguments") or {}).get("ckpt")
    return Path(ckpt).resolve().parent if ckpt else None


def checkpoint_owners(runs: dict[str, Run]) -> dict[str, str]:
    """Evaluation/CAM run label -> label of the given training run whose checkpoint it used: by the
    manifest's ``ckpt`` path, else by its ``checkpoint_sha256`` against the training run's
    best_model.pth/final_model.pth (for moved folders or a ckpt path relative to another directory)."""
    folders = {r.path.resolve(): label for label, r in runs.items() if r.kind == "training"}
    hashes: dict[str, str] | None = None
    owners = {}
    for label, r in runs.items():
        if r.kind == "training":
            continue
        owner = folders.get(checkpoint_folder(r))
        sha = (r.manifest or {}).get("checkpoint_sha256")
        if owner is None and sha and folders:
            if hashes is None:  # hash lazily: only when a path does not tell
                hashes = {sha256_file(f / name): tl for f, tl in folders.items()
                          for name in ("best_model.pth", "final_model.pth") if (f / name).is_file()}
            owner = hashes.get(sha)
        if owner is not None:
            owners[label] = owner
    return owners


def default_labels(paths: list[str | Path]) -> list[str]:
    """Folder names; ``parent/name`` where names repeat. Raises when even those repeat."""
    names = [Path(p).resolve().name for p in paths]
    if len(set(names)) < len(names):
        names = ["/".join(Path(p).resolve().parts[-2:]) for p in paths]
    if len(set(names)) < len(names):
        raise ValueError(f"run folders {', '.join(map(str, paths))} have the same names; pass --labels")
    return names


def check_labels(labels: list[str] | None, paths: list[str | Path]) -> list[str]:
    """``--labels`` (one per run, distinct) or the default ones."""
    if labels is None:
        return default_labels(paths)
    if len(labels) != len(paths) or len(set(labels)) != len(labels):
        raise ValueError(f"--labels needs {len(paths)} distinct names (one per run), got {labels}")
    return list(labels)


def slug(label: str) -> str:
    """A label made safe for a file name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label).strip("_") or "run"

"""Reading run folders back — the one reader, and it distrusts its files.

A folder is read only when its record says complete and every file it lists has the listed size and sha256
(``runs.record.check_complete``), it holds no symbolic link, and only files the record lists are opened. Each
file is then checked before use (``runs.validate``): json types and structure, csv values finite and in range,
array shapes and dtypes against the recorded sizes, and declared archive sizes before anything is inflated.
Any violation is one ValueError naming the file.

A folder's kind is told by its files: ``summary.json`` + ``per_image.csv`` is a CAM run (``cam``),
``history.csv`` a training run, ``metrics.json`` + ``predictions.csv`` an evaluation run, ``audit.json`` an
audit. Pure standard library + numpy (no torch), so reports redraw from files alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from aigc_explain.runs.audit_summary import AuditSummary
from aigc_explain.runs.contract import GROUPS, KINDS, MASS_KEYS, PREDICTION_COLUMNS, RECORD
from aigc_explain.runs.diagnose_summary import DiagnoseSummary
from aigc_explain.runs.labels import check_labels, checkpoint_folder, checkpoint_owners, default_labels, slug  # noqa: F401
from aigc_explain.runs.record import check_complete, load_json, read_record
from aigc_explain.runs.summaries import CamSummary, EvaluationMetrics, Regions
from aigc_explain.runs.tables import floats, prediction_table, PredictionTable, read_csv_columns  # noqa: F401
from aigc_explain.runs.validate import (bad, check_array, check_history, check_summary, flags, in_range, mapping,
                                        npy_header, npz_members, read_record_file)


@dataclass
class _Read:
    """What every run read back shares: its folder, manifest and the files its record lists."""
    path: Path

    def listed(self, name: str) -> Path | None:
        """``name`` inside the run when its record lists it (verified), else None: nothing else is opened."""
        return self.path / name if name in getattr(self, "files", ()) else None


@dataclass
class CamRun(_Read):
    summary: CamSummary
    manifest: dict[str, Any] | None
    predictions: PredictionTable
    cam_empty: np.ndarray
    masses: dict[str, np.ndarray]  # MASS_KEYS, NaN where undefined (empty map)
    files: frozenset[str] = field(default=frozenset(), repr=False, compare=False)
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

    @property
    def input_size(self) -> tuple[int, int]:
        return tuple(self.summary.input_size)

    def mean_map(self, group: str) -> np.ndarray | None:
        """The unit-mass mean CAM of ``group`` at input size, or None when the run has none. Read once per run
        (compare and report ask for the same maps several times); the array is read-only."""
        if group not in self._mean_maps:
            name = f"mean_cam_{group}.npy"
            path = self.listed(name)
            n = self.summary.groups[group].n if group in self.summary.groups else 0
            if path is None and n:
                raise ValueError(f"run folder {self.path} is damaged: {name} is missing though {n} images are in "
                                 f"group {group}; run its command again")
            mean = None
            if path is not None:
                npy_header(path, shape=self.input_size)
                mean = check_array(np.load(path), path, "the mean map", lo=0.0, hi=1.0 + 1e-6)
                if mean.sum() > 1.0 + 1e-4:
                    raise bad(path, f"holds a mean map of mass {mean.sum():.4f}; unit-mass maps sum to 1 at most")
                mean.setflags(write=False)
            self._mean_maps[group] = mean
        return self._mean_maps[group]

    def arrays(self) -> dict[str, np.ndarray]:
        """``cams.npz``: index, labels, prob_fake and the raw maps, in per_image.csv order."""
        path = self._required("cams.npz")
        n, (h, w) = len(self.predictions.paths), self.summary.map_size
        longest = max((len(p) for p in self.predictions.paths), default=1)
        npz_members(path, n * (h * w * 8 + 32 + 4 * (longest + 1)) + (1 << 20))
        with np.load(path) as cams:
            out = {k: cams[k] for k in ("index", "labels", "prob_fake", "maps") if k in cams.files}
        if len(out) < 4:
            raise bad(path, "lacks one of index, labels, prob_fake, maps")
        check_array(out["maps"], path, "maps", shape=(n, h, w))
        check_array(out["index"], path, "index", shape=(n,), kind="iu", lo=0)
        if len(np.unique(out["index"])) != n:
            raise bad(path, "holds an index with repeated entries")
        check_array(out["labels"], path, "labels", shape=(n,), kind="iu", lo=-1, hi=1)
        check_array(out["prob_fake"], path, "prob_fake", shape=(n,), lo=0.0, hi=1.0)
        return out

    def aggregates(self) -> dict[str, dict[str, np.ndarray]]:
        """``aggregates.npz``: per group the running sums behind the mean maps (sum, n, n_empty)."""
        path = self._required("aggregates.npz")
        h, w = self.input_size
        members = npz_members(path, len(GROUPS) * (h * w * 8 + 4096) + (1 << 20))
        groups = {key.split("/")[0] for key in members}
        if not groups <= set(GROUPS) or any(f"{g}/{k}" not in members for g in groups for k in ("sum", "n", "n_empty")):
            raise bad(path, f"holds groups or keys other than {', '.join(GROUPS)} with sum, n, n_empty")
        with np.load(path) as state:
            out = {g: {k: state[f"{g}/{k}"] for k in ("sum", "n", "n_empty")} for g in sorted(groups)}
        for g, parts in out.items():
            shape = (0, 0) if parts["sum"].shape == (0, 0) else (h, w)  # a group without images saves (0, 0)
            check_array(parts["sum"], path, f"{g}/sum", shape=shape, lo=0.0)
            for k in ("n", "n_empty"):
                check_array(parts[k], path, f"{g}/{k}", shape=(), kind="iuf", lo=0)
        return out

    def skipped(self) -> list[tuple[str, str]]:
        path = self.listed("skipped.csv")
        if path is None:
            return []
        cols = read_csv_columns(path, ("path", "reason"))
        return list(zip(cols["path"], cols["reason"]))

    def _required(self, name: str) -> Path:
        path = self.listed(name)
        if path is None:
            raise ValueError(f"run folder {self.path} is damaged: its record does not list {name}; run its "
                             f"command again")
        return path

    @property
    def regions(self) -> Regions:
        return self.summary.regions


@dataclass
class TrainingRun(_Read):
    history: dict[str, np.ndarray]
    manifest: dict[str, Any] | None
    files: frozenset[str] = field(default=frozenset(), repr=False, compare=False)
    kind: str = field(default="training", init=False)

    @property
    def arguments(self) -> Mapping[str, Any]:
        """The training command's arguments as its manifest records them (read-only)."""
        return MappingProxyType(dict((self.manifest or {}).get("arguments") or {}))


@dataclass
class EvaluationRun(_Read):
    metrics: EvaluationMetrics
    predictions: PredictionTable
    manifest: dict[str, Any] | None
    files: frozenset[str] = field(default=frozenset(), repr=False, compare=False)
    kind: str = field(default="evaluation", init=False)


@dataclass
class AuditRun(_Read):
    summary: AuditSummary  # audit.json
    manifest: dict[str, Any] | None
    files: frozenset[str] = field(default=frozenset(), repr=False, compare=False)
    kind: str = field(default="audit", init=False)

    def split_of(self, images: str | Path) -> str | None:
        """Which evidence of this audit covers exactly the folder ``images``: "all", a split, or None."""
        target = str(Path(images).resolve())
        if target == self.summary.data_resolved:
            return "all"
        return next((name for name, s in self.summary.per_split.items() if s.folder == target), None)

    def maps(self, split: str = "all") -> dict[str, np.ndarray]:
        """``pixel_evidence.npz`` of one split: mean_real, mean_fake, difference, t, excess and differ (|fake −
        real|), both unit mass, and the spectra."""
        path = self.listed("pixel_evidence.npz")
        if path is None:
            raise ValueError(f"audit run {self.path} has no pixel_evidence.npz in its record; run the audit again")
        npz_members(path, 16 * path.stat().st_size + (64 << 20))
        with np.load(path) as npz:
            return {k.split("/", 1)[1]: npz[k] for k in npz.files if k.startswith(f"{split}/")}


@dataclass
class DiagnoseRun(_Read):
    summary: DiagnoseSummary  # diagnose.json: bands, peaks, shuffle, reencode, verdict
    manifest: dict[str, Any] | None
    files: frozenset[str] = field(default=frozenset(), repr=False, compare=False)
    kind: str = field(default="diagnose", init=False)


Run = CamRun | TrainingRun | EvaluationRun | AuditRun | DiagnoseRun


def _kind_by_files(folder: Path) -> str | None:
    return next((kind for kind, files in KINDS.items() if all((folder / f).is_file() for f in files)), None)


def _checked(path: str | Path) -> tuple[str, Path, dict[str, Any]]:
    """The kind, folder and verified record of a complete run; one line naming the problem otherwise."""
    folder = Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"run folder {folder} does not exist; pass a folder written by cam, train, evaluate "
                                f"or audit")
    record = read_record(folder)
    kind = _kind_by_files(folder)
    if record is None and (folder / RECORD).exists():
        load_json(folder / RECORD, what=f"{folder / RECORD}")  # names what is wrong with it
        raise bad(folder / RECORD, "is not a run record")
    if record is None and kind is None:
        expected = "; ".join(f"{' + '.join(files)} ({kind} run)" for kind, files in KINDS.items())
        raise ValueError(f"{folder} is not a run folder: expected {expected}")
    record = check_complete(folder, what=f"{kind or 'the'} run folder")  # a run that did not finish is named so
    if kind is None or any(f not in record["files"] for f in KINDS[kind]):
        raise ValueError(f"run folder {folder} is damaged: its record lists none of the files of a cam, training, "
                         f"evaluation or audit run; run its command again")
    return kind, folder, record


def run_kind(path: str | Path) -> str:
    """"cam", "training", "evaluation" or "audit"; the run must be complete and undamaged (``check_complete``)."""
    return _checked(path)[0]


def _read_json(path: str | Path) -> dict[str, Any]:
    """A JSON object (not a result: results are read with ``read_record_file`` into their record)."""
    return mapping(load_json(path), path)


def _manifest(folder: Path, files: frozenset[str]) -> dict[str, Any] | None:
    return _read_json(folder / "manifest.json") if "manifest.json" in files else None


def load_cam_run(path: str | Path, *, _verified: tuple | None = None) -> CamRun:
    kind, folder, record = _verified or _checked(path)
    if kind != "cam":
        raise ValueError(f"{folder} is a {kind} run, not a CAM run")
    files = frozenset(record["files"])
    csv_path = folder / "per_image.csv"
    cols = read_csv_columns(csv_path, PREDICTION_COLUMNS + ("cam_empty",) + MASS_KEYS)
    empty = flags(cols["cam_empty"], csv_path, "cam_empty")
    masses = {k: floats(cols[k], csv_path, k) for k in MASS_KEYS}
    for k in MASS_KEYS[:3]:
        in_range(masses[k], csv_path, k, 0.0, 1.0, nan=empty)
    no_pair = np.nan_to_num(masses["corner_mass"] + masses["center_mass"]) == 0
    in_range(masses["corner_share"], csv_path, "corner_share", 0.0, 1.0, nan=empty | no_pair)
    summary = read_record_file(CamSummary, check_summary(load_json(folder / "summary.json"), folder / "summary.json"),
                               folder / "summary.json")
    return CamRun(folder, summary, _manifest(folder, files), prediction_table(cols, csv_path), empty, masses,
                  files=files)


def load_training_run(path: str | Path, *, _verified: tuple | None = None) -> TrainingRun:
    _, folder, record = _verified or _checked(path)
    history_path = folder / "history.csv"
    cols = read_csv_columns(history_path, ("epoch", "train_loss", "train_acc", "val_loss", "val_acc"))
    if not cols["epoch"]:
        raise ValueError(f"{history_path} has no epoch yet; train at least one epoch")
    history = {k: floats(v, history_path, k) for k, v in cols.items()}
    check_history(history, history_path)
    files = frozenset(record["files"])
    return TrainingRun(folder, history, _manifest(folder, files), files=files)


def load_evaluation_run(path: str | Path, *, _verified: tuple | None = None) -> EvaluationRun:
    _, folder, record = _verified or _checked(path)
    csv_path = folder / "predictions.csv"
    table = prediction_table(read_csv_columns(csv_path, PREDICTION_COLUMNS), csv_path)
    files = frozenset(record["files"])
    metrics = read_record_file(EvaluationMetrics, _read_json(folder / "metrics.json"), folder / "metrics.json")
    return EvaluationRun(folder, metrics, table, _manifest(folder, files), files=files)


def load_audit_run(path: str | Path, *, _verified: tuple | None = None) -> AuditRun:
    _, folder, record = _verified or _checked(path)
    files = frozenset(record["files"])
    summary = read_record_file(AuditSummary, _read_json(folder / "audit.json"), folder / "audit.json")
    return AuditRun(folder, summary, _manifest(folder, files), files=files)


def load_diagnose_run(path: str | Path, *, _verified: tuple | None = None) -> DiagnoseRun:
    _, folder, record = _verified or _checked(path)
    files = frozenset(record["files"])
    summary = read_record_file(DiagnoseSummary, _read_json(folder / "diagnose.json"), folder / "diagnose.json")
    return DiagnoseRun(folder, summary, _manifest(folder, files), files=files)


_LOADERS = {"cam": load_cam_run, "training": load_training_run, "evaluation": load_evaluation_run,
            "audit": load_audit_run, "diagnose": load_diagnose_run}


def load_run(path: str | Path) -> Run:
    """The run in ``path``, whatever its kind (see ``run_kind``); its files verified once."""
    verified = _checked(path)
    return _LOADERS[verified[0]](path, _verified=verified)


def load_cam_runs(paths: list[str | Path], flags: list[str]) -> list[CamRun]:
    """Load CAM runs; a folder of another kind is refused, naming the flag that passed it."""
    runs = []
    for path, flag in zip(paths, flags):
        verified = _checked(path)
        if verified[0] != "cam":
            raise ValueError(f"{flag} {path} is a {verified[0]} run, not a CAM run; run aigc_explain.cam on its "
                             "checkpoint and pass that folder")
        runs.append(load_cam_run(path, _verified=verified))
    return runs

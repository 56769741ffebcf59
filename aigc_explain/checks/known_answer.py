"""The planted known-answer benchmark of the whole measuring chain (data → training → CAM → regions →
statistics): a dataset whose fakes differ from the reals only by a faint artifact planted in the corners or
the centre (``synth.planted``), a small detector trained on it, and the fakes' corner_share for every method
× layer asked for, checked against the known answer."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from aigc_explain.core.checkpoint import load_detector
from aigc_explain.core.experiments import TrainConfig
from aigc_explain.core.images import describe_preprocessing
from aigc_explain.core.inference import resolve_device
from aigc_explain.core.models import build_detector
from aigc_explain.core.training import fit
from aigc_explain.explain.folder import CamSettings, explain_folder
from aigc_explain.explain.layers import auto_layer, block_names, list_layers, resolve_layer
from aigc_explain.explain.methods import method_names
from aigc_explain.runs.check_summaries import PLANTED_SCHEMA_VERSION, PlantedRow, PlantedSummary
from aigc_explain.runs.files import sha256_file, write_csv, write_json, write_manifest, write_text
from aigc_explain.runs.summaries import Interval
from aigc_explain.synth.planted import PlantSpec, build_planted_dataset, known_answer, meets_known_answer

log = logging.getLogger(__name__)

DEFAULT_METHODS = ("gradcam", "gradcam++")
MASS_KEYS = ("corner_share", "corner_mass", "center_mass", "border_mass")
MIN_VAL_ACC = 0.9  # below this the detector has not learned the plant, so its CAMs answer nothing
CRITERION = (f"the detector learned the plant (val accuracy >= {MIN_VAL_ACC}) and the 95% bootstrap CI of the "
             f"fakes' mean corner_share lies entirely on the expected side of 0.5")
CSV_COLUMNS = ("method", "layer", "layer_name", "map_h", "map_w", "n", "n_empty", "fake_recall",
               *(f"{k}{s}" for k in MASS_KEYS for s in ("", "_lo", "_hi")), "passes")


@dataclass(frozen=True)
class PlantedConfig:
    region: str
    out: str
    model: str = "mobilenet_v2"
    weights: str = "imagenet"
    image_size: int = 160
    n_train: int = 400
    n_val: int = 100
    epochs: int = 3
    batch_size: int = 32
    lr: float = 1e-3  # at the report's 1e-4 MobileNetV2 had not learned a faint plant in 2 epochs (96 px)
    strength: int = 8
    content: str = "shapes"
    methods: tuple[str, ...] = DEFAULT_METHODS
    layers: tuple[str, ...] | None = None  # None: "auto" plus the earlier layers of default_layers
    corner_frac: float = 0.25
    center_frac: float = 0.5
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.region not in ("corner", "center"):
            raise ValueError(f"--region {self.region!r} must be one of corner, center")
        for name in ("image_size", "n_train", "n_val", "epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"--lr must be > 0, got {self.lr}")


def csv_row(row: PlantedRow) -> list[Any]:
    """One line of planted.csv (``CSV_COLUMNS``)."""
    values = [row.method, row.layer, row.layer_name, *row.map_size, row.n, row.n_empty, row.fake_recall]
    for key in MASS_KEYS:
        values += [row.masses[key].mean, *row.masses[key].ci95]
    return [*values, row.passes]


@dataclass(kw_only=True)
class PlantedReport:
    config: PlantedConfig
    expected: str
    rows: list[PlantedRow]
    best_val_acc: float
    detector: dict[str, Any]  # Detector.config() of the trained model
    dataset: dict[str, Any]
    seconds: dict[str, float]
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> PlantedSummary:
        """planted.json."""
        return PlantedSummary(schema_version=PLANTED_SCHEMA_VERSION, benchmark="planted", region=self.config.region,
                              expected=self.expected, criterion=CRITERION, all_pass=all(r.passes for r in self.rows),
                              best_val_acc=self.best_val_acc, rows=list(self.rows), detector=self.detector,
                              dataset=self.dataset, config=asdict(self.config), seconds=self.seconds,
                              warnings=list(self.warnings))


def default_layers(backbone: Any, image_size: int) -> list[str]:
    """"auto" plus the last block and, where they exist, the layers whose map is 2× and 4× as large as the last
    block's — these named as the last among the shallowest modules of that grid (a whole stage or block such as
    ``layer3`` or ``features.13``, not a convolution inside the next block that has yet to down-sample) —
    leaving out the one that is the auto layer itself."""
    grids = list_layers(backbone, image_size)
    auto = auto_layer(backbone, image_size, grids=dict(grids)).layer
    blocks = [b for b in block_names(backbone) if b in dict(grids)]
    last_grid = dict(grids).get(blocks[-1]) if blocks else dict(grids).get(auto)
    if last_grid is None:
        return ["auto"]
    auto_grid = dict(grids).get(auto)
    layers = [blocks[-1]] if blocks and blocks[-1] != auto else []
    for factor in (2, 4):
        want = (last_grid[0] * factor, last_grid[1] * factor)
        matches = [name for name, grid in grids if grid == want]
        if matches and want != auto_grid:
            depth = min(name.count(".") for name in matches)
            layers.append([name for name in matches if name.count(".") == depth][-1])
    return ["auto", *layers]


def check_request(cfg: PlantedConfig) -> list[str]:
    """Check plant, methods and layers (on an untrained model) before any data or training; returns the layers."""
    PlantSpec(region=cfg.region, size=cfg.image_size, strength=cfg.strength, corner_frac=cfg.corner_frac,
              center_frac=cfg.center_frac)
    unknown = [m for m in cfg.methods if str(m).lower() not in method_names()]  # any case, as CamSettings takes
    if unknown or not cfg.methods:
        raise ValueError(f"--methods {','.join(cfg.methods)!r}: unknown {', '.join(unknown) or 'empty list'}; "
                         f"use some of: {', '.join(method_names())}")
    backbone = build_detector(cfg.model, weights="none", image_size=cfg.image_size).backbone
    layers = list(cfg.layers) if cfg.layers else default_layers(backbone, cfg.image_size)
    for layer in layers:
        try:
            resolve_layer(backbone, layer, image_size=cfg.image_size)
        except ValueError as exc:
            raise ValueError(f"--layers: {exc}") from None
    return layers


def measure(detector: Any, folder: Path, method: str, layer: str, cfg: PlantedConfig, *, learned: bool = True,
            progress: bool = False) -> tuple[PlantedRow, list[str]]:
    """CAMs of the fakes in ``folder`` (target "fake") for one method × layer, as a row plus its warnings."""
    settings = CamSettings(method=method, target="fake", layer=layer, batch_size=cfg.batch_size,
                           corner_frac=cfg.corner_frac, center_frac=cfg.center_frac)
    result = explain_folder(detector, folder, settings, device=resolve_device(cfg.device), progress=progress)
    summary = result.summary(seed=cfg.seed)
    group = summary.group("fake") or summary.groups["all"]
    masses: dict[str, Interval] = {k: group.mass(k) for k in MASS_KEYS}
    # an unlearned detector's CAMs carry their own corner bias, so they never pass
    ok = learned and meets_known_answer(cfg.region, masses["corner_share"].ci95)
    row = PlantedRow(method=settings.method, layer=layer, layer_name=result.layer_name, map_size=tuple(result.map_size),
                     n=group.n, n_empty=group.n_empty, fake_recall=summary.accuracy, masses=masses, passes=ok)
    return row, result.warnings


def _train(cfg: PlantedConfig, out: Path, progress: bool) -> Any:
    return fit(TrainConfig(data=str(out / "data"), out=str(out / "train"), model=cfg.model, augment="none",
                           loss="bce", epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr,
                           image_size=cfg.image_size, weights=cfg.weights, seed=cfg.seed, device=cfg.device),
               progress=progress)


def run_planted(cfg: PlantedConfig, out: Path, *, progress: bool = False) -> PlantedReport:
    """Build the planted dataset in OUT/data, train into OUT/train, measure every method × layer
    (``out``: the open run folder)."""
    layers = check_request(cfg)
    start = time.perf_counter()
    dataset = build_planted_dataset(out / "data", region=cfg.region, n_train=cfg.n_train, n_val=cfg.n_val,
                                    size=cfg.image_size, seed=cfg.seed, strength=cfg.strength,
                                    corner_frac=cfg.corner_frac, center_frac=cfg.center_frac, content=cfg.content)
    seconds = {"data": time.perf_counter() - start}
    trained = _train(cfg, out, progress)
    seconds["train"] = time.perf_counter() - start - sum(seconds.values())
    learned = trained.best_val_acc >= MIN_VAL_ACC
    warnings = [] if learned else [f"the detector reached only {trained.best_val_acc:.3f} val accuracy: it has not "
                                   f"learned the plant, so no row passes; raise --epochs, --lr or --strength"]
    for w in warnings:
        log.warning(w)
    detector, rows = load_detector(out / "train" / "best_model.pth"), []
    for method in cfg.methods:
        for layer in layers:
            row, found = measure(detector, out / "data" / "val" / "1_fake", method, layer, cfg, learned=learned,
                                 progress=progress)
            rows.append(row)
            warnings += [w for w in found if w not in warnings]
    seconds["cam"] = time.perf_counter() - start - sum(seconds.values())
    return PlantedReport(config=cfg, expected=known_answer(cfg.region), rows=rows, best_val_acc=trained.best_val_acc,
                         detector=detector.config(), dataset=dataset, seconds={k: round(v, 2) for k, v in seconds.items()},
                         warnings=warnings)


def _cell(stat: Interval) -> str:
    if stat.mean is None:
        return "–"
    lo, hi = stat.ci95
    return f"{stat.mean:.2f} [{lo:.2f}, {hi:.2f}]"


def markdown_table(rows: list[PlantedRow]) -> str:
    """One line per method × layer: corner_share and masses of the fakes with 95% CIs."""
    lines = ["| method | layer | map | corner_share [95% CI] | corner mass | centre mass | border mass | empty "
             "| fake recall | passes |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        name = r.layer_name if r.layer == r.layer_name else f"{r.layer} ({r.layer_name})"
        recall = "–" if r.fake_recall is None else f"{r.fake_recall:.2f}"
        lines.append(f"| {r.method} | {name} | {r.map_size[0]}x{r.map_size[1]} | {_cell(r.masses['corner_share'])} "
                     f"| {_cell(r.masses['corner_mass'])} | {_cell(r.masses['center_mass'])} "
                     f"| {_cell(r.masses['border_mass'])} | {r.n_empty}/{r.n} | {recall} "
                     f"| {'yes' if r.passes else 'NO'} |")
    return "\n".join(lines) + "\n"


def write_report(report: PlantedReport, *, out: Path) -> None:
    """``planted.csv``, ``planted.md``, ``planted.json`` and ``manifest.json`` in the run folder."""
    cfg = report.config
    write_csv(out / "planted.csv", CSV_COLUMNS, [csv_row(r) for r in report.rows])
    head = (f"# Planted-artifact benchmark: {cfg.region} plant, {cfg.model} ({cfg.weights}) at {cfg.image_size} px\n\n"
            f"Expected: {report.expected} ({CRITERION}). Detector val accuracy {report.best_val_acc:.3f}; "
            f"{cfg.n_val} validation fakes explained (target fake).\n\n")
    notes = "".join(f"\n- {w}" for w in report.warnings)
    write_text(out / "planted.md", head + markdown_table(report.rows) + (f"\nWarnings:{notes}\n" if notes else ""))
    write_json(out / "planted.json", report.summary().to_json())
    ckpt = out / "train" / "best_model.pth"
    det = report.detector
    write_manifest(out, command="benchmark planted", arguments=asdict(cfg), seed=cfg.seed, dataset=report.dataset,
                   checkpoint_sha256=sha256_file(ckpt) if ckpt.is_file() else None, detector=det,
                   preprocessing=describe_preprocessing(det["image_size"], tuple(det["mean"]), tuple(det["std"])))



"""Fixtures of the reporting tests: CAM run folders made by hand, with chosen values."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from aigc_explain.runs.contract import CSV_COLUMNS
from aigc_explain.runs.folders import mark_complete


def _groups(shares: dict[str, list[float]], probs: dict[str, float]) -> dict:
    """summary.json's groups for these per-image corner shares (masses as the rows say)."""
    from aigc_explain.analysis.stats import summarize

    members = {"all": [v for vs in shares.values() for v in vs], **shares,
               "pred_real": [v for k, vs in shares.items() if probs[k] < 0.5 for v in vs],
               "pred_fake": [v for k, vs in shares.items() if probs[k] >= 0.5 for v in vs]}
    out = {}
    for group, values in members.items():
        if not values:
            continue
        v = np.asarray(values, dtype=np.float64)
        out[group] = {"n": len(v), "n_empty": int((~np.isfinite(v)).sum()),
                      **{key: summarize(m, n_boot=50).to_json() for key, m in (("corner_mass", v / 2), ("center_mass", (1 - v) / 2),
                                                                    ("border_mass", v / 4), ("corner_share", v))}}
    return out


def _make_cam_run(folder: Path, shares: dict[str, list[float]], *, size: int = 16, peak: tuple[int, int] = (0, 0),
                 probs: dict[str, float] | None = None, layer: str = "layer2", map_size: tuple[int, int] = (4, 4),
                 prefix: str = "/img") -> Path:
    """A CAM run folder by hand: per class the corner shares (NaN = blank map), masses derived from
    them, mean maps with all mass on ``peak`` (class real) or spread evenly (fake)."""
    folder.mkdir(parents=True)
    probs = probs or {"real": 0.2, "fake": 0.9}
    rows = []
    for label, values in shares.items():
        for i, v in enumerate(values):
            empty = not np.isfinite(v)
            masses = ["nan"] * 4 if empty else [repr(v / 2), repr((1 - v) / 2), repr(v / 4), repr(v)]
            pred = "fake" if probs[label] >= 0.5 else "real"
            rows.append([f"{prefix}/{label}/{i}.png", label, repr(probs[label]), pred, str(empty)] + masses)
    with open(folder / "per_image.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([list(CSV_COLUMNS)] + rows)
    spike = np.zeros((size, size))
    spike[peak] = 1.0
    maps = {"real": spike, "fake": np.full((size, size), 1.0 / size**2)}
    maps["all"] = (maps["real"] + maps["fake"]) / 2
    for group, m in maps.items():
        np.save(folder / f"mean_cam_{group}.npy", m)
    summary = {"schema_version": 1, "groups": _groups(shares, probs), "n_images": len(rows), "n_skipped": 0,
               "accuracy": None, "method": "gradcam", "target": "fake", "layer": layer, "map_size": list(map_size),
               "input_size": [size, size], "regions": {"corner_frac": 0.25, "center_frac": 0.5, "border_frac": 0.125}}
    (folder / "summary.json").write_text(json.dumps(summary))
    mark_complete(folder, "cam")  # as the cam command does last
    return folder


@pytest.fixture(scope="session")
def make_cam_run():
    """``make_cam_run(folder, shares, size=16, peak=(0, 0), probs=None, layer="layer2", map_size=(4, 4),
    prefix="/img")``: a complete CAM run folder (images named ``<prefix>/<label>/<i>.png``)."""
    return _make_cam_run

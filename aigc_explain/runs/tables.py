"""The csv tables of run folders: columns as strings, then numbers and labels checked as they are parsed.
Standard library + numpy."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aigc_explain.runs.contract import LABEL_VALUES
from aigc_explain.runs.files import open_text
from aigc_explain.runs.validate import bad, in_range


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


def read_csv_columns(path: str | Path, required: tuple[str, ...]) -> dict[str, list[str]]:
    """Columns of a csv as lists of strings; names the missing columns when the header lacks them."""
    with open_text(path) as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path} lacks column(s) {', '.join(missing)}; expected {', '.join(required)}")
        try:
            rows = list(reader)
        except csv.Error as exc:
            raise bad(path, f"is not a readable csv ({exc})") from None
    if any(None in r or any(v is None for v in r.values()) for r in rows):
        raise bad(path, "has rows with a different number of fields than its header")
    return {c: [r[c] for r in rows] for c in (reader.fieldnames or [])}


def floats(values: list[str], path: Path | str = "a run file", column: str = "") -> np.ndarray:
    try:
        return np.array([float(v) if v not in ("", "None") else np.nan for v in values], dtype=np.float64)
    except ValueError as exc:
        raise ValueError(f"{path} column {column} holds a value that is not a number ({exc}); re-run its command") \
            from None


def labels(values: list[str], path: Path, column: str) -> np.ndarray:
    bad_values = sorted({v for v in values if v not in LABEL_VALUES})
    if bad_values:
        raise ValueError(f"{path} column {column} holds {bad_values[:3]}; expected real, fake or unknown")
    return np.array([LABEL_VALUES[v] for v in values], dtype=np.int64)


def prediction_table(cols: dict[str, list[str]], path: Path) -> PredictionTable:
    prob = in_range(floats(cols["prob_fake"], path, "prob_fake"), path, "prob_fake", 0.0, 1.0)
    return PredictionTable(list(cols["path"]), labels(cols["label"], path, "label"), prob,
                           labels(cols["pred"], path, "pred"))

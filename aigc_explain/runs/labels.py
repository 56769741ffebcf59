"""Which runs belong together and what to call them: the training run behind an evaluation or CAM run, run
labels for tables and file names. Standard library only."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from aigc_explain.runs.files import sha256_file


def checkpoint_folder(run: Any) -> Path | None:
    """The folder of the checkpoint a CAM or evaluation run explained (its training run, if ours)."""
    ckpt = ((run.manifest or {}).get("arguments") or {}).get("ckpt")
    return Path(ckpt).resolve().parent if ckpt else None


def checkpoint_owners(runs: dict[str, Any]) -> dict[str, str]:
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

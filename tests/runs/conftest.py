"""Fixtures of the run-folder tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def legacy_cam_folder():
    """``legacy_cam_folder(path)``: a CAM run folder as aigc_explain 0.1.0 left it (a manifest, no record)."""
    def make(path: Path) -> Path:
        path.mkdir()
        (path / "manifest.json").write_text(json.dumps({"schema_version": 1, "command": "cam",
                                                        "versions": {"aigc_explain": "0.1.0"}}))
        (path / "summary.json").write_text("{}")
        return path
    return make

"""The audit's geometry is its own fact, not the data's: 32-px images are audited at 32 px by default (no
enlargement, so no periodic peak of the audit's own up-sampling), and an explicit enlargement over 2x is
stated in audit.json, audit.md, the panels' titles and the fingerprint's sentence."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from aigc_explain.audit import main as audit_main
from aigc_explain.evidence.geometry import choose_geometry
from aigc_explain.runs.audit_summary import AuditSummary, Geometry
from aigc_explain.synth.photos import random_crops

FAST = ["--n-boot", "200", "--n-perm", "99", "--no-progress"]


@pytest.fixture
def tiny(tmp_path: Path, photos, image_io) -> Path:
    """CIFAKE-like 32-px PNGs: reals are photo crops, fakes other crops with a centred bright object."""
    reals = random_crops(photos, 40, size=32, seed=3)
    fakes = random_crops(photos, 40, size=32, seed=4)
    yy, xx = np.indices((32, 32))
    blob = np.exp(-((yy - 15.5) ** 2 + (xx - 15.5) ** 2) / (2 * 8 ** 2)) * 60
    fakes = np.clip(fakes * 0.6 + blob[..., None] + 30, 0, 255).astype(np.uint8)
    image_io.save(tmp_path / "d" / "0_real", reals)
    image_io.save(tmp_path / "d" / "1_fake", fakes)
    return tmp_path / "d"


def test_32_px_images_are_audited_at_native_size_without_an_upsampling_peak(tiny: Path, tmp_path: Path):
    assert audit_main(["--data", str(tiny), "--out", str(tmp_path / "a"), *FAST]) == 0  # default --size 224
    raw = json.loads((tmp_path / "a" / "audit.json").read_text())
    summary = AuditSummary.from_json(raw)
    geometry = summary.geometry
    assert geometry.size == 32 and geometry.n_enlarged == 0 and not geometry.stated
    assert raw["geometry"]["stated"] is False and raw["geometry"]["statement"] == ""
    assert not summary.overall.pixels.fingerprint.periodic_peak
    assert "up-sampling leaves" not in summary.verdict and "enlarged" not in summary.verdict
    assert "The audit enlarged no image." in (tmp_path / "a" / "audit.md").read_text()


def test_an_explicit_enlargement_is_stated_everywhere(tiny: Path, tmp_path: Path):
    out = tmp_path / "b"
    assert audit_main(["--data", str(tiny), "--out", str(out), "--enlarge", *FAST]) == 0
    raw = json.loads((out / "audit.json").read_text())
    summary = AuditSummary.from_json(raw)
    geometry = summary.geometry
    assert geometry.size == 224 and geometry.max_enlargement == 7.0 and geometry.stated
    assert "the audit itself enlarged 80 image(s) to 224 px, up to 7.0x" in geometry.statement()
    assert raw["geometry"]["stated"] is True and raw["geometry"]["statement"] == geometry.statement()  # in the file
    assert "The audit itself enlarged 80 image(s)" in summary.verdict
    assert "The audit itself enlarged 80 image(s)" in (out / "audit.md").read_text()
    peak = summary.overall.pixels.fingerprint
    if peak.periodic_peak:  # the old default's "peak": said to be ours, not the data's
        assert "enlarged alike by the audit" in summary.verdict
    assert peak.compared == "fakes and reals after the same resize"


def test_geometry_rule():
    assert choose_geometry([512] * 3, 224).size == 224 and choose_geometry([512] * 3, 224).n_enlarged == 0
    mixed = choose_geometry([32, 64, 64], 224)
    assert mixed.size == 64 and mixed.n_enlarged == 1 and mixed.max_enlargement == 2.0 and not mixed.stated
    assert choose_geometry([32], 224, enlarge=True).statement().startswith("the audit itself enlarged 1 image(s)")
    assert Geometry.from_json(mixed.to_json()) == mixed and mixed.to_json()["statement"] == mixed.statement()


def test_new_settings_are_checked_in_one_line(tiny: Path, tmp_path: Path, error_line):
    assert audit_main(["--data", str(tiny), "--out", str(tmp_path / "c"), "--n-perm", "5"]) == 2
    assert "--n-perm must be >= 19" in error_line()

"""The audit command with controls built in the test: a format shortcut is found and named, two halves of
the same photos give no shortcut, a planted corner (or centre) pattern is localised by the pixel evidence,
--reencode removes the format cue, bad input is listed, and the report sets the data beside the model."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aigc_explain.audit import main as audit_main
from aigc_explain.evidence.gather import AuditSettings, run_audit
from aigc_explain.runs.audit_summary import AuditSummary, CueAuc, CuePart
from aigc_explain.synth.planted import build_planted_dataset

FAST = ["--size", "32", "--n-boot", "300", "--no-progress"]
KEYS = ("cue_auc", "cue_auc_ci95", "cues", "pixel_corner_share", "pixel_masses", "per_split", "n_images", "verdict")


def _photos(n: int, seed: int = 0, size: int = 32) -> list[np.ndarray]:
    """Smooth random colour fields with mild noise: photo-like, all different."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        low = rng.uniform(30, 220, size=(4, 4, 3)).astype(np.uint8)
        img = np.asarray(Image.fromarray(low).resize((size, size), Image.Resampling.BICUBIC), dtype=np.float64)
        out.append(np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8))
    return out


def _save(folder: Path, images: list[np.ndarray], fmt: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(images):
        Image.fromarray(img).save(folder / f"{i:03d}.{'png' if fmt == 'PNG' else 'jpg'}", format=fmt,
                                  **({"quality": 90} if fmt == "JPEG" else {}))


@pytest.fixture
def format_shortcut(tmp_path: Path) -> Path:
    """The same kind of photos in both classes, but the fakes stored as PNG and the reals as JPEG."""
    root = tmp_path / "shortcut"
    for split, seed in (("train", 0), ("val", 1)):
        _save(root / split / "0_real", _photos(24, seed), "JPEG")
        _save(root / split / "1_fake", _photos(24, seed + 10), "PNG")
    return root


def _audit(data: Path, out: Path, *extra: str) -> AuditSummary:
    """The audit command's audit.json, read back as the typed summary (which checks every key and type)."""
    assert audit_main(["--data", str(data), "--out", str(out), *FAST, *extra]) == 0
    return AuditSummary.from_json(json.loads((out / "audit.json").read_text()))


def test_a_format_shortcut_is_found_and_named(format_shortcut: Path, tmp_path: Path):
    summary = _audit(format_shortcut, tmp_path / "a")
    raw = json.loads((tmp_path / "a" / "audit.json").read_text())
    assert set(KEYS) <= set(raw) and summary.to_json() == raw
    cue = summary.overall.cue
    assert cue.auc > 0.95 and cue.ci95[0] > 0.9
    top = cue.cues[0]
    assert top.auc > 0.95 and top.name in ("format", "bytes_per_pixel", "file_size", "jpeg_quality",
                                           "chroma_subsampling", "mode", "app_segments")
    assert [c.auc for c in cue.cues] == sorted((c.auc for c in cue.cues), reverse=True)
    assert {c.name: c.auc for c in cue.cues}["format"] == 1.0
    assert summary.verdict.startswith("The file cues alone separate the classes")
    assert "--reencode" in summary.verdict
    assert set(summary.per_split) == {"train", "val"} and summary.overall.n_images == 96
    for name in ("audit.md", "cues.csv", "cues.png", "pixel_evidence.png", "fingerprint.png", "pixel_evidence.npz",
                 "skipped.csv", "manifest.json", "budget.png", "mean_images.png"):
        assert (tmp_path / "a" / name).is_file(), name
    rows = list(csv.DictReader((tmp_path / "a" / "cues.csv").read_text().splitlines()))
    assert len(rows) == 96 and {r["format"] for r in rows if r["label"] == "fake"} == {"PNG"}


def test_reencode_removes_the_format_cue(format_shortcut: Path, tmp_path: Path):
    summary = _audit(format_shortcut, tmp_path / "a", "--reencode", "jpeg:90")
    by_name = {c.name: c.auc for c in summary.overall.cue.cues}
    assert by_name["format"] == 0.5 and by_name["jpeg_quality"] == 0.5
    assert summary.settings["reencode"] == "jpeg:90"


def test_two_halves_of_the_same_photos_show_no_shortcut(tmp_path: Path):
    photos = _photos(96, seed=3)
    root = tmp_path / "halves"
    _save(root / "0_real", photos[0::2], "JPEG")
    _save(root / "1_fake", photos[1::2], "JPEG")
    summary = _audit(root, tmp_path / "a")
    lo, hi = summary.overall.cue.ci95
    assert lo < 0.5 < hi or abs(summary.overall.cue.auc - 0.5) < 0.15
    assert "separate the classes (" not in summary.verdict and "better than chance" not in summary.verdict
    assert summary.per_split == {}  # a class folder, not a split root
    assert not summary.overall.pixels.fingerprint.periodic_peak  # same camera, same encoding: no fixed pattern


@pytest.mark.parametrize("region", ["corner", "center"])
def test_a_planted_pattern_is_localised(tmp_path: Path, region: str):
    data = tmp_path / "planted"
    build_planted_dataset(data, region=region, n_train=24, n_val=8, size=32, seed=2, strength=8)
    summary = run_audit(data, AuditSettings(size=32, n_boot=300)).summary
    share = summary.overall.pixels.corner_share
    if region == "corner":
        assert share.ci95[0] > 0.8
        assert "it lies in the corners" in summary.verdict
    else:
        assert share.ci95[1] < 0.2
        assert "it lies in the centre" in summary.verdict
    peak = summary.overall.pixels.fingerprint  # a period-2 checkerboard: a line near Nyquist (the mask blurs it)
    assert peak.periodic_peak and min(abs(f) for f in peak.freq) > 0.4


def test_bad_input_is_listed_or_one_line(format_shortcut: Path, tmp_path: Path, error_line, capsys):
    (format_shortcut / "val" / "1_fake" / "broken.png").write_bytes(b"\x89PNG not really")
    summary = _audit(format_shortcut, tmp_path / "a")
    skipped = list(csv.DictReader((tmp_path / "a" / "skipped.csv").read_text().splitlines()))
    assert [Path(r["path"]).name for r in skipped] == ["broken.png"] and summary.n_skipped == 1
    capsys.readouterr()
    assert audit_main(["--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "b")]) == 2
    assert "does not exist" in error_line()
    assert audit_main(["--data", str(format_shortcut), "--out", str(tmp_path / "c"), "--reencode", "gif"]) == 2
    assert "--reencode 'gif'" in error_line()
    for flag, value, rule in (("--folds", "1", ">= 2"), ("--n-boot", "0", ">= 1")):
        assert audit_main(["--data", str(format_shortcut), "--out", str(tmp_path / "c"), flag, value]) == 2
        assert f"{flag} must be {rule}, got {value}" in error_line()
    with pytest.raises(ValueError, match="--folds must be >= 2"):  # the library refuses it too, not only the CLI
        AuditSettings(folds=1)
    bad = tmp_path / "bad"
    for name in ("0_real", "1_fake"):
        (bad / name).mkdir(parents=True)
        (bad / name / "x.png").write_bytes(b"junk")
    assert audit_main(["--data", str(bad), "--out", str(tmp_path / "d"), *FAST]) == 2
    assert "none of the 2 images" in error_line() and (tmp_path / "d" / "skipped.csv").is_file()


def test_report_sets_the_data_beside_the_model(tmp_path: Path, tiny_ckpt: Path):
    from aigc_explain.cam import main as cam_main
    from aigc_explain.report import main as report_main

    data = tmp_path / "planted"
    build_planted_dataset(data, region="corner", n_train=8, n_val=6, size=32, seed=2, strength=8)
    _audit(data, tmp_path / "audit")
    assert cam_main(["--ckpt", str(tiny_ckpt), "--images", str(data / "val"), "--out", str(tmp_path / "cam"),
                     "--layer", "layer1", "--no-progress", "--overlays", "0"]) == 0
    assert report_main(["--runs", str(tmp_path / "cam"), str(tmp_path / "audit"), "--out", str(tmp_path / "r"),
                        "--n-perm", "100", "--n-boot", "100"]) == 0
    results = json.loads((tmp_path / "r" / "results.json").read_text())
    files = [f["file"] for f in results["figures"]]
    assert any("model_vs_data_cam" in f for f in files) and any("pixel_evidence_audit" in f for f in files)
    note = next(n for n in results["notes"] if "spatial correlation" in n)
    assert "(audit, val)" in note and "Pearson r = " in note


def test_a_size_only_leak_is_called_content_not_storage():
    from aigc_explain.evidence.verdict import cue_sentence

    cues = [CueAuc("file_size", "numeric", 0.51), CueAuc("bytes_per_pixel", "numeric", 0.51),
            CueAuc("format", "categorical", 0.5), CueAuc("jpeg_quality", "numeric", 0.5)]
    cue = CuePart(auc=0.55, ci95=(0.54, 0.57), cues=cues,
                  verdict="the file cues predict the label better than chance (…)")
    assert "content differing rather than the storage" in cue_sentence(cue)
    told = cue.replace(cues=[*cues[:2], CueAuc("format", "categorical", 0.9), cues[3]])  # then it is the storage
    assert cue_sentence(told) == cue.verdict

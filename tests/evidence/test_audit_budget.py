"""The budget — what gives the label away — on known answers built in the test, one per kind, with reals and
fakes drawn from different photos: a storage shortcut (PNG vs JPEG), a history shortcut (q95 once vs q80
then q95, identical final headers; and q80, resized by 0.9, then q95, which hides the first comb from the
final grid), a framing shortcut (the fakes centre-cropped from the photos and re-enlarged to the same size), a
planted residual pattern, and the null (two halves of the same reals)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aigc_explain.evidence.budget import KINDS, kind_budget, top_feature
from aigc_explain.evidence.dct_comb import N_COMB_FEATURES
from aigc_explain.evidence.gather import AuditSettings, run_audit
from aigc_explain.evidence.write import audit_markdown
from aigc_explain.runs.audit_summary import AuditSummary, Budget, BudgetEntry, CueAuc, CuePart
from aigc_explain.synth.photos import random_crops
from aigc_explain.synth.planted import checkerboard

SETTINGS = AuditSettings(n_boot=300)
N, SIZE = 48, 64
SIDE, SMALL = 120, 108  # large enough for the history's scan for a resize (by 0.9 from one to the other)
HEADERS = ("format", "width", "height", "jpeg_quality", "jpeg_standard_tables", "chroma_subsampling", "mode",
           "has_exif", "has_icc", "has_comment", "app_markers")


def _classes(io, root: Path, reals, fakes, fmt: str = "PNG", fake_fmt: str | None = None) -> Path:
    io.save(root / "0_real", reals, fmt)
    io.save(root / "1_fake", fakes, fake_fmt or fmt)
    return root


def _budget(root: Path) -> tuple[dict[str, BudgetEntry], AuditSummary]:
    summary = run_audit(root, SETTINGS).summary
    assert set(json.loads(json.dumps(summary.to_json()))["budget"]) == set(KINDS)
    budget = summary.overall.budget.rows()
    assert set(budget) == set(KINDS)
    assert all(isinstance(b, BudgetEntry) and b.top for b in budget.values())
    return budget, summary


def _largest(budget: dict[str, BudgetEntry]) -> str:
    return max(budget, key=lambda k: budget[k].auc)


@pytest.fixture
def crops(photos):
    return random_crops(photos, N, size=SIZE, seed=0), random_crops(photos, N, size=SIZE, seed=1000)


def test_storage_shortcut(tmp_path, crops, image_io):
    budget, summary = _budget(_classes(image_io, tmp_path / "d", *crops, fmt="JPEG", fake_fmt="PNG"))
    assert budget["storage"].auc == 1.0 and budget["storage"].top == "format"
    assert "to remove it, re-encode both classes identically (--reencode jpeg:95)" in summary.verdict


@pytest.mark.parametrize("side", [SIZE, SIDE])  # too small to scan for a resize; scanned, none found
def test_history_shortcut_with_identical_headers(tmp_path, photos, image_io, side):
    reals, fakes = random_crops(photos, N, size=side, seed=0), random_crops(photos, N, size=side, seed=1000)
    root = tmp_path / "d"
    (root / "1_fake").mkdir(parents=True)
    image_io.save(root / "0_real", reals, "JPEG", quality=95)  # saved once at q95
    for i, img in enumerate(fakes):  # q80 first, then q95: the same final tables, size and markers
        once = image_io.decode(image_io.jpeg_bytes(img, 80))
        (root / "1_fake" / f"{i:03d}.jpg").write_bytes(image_io.jpeg_bytes(once, 95))
    budget, summary = _budget(root)
    cues = {c.name: c.auc for c in summary.overall.cue.cues}
    assert all(cues[name] == 0.5 for name in HEADERS)  # the headers alone tell nothing
    assert budget["history"].ci95[0] > 0.8 and budget["history"].top.startswith("dct_comb")
    assert "The processing history (double JPEG compression, resampling) — to remove it" in summary.verdict
    assert not budget["history"].resampling.found and budget["history"].resampling.n_images == (side > SIZE) * 64


def test_history_shortcut_through_a_resize_between_the_saves(tmp_path, photos, image_io):
    """The fakes saved at q80, resized by 0.9 and saved at q95, the reals saved once at q95 at the same final
    size: the first grid now lies on a 7.2-px lattice, so its comb is gone from the final grid; the history
    reads it after undoing the resize that the label-free scan found."""
    reals, fakes = random_crops(photos, N, size=SMALL, seed=0), random_crops(photos, N, size=SIDE, seed=1000)
    root = tmp_path / "d"
    image_io.save(root / "0_real", reals, "JPEG", quality=95)
    (root / "1_fake").mkdir(parents=True)
    for i, img in enumerate(fakes):
        first = Image.fromarray(image_io.decode(image_io.jpeg_bytes(img, 80)))
        smaller = np.asarray(first.resize((SMALL, SMALL), Image.Resampling.BICUBIC))
        (root / "1_fake" / f"{i:03d}.jpg").write_bytes(image_io.jpeg_bytes(smaller, 95))
    result = run_audit(root, SETTINGS)
    budget, summary = result.summary.overall.budget.rows(), result.summary
    cues = {c.name: c.auc for c in summary.overall.cue.cues}
    assert all(cues[name] == 0.5 for name in HEADERS) and budget["storage"].ci95[0] < 0.5  # the file tells nothing
    history = budget["history"]
    assert history.auc >= 0.8 and history.ci95[0] > 0.7 and history.top.startswith("resampled_dct_comb")
    assert history.resampling.found and history.resampling.factor == pytest.approx(SMALL / SIDE, abs=0.002)
    kind = result.evidence["all"].kind("history")  # the naive read, on the final grid alone, barely tells
    native = len(kind.names()) - N_COMB_FEATURES
    naive = kind_budget(np.stack(kind.rows)[:, :native], np.array(kind.labels), kind.names()[:native], folds=5,
                        seed=0, n_boot=300)
    assert naive.auc < 0.75 and naive.ci95[0] < 0.6
    assert "history AUC" in summary.verdict and "a resize by 0.900 between two JPEG saves" in summary.verdict
    assert "| history (a resize by 0.900 between two JPEG saves" in audit_markdown(summary)
    data = json.loads(json.dumps(summary.to_json()))
    assert data["budget"]["history"]["resampling"]["factor"] == history.resampling.factor
    assert AuditSummary.from_json(data) == summary


def test_framing_shortcut(tmp_path, photos, crops, image_io):
    rng = np.random.default_rng(1)
    framed = []
    for i in range(N):  # every fake is the middle of its photo, as aligned faces are, re-enlarged to SIZE
        p = photos[i % len(photos)]
        h, w = p.shape[:2]
        side = int(min(h, w) * rng.uniform(0.45, 0.55))
        y, x = (h - side) // 2 + int(rng.integers(-8, 9)), (w - side) // 2 + int(rng.integers(-8, 9))
        framed.append(np.asarray(Image.fromarray(p[y:y + side, x:x + side]).resize((SIZE, SIZE),
                                                                                   Image.Resampling.BICUBIC)))
    budget, summary = _budget(_classes(image_io, tmp_path / "d", crops[0], np.stack(framed)))
    assert budget["content"].ci95[0] > 0.9  # the re-enlargement blurs the residual too: both rows are high
    assert budget["content"].top.startswith(("thumb", "colour", "luma", "saturation"))
    assert "The framing, composition and colour" in summary.verdict and "matched dataset" in summary.verdict


def test_planted_residual_pattern(tmp_path, crops, image_io):
    reals, fakes = crops
    fakes = np.clip(fakes.astype(int) + 3 * checkerboard(SIZE, SIZE)[..., None], 0, 255).astype(np.uint8)
    budget, _ = _budget(_classes(image_io, tmp_path / "d", reals, fakes))
    assert _largest(budget) == "residual" and budget["residual"].auc > 0.97
    assert budget["residual"].top.startswith("residual_")
    assert budget["content"].ci95[0] < 0.5  # a ±3 checkerboard is invisible to thumbnails


@pytest.mark.parametrize(("fmt", "side"), [("PNG", SIZE), ("JPEG", SIDE)])  # the second scanned for a resize
def test_null_two_halves_of_the_same_reals(tmp_path, photos, image_io, fmt, side):
    reals = random_crops(photos, 2 * N, size=side, seed=0)
    budget, summary = _budget(_classes(image_io, tmp_path / "d", reals[0::2], reals[1::2], fmt))
    for kind, b in budget.items():
        assert b.ci95[0] < 0.5 and b.auc < 0.6, kind  # nothing beyond chance (cross-validation on few images
        # can land below 0.5: a fold's classifier learns the other folds' noise)
    assert "to remove it" not in summary.verdict and "a resize by" not in summary.verdict
    assert not budget["history"].resampling.found  # no resize: the resampled columns stay constant


def test_top_feature_is_the_separating_column():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 50)
    X = rng.normal(size=(100, 5))
    X[:, 3] -= 3.0 * y  # orientation-free: a column lower in the fakes counts as much
    name, auc = top_feature(X, y, list("abcde"))
    assert name == "d" and auc > 0.9


def test_the_verdict_orders_the_kinds_and_calls_a_size_only_leak_content():
    from aigc_explain.evidence.budget import budget_sentence, storage_budget

    cues = CuePart(auc=0.55, ci95=(0.54, 0.57),
                   cues=[CueAuc("file_size", "numeric", 0.51), CueAuc("format", "categorical", 0.5)])
    budget = Budget(storage=storage_budget(cues),
                    history=BudgetEntry(0.75, (0.74, 0.76), "resampling_y_band4", 0.7, 31),
                    content=BudgetEntry(0.90, (0.89, 0.91), "thumb16[0,0].r", 0.8, 970),
                    residual=BudgetEntry(0.52, (0.45, 0.60), "residual_log_p99", 0.55, 44))
    text = budget_sentence(budget)
    assert [text.index(k) for k in ("content AUC", "history AUC", "storage AUC", "residual AUC")] == sorted(
        text.index(k) for k in ("content AUC", "history AUC", "storage AUC", "residual AUC"))
    assert budget.storage.size_only and "the file size only: the content's detail, not the storage" in text
    assert budget.storage == BudgetEntry(0.55, (0.54, 0.57), "file_size", 0.51, 2, size_only=True)
    assert "--reencode" not in text and "high-frequency noise residual" not in text  # nothing to remove there
    assert "The framing, composition and colour" in text and "The processing history" in text

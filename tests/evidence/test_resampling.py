"""The resize between two JPEG saves (``evidence.resampling``) and the comb read after undoing it
(``evidence.dct_comb``), on known answers built in the test: crops saved at q80, resized by 0.9 and saved again
at q95 lose their first comb on the final grid (the naive read finds none) and show it once 0.9 is undone;
crops saved once, twice without a resize, or never compressed have no resize to find."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
from PIL import Image

from aigc_explain.analysis.spectra import to_gray
from aigc_explain.evidence.budget import top_feature
from aigc_explain.evidence.dct_comb import (N_COMB_FEATURES, block_coefficients, comb_score, dct_histograms,
                                            undone_coefficients)
from aigc_explain.evidence.features import history_features, history_names
from aigc_explain.evidence.gather import AuditSettings, gather
from aigc_explain.evidence.kinds import Context, FileCueKind, HistoryKind
from aigc_explain.evidence.resampling import Z_FOUND, scan_resampling
from aigc_explain.runs.audit_summary import BudgetEntry, ResamplingScan
from aigc_explain.synth.photos import random_crops

SIDE, SMALL = 120, 108  # a resize by exactly 0.9
FOUND = ResamplingScan(factor=0.9, found=True, best=0.9, z=12.0, z_needed=Z_FOUND, n_images=64, factors=(0.5, 0.97),
                       n_factors=340, method="a scan")


def _saved(image_io, images, *qualities: int) -> list[np.ndarray]:
    out = []
    for img in images:
        for q in qualities:
            img = image_io.decode(image_io.jpeg_bytes(img, q))
        out.append(img)
    return out


def _resized_between_saves(image_io, photos, n: int, seed: int) -> list[np.ndarray]:
    first = _saved(image_io, random_crops(photos, n, size=SIDE, seed=seed), 80)
    return _saved(image_io, [np.asarray(Image.fromarray(f).resize((SMALL, SMALL), Image.Resampling.BICUBIC))
                             for f in first], 95)


def _pooled(images: list[np.ndarray], factor: float | None = None) -> float:
    read = (lambda g: block_coefficients(g)) if factor is None else (
        lambda g: undone_coefficients(g, factor, side=256))
    return comb_score(dct_histograms(np.concatenate([read(to_gray(im)) for im in images])))


def test_the_interpolation_is_pils_bicubic(photos):
    """The matrices fold Keys' cubic in as PIL's resize does (box-exact, pixel centres); only edges differ."""
    for factor in (0.9, 0.63):
        for img in random_crops(photos, 4, size=SIDE, seed=5):
            g = to_gray(img)
            w, h = (int(n / factor) // 8 * 8 for n in g.shape[::-1])
            big = Image.fromarray(g.astype(np.float32), mode="F").resize((w, h), Image.Resampling.BICUBIC,
                                                                         box=(0, 0, w * factor, h * factor))
            same = block_coefficients(np.asarray(big, np.float64)) == undone_coefficients(g, factor, side=10 ** 6)
            assert same.mean() > 0.95, factor


def test_the_scan_finds_the_resize_that_hides_the_first_comb(photos, image_io):
    reals = _saved(image_io, random_crops(photos, 32, size=SMALL, seed=0), 95)
    fakes = _resized_between_saves(image_io, photos, 32, seed=1000)
    assert _pooled(fakes) < 0.5 and abs(_pooled(fakes) - _pooled(reals)) < 0.2  # the naive read: no comb
    scan = scan_resampling(reals + fakes)
    assert scan.found and scan.z > Z_FOUND and scan.factor == pytest.approx(0.9, abs=0.002)
    assert scan.n_images == 64 and scan.factors == (0.5, 0.97) and "label-free" in scan.method
    assert _pooled(fakes, scan.factor) > 1.0 > 0.5 > _pooled(reals, scan.factor)  # undone: the q80 comb is back
    rows, y, names = np.stack([history_features(im, resampled=scan.factor) for im in reals + fakes]), \
        np.repeat([0, 1], 32), history_names(resampled=True)
    extra = len(names) - N_COMB_FEATURES  # the columns read after undoing the resize come last
    assert top_feature(rows[:, :extra], y, names[:extra])[1] < 0.75  # per image, the native columns barely tell
    name, auc = top_feature(rows[:, extra:], y, names[extra:])
    assert name.startswith("resampled_dct_comb") and auc > 0.85


@pytest.mark.parametrize("history", ["q95 once", "q80 then q95", "never compressed"])
def test_the_scan_finds_nothing_without_a_resize(photos, image_io, history):
    crops = random_crops(photos, 64, size=SIDE, seed=7)
    images = {"q95 once": lambda: _saved(image_io, crops, 95), "q80 then q95": lambda: _saved(image_io, crops, 80, 95),
              "never compressed": lambda: list(crops)}[history]()
    scan = scan_resampling(images)
    assert not scan.found and scan.factor is None and scan.z < Z_FOUND and scan.n_images == 64
    kind = HistoryKind(Context(AuditSettings(), 32, 2, calibration={"history": scan}))
    assert len(kind.image_features(images[0])) == len(kind.names()) == len(history_names())  # nothing added
    assert not any(name.startswith("resampled") for name in kind.names())
    assert np.isnan(kind.state_dict()["resampling_factor"])


def test_pictures_too_small_are_not_scanned(photos):
    scan = scan_resampling(list(random_crops(photos, 16, size=64, seed=1)))
    assert (scan.found, scan.factor, scan.z, scan.n_images, scan.n_factors) == (False, None, None, 0, 0)


def test_history_kinds_that_undid_different_factors_refuse_to_merge():
    ctx = Context(AuditSettings(), 32, 2)
    undid, plain = HistoryKind(dataclasses.replace(ctx, calibration={"history": FOUND})), HistoryKind(ctx)
    assert undid.factor == 0.9 and plain.factor is None and undid.state_dict()["resampling_factor"] == 0.9
    with pytest.raises(ValueError, match=re.escape("other read its history with no resize undone but this one with "
                                                   "a resize by 0.9000 undone; gather the shards of one audit with "
                                                   "one calibration (the same Context.calibration)")):
        undid.merge(plain)
    undid.merge(HistoryKind(dataclasses.replace(ctx, calibration={"history": FOUND})))  # the same factor merges


def test_the_scan_travels_in_the_history_row_of_audit_json():
    entry = BudgetEntry(0.97, (0.95, 1.0), "resampled_dct_comb6@20", 0.95, 105, resampling=FOUND)
    data = entry.to_json()
    assert list(data)[-1] == "resampling" and data["resampling"]["factor"] == 0.9
    assert BudgetEntry.from_json(data) == entry
    assert "resampling" not in BudgetEntry(0.5, (0.4, 0.6), "x", 0.5, 1).to_json()  # older rows: unchanged


class Peek:
    """A toy kind that looks at the data before the pass: records what it was shown."""
    name = "peek"
    shown: list[list[np.ndarray]] = []

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def calibrate(self, images) -> ResamplingScan:
        Peek.shown.append(list(images))
        return dataclasses.replace(FOUND, n_images=len(Peek.shown[-1]))

    def add(self, batch) -> None: ...

    def merge(self, other) -> None: ...

    def state_dict(self) -> dict[str, np.ndarray]:
        return {}

    def summary(self) -> None:
        return None

    def maps(self) -> dict[str, np.ndarray]:
        return {}


def test_gather_calibrates_once_on_a_seeded_sample_and_every_kind_sees_it(photo_classes):
    root = photo_classes(n=40, size=96)
    Peek.shown = []
    evidence, _, _ = gather(root, AuditSettings(seed=3), kinds=(FileCueKind, Peek))
    assert len(Peek.shown) == 1 and len(Peek.shown[0]) == 64  # 64 of the 80 images, once per audit
    assert all(im.shape == (96, 96, 3) and im.dtype == np.uint8 for im in Peek.shown[0])  # native size
    assert all(ev.kind("peek").ctx.calibration["peek"].n_images == 64 for ev in evidence.values())
    gather(root, AuditSettings(seed=3), kinds=(FileCueKind, Peek))
    gather(root, AuditSettings(seed=4), kinds=(FileCueKind, Peek))
    first, again, other = (np.stack(s) for s in Peek.shown)
    assert np.array_equal(first, again) and not np.array_equal(first, other)  # seeded


def test_calibration_sees_the_pixels_the_pass_sees_re_encoded_too(photo_classes):
    """Under ``--reencode`` the sample is read as the pass reads it: re-encoded, at native size."""
    from aigc_explain.core.images import Reencode, read_rgb

    root = photo_classes(n=8, size=96)
    Peek.shown = []
    gather(root, AuditSettings(seed=3, reencode="jpeg:50"), kinds=(FileCueKind, Peek))
    gather(root, AuditSettings(seed=3), kinds=(FileCueKind, Peek))
    reencoded, plain = Peek.shown
    assert len(reencoded) == len(plain) == 16
    paths = sorted(root.rglob("*.png"))
    codec = Reencode.parse("jpeg:50")
    expected = {read_rgb(p).tobytes(): codec.decode_rgb(codec.encode(read_rgb(p))).tobytes() for p in paths}
    assert {im.tobytes() for im in plain} == set(expected)  # the files' own pixels
    assert {im.tobytes() for im in reencoded} == set(expected.values())  # their q50 re-encodings


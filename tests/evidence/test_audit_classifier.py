"""Cue classifier: a format shortcut is found, a null split is not, edge cases are handled."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from PIL import Image

from aigc_explain.evidence.classifier import (
    auc,
    bootstrap_auc_interval,
    cue_auc,
    cue_matrix,
    out_of_fold_scores,
    shortcut_verdict,
    single_cue_aucs,
)
from aigc_explain.evidence.cues import cues_from_bytes
from aigc_explain.runs.audit_summary import CueAuc


def photo(seed: int, size: tuple[int, int] = (32, 48)) -> Image.Image:
    """A smooth colour field plus mild noise, so file sizes vary like photos'."""
    rng = np.random.default_rng(seed)
    h, w = size
    coarse = rng.uniform(0, 255, size=(h // 8 + 1, w // 8 + 1, 3))
    smooth = np.kron(coarse, np.ones((8, 8, 1)))[:h, :w]
    return Image.fromarray(np.clip(smooth + rng.normal(0, 6, smooth.shape), 0, 255).astype(np.uint8))


def cue_row(image: Image.Image, fmt: str, **options: object) -> dict:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return cues_from_bytes(buffer.getvalue(), f"x.{fmt.lower()}").as_dict()


ROW = {"format": "JPEG", "width": 10, "jpeg_quality": 90, "has_exif": True, "path": "ignored.jpg"}


def test_cue_matrix_known_answer() -> None:
    rows = [ROW, {**ROW, "format": "PNG", "jpeg_quality": None, "has_exif": False}, {**ROW, "width": 20}]
    X, names = cue_matrix(rows)
    assert names == ["format=JPEG", "format=PNG", "width", "jpeg_quality", "jpeg_quality=missing", "has_exif"]
    np.testing.assert_array_equal(X, [[1, 0, 10, 90, 0, 1], [0, 1, 10, 0, 1, 0], [1, 0, 20, 90, 0, 1]])
    assert cue_matrix(rows, cues=["width"])[1] == ["width"]


def test_cue_matrix_errors() -> None:
    with pytest.raises(ValueError, match=r"rows\[1\]\['width'\] = 'wide' is not a number"):
        cue_matrix([ROW, {**ROW, "width": "wide"}])
    with pytest.raises(ValueError, match=r"rows\[1\] lacks cue\(s\) \['has_exif'\]"):
        cue_matrix([ROW, {k: v for k, v in ROW.items() if k != "has_exif"}])
    with pytest.raises(ValueError, match="cues: unknown cue"):
        cue_matrix([ROW], cues=["colour"])
    with pytest.raises(ValueError, match="cues must be a list of cue names"):
        cue_matrix([ROW], cues="width")
    with pytest.raises(ValueError, match="rows is empty"):
        cue_matrix([])


def test_bootstrap_interval_known_answers() -> None:
    y = np.array([0] * 10 + [1] * 10)
    assert bootstrap_auc_interval(np.arange(20.0), y, n_boot=200) == (1.0, 1.0)
    assert bootstrap_auc_interval(np.ones(20), y, n_boot=200) == (0.5, 0.5)  # ties count half
    scores = np.random.default_rng(1).normal(size=200) + np.repeat([0.0, 1.0], 100)
    labels = np.repeat([0, 1], 100)
    lo, hi = bootstrap_auc_interval(scores, labels)
    assert lo < auc(scores, labels) < hi and hi - lo < 0.2
    with pytest.raises(ValueError, match="n_boot must be a positive int"):
        bootstrap_auc_interval(scores, labels, n_boot=0)


def test_format_shortcut_is_found() -> None:
    n = 30
    images = [photo(i) for i in range(2 * n)]
    rows = [cue_row(im, "JPEG", quality=90) for im in images[:n]] + [cue_row(im, "PNG") for im in images[n:]]
    labels = [0] * n + [1] * n
    result = cue_auc(rows, labels)
    assert result.auc > 0.99 and result.ci_low > 0.95
    assert (result.folds, result.n_real, result.n_fake, len(result.scores)) == (5, n, n, 2 * n)
    single = single_cue_aucs(rows, labels)
    assert single[0].name in {"format", "bytes_per_pixel", "file_size"} and single[0].auc > 0.99
    verdict = shortcut_verdict(result.auc, (result.ci_low, result.ci_high), single)
    assert verdict.startswith("the file cues alone separate the classes (AUC 1.00")
    assert "strongest: format" in verdict and "re-encode both classes identically" in verdict


def test_null_split_is_not_called_a_shortcut() -> None:
    n = 80
    rows = [cue_row(photo(100 + i), "JPEG", quality=90) for i in range(n)]
    labels = np.random.default_rng(0).permutation(np.repeat([0, 1], n // 2))
    result = cue_auc(rows, labels)
    assert result.ci_low <= 0.5 <= result.ci_high
    single = single_cue_aucs(rows, labels)
    constant = {d.name: d.auc for d in single if d.name in ("format", "jpeg_quality", "width")}
    assert constant == {"format": 0.5, "jpeg_quality": 0.5, "width": 0.5}
    verdict = shortcut_verdict(result.auc, (result.ci_low, result.ci_high), single)
    assert verdict.startswith("no file cue separates the classes")


def test_constant_cues_give_exactly_one_half() -> None:
    rows = [ROW] * 6
    result = cue_auc(rows, [0, 0, 0, 1, 1, 1])
    assert (result.auc, result.ci_low, result.ci_high, result.folds) == (0.5, 0.5, 0.5, 3)
    assert all(d.auc == 0.5 for d in single_cue_aucs(rows, [0, 0, 0, 1, 1, 1]))


def test_single_cue_aucs_orientation_levels_and_missing() -> None:
    labels = [0, 0, 0, 1, 1, 1]
    widths = [{**ROW, "width": w} for w in (30, 20, 10, 3, 2, 1)]  # fakes smaller: AUC 0, reported 1
    expected = [CueAuc("width", "numeric", 1.0)]
    assert single_cue_aucs(widths, labels, cues=["width"]) == expected
    assert [c.to_json() for c in expected] == [{"name": "width", "kind": "numeric", "auc": 1.0}]  # audit.json's
    formats = [{**ROW, "format": f} for f in ("JPEG", "PNG", "WEBP", "PNG", "WEBP", "WEBP")]
    # fake rates JPEG 0, PNG 1/2, WEBP 2/3; fake PNG beats 1.5 reals, each fake WEBP 2.5: 6.5 of 9 pairs
    assert single_cue_aucs(formats, labels, cues=["format"])[0].auc == pytest.approx(6.5 / 9)
    quality = [{**ROW, "jpeg_quality": q} for q in (90, 95, 90, None, 95, None)]
    # missing placed above 95: two fakes beat all 3 reals, the fake 95 beats 2.5: 8.5 of 9 pairs
    assert single_cue_aucs(quality, labels, cues=["jpeg_quality"])[0].auc == pytest.approx(8.5 / 9)


def test_too_few_images_per_class_and_bad_labels() -> None:
    with pytest.raises(ValueError, match="at least 2 images of each class, got 1 real and 3 fake"):
        cue_auc([ROW] * 4, [0, 1, 1, 1])
    with pytest.raises(ValueError, match="labels must be 0 \\(real\\) or 1 \\(fake\\)"):
        cue_auc([ROW] * 4, [0, 1, 2, 1])
    with pytest.raises(ValueError, match="one label per row"):
        single_cue_aucs([ROW] * 4, [0, 1])
    with pytest.raises(ValueError, match="folds must be an int >= 2"):
        cue_auc([ROW] * 4, [0, 0, 1, 1], folds=1)


def test_wide_features_keep_a_non_monotone_signal_with_coarse_bins() -> None:
    """Over WIDE columns the trees bin coarser (a content kind's 970 thumbnail pixels): a band that only a
    tree finds (the fakes' column 123 in the middle of its range, the reals' at both ends) is still found out
    of fold, and the same columns without it stay at chance."""
    from aigc_explain.evidence.classifier import WIDE, WIDE_BINS, _model

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 80)
    X = rng.uniform(0, 1, size=(160, WIDE + 144))
    assert _model(128, 0, X.shape[1]).max_bins == WIDE_BINS and _model(128, 0, WIDE).max_bins == 255
    null = auc(out_of_fold_scores(X, y, folds=5, seed=0), y)
    X[:, 123] = np.where(y == 1, rng.uniform(0.4, 0.6, 160), rng.choice([0.1, 0.9], 160) + rng.normal(0, .05, 160))
    assert auc(out_of_fold_scores(X, y, folds=5, seed=0), y) > 0.95 and abs(null - 0.5) < 0.15


def test_folds_shrink_to_the_smaller_class() -> None:
    rows = [{**ROW, "width": w} for w in range(13)]
    assert cue_auc(rows, [0, 0, 0] + [1] * 10, n_boot=50).folds == 3


@pytest.mark.parametrize(("value", "ci", "start"), [
    (0.95, (0.85, 0.99), "the file cues alone separate the classes (AUC 0.95 [0.85, 0.99]; strongest: form"),
    (0.68, (0.62, 0.74), "the file cues predict the label better than chance (AUC 0.68 [0.62, 0.74]"),
    (0.62, (0.41, 0.83), "no file cue separates the classes clearly, but the interval is wide"),
    (0.51, (0.47, 0.55), "no file cue separates the classes (AUC 0.51 [0.47, 0.55])"),
    (0.40, (0.30, 0.48), "no file cue separates the classes (AUC 0.40 [0.30, 0.48]; below chance"),
])
def test_verdict_bands(value: float, ci: tuple[float, float], start: str) -> None:
    single = [CueAuc("format", "categorical", 0.9)]
    assert shortcut_verdict(value, ci, single).startswith(start)


def test_verdict_advice_follows_the_strongest_cue_and_checks_ci() -> None:
    single = [CueAuc("width", "numeric", 1.0)]
    assert "resize both classes to one size" in shortcut_verdict(1.0, (1.0, 1.0), single)
    assert "strongest" not in shortcut_verdict(0.9, (0.85, 0.95))
    with pytest.raises(ValueError, match="ci must be a finite"):
        shortcut_verdict(0.5, (0.6, 0.4), single)
    with pytest.raises(ValueError, match="ci must be a finite"):
        shortcut_verdict(0.5, (math.nan, 0.4), single)

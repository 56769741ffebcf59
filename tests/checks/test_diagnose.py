"""``diagnose``: what a detector relies on, checked against detectors trained here on data with a known answer.

Four tiny detectors (timm ``test_resnet``, 32 px, a few hundred steps on random shapes) each learn one shortcut:
a faint period-4 checkerboard on the fakes (high frequency, local), a colour cast (lowest band, global), a
layout (reals bright above, fakes bright below: global arrangement, no colour difference) and storage only
(reals PNG, fakes JPEG q75 of the same kind of content); a fifth carries the pattern in one tile only, for
the patch map. Reals and fakes are different images throughout."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from aigc_explain.checks.diagnose_run import DiagnoseSettings, diagnose
from aigc_explain.checks.reliance import (band_mask, parse_bands, parse_patches, peak_mask, shuffle_patches,
                                          spectral_filter)
from aigc_explain.diagnose import main as diagnose_main
from aigc_explain.runs.diagnose_summary import BandEffect, ClassChange, CleanEffect, DiagnoseSummary, MeanChange, \
    RelianceMeasures
from aigc_explain.synth.planted import shapes_content

pytestmark = pytest.mark.usefixtures("one_thread")
S = 32


def _jpeg(image: np.ndarray, quality: int = 75) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=quality)
    return np.array(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def _images(kind: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n reals then n fakes, (2n, S, S, 3) uint8, each image its own random content."""
    rng = np.random.default_rng(seed)
    x = np.stack([shapes_content(rng, S) for _ in range(2 * n)]).astype(np.int16)
    fake = np.arange(2 * n) >= n
    i = np.arange(S)
    if kind == "period4":  # (i//2 + j//2) % 2: all its power at (±1/4, ±1/4) cycles/pixel
        x[fake] += (4 * np.where((i[:, None] // 2 + i[None, :] // 2) % 2 == 0, 1, -1))[None, :, :, None]
    elif kind == "quadrant":  # the same kind of pattern, only in the top-left 16×16 tile
        q = i[:S // 2]
        plant = 6 * np.where((q[:, None] // 2 + q[None, :] // 2) % 2 == 0, 1, -1)
        x[fake, :S // 2, :S // 2] += plant[None, :, :, None]
    elif kind == "cast":  # grey content; fakes 6 levels redder and 6 less blue
        x = np.repeat(x.mean(axis=3, keepdims=True).astype(np.int16), 3, axis=3)
        x[fake, :, :, 0] += 6
        x[fake, :, :, 2] -= 6
    elif kind == "layout":
        top = np.where(i < S // 2, 25, -25)[None, :, None, None]
        x[~fake] += top
        x[fake] -= top
    x = np.clip(x, 0, 255).astype(np.uint8)
    if kind == "storage":  # what a decoder gets from the fakes' JPEG files
        x[fake] = np.stack([_jpeg(im) for im in x[fake]])
    return x, fake.astype(np.float32)


def _train(x: np.ndarray, y: np.ndarray, steps: int = 300):
    from aigc_explain.core.models import build_detector

    torch.manual_seed(0)
    det = build_detector("test_resnet", image_size=S)
    mean, std = torch.tensor(det.mean).view(1, 3, 1, 1), torch.tensor(det.std).view(1, 3, 1, 1)
    xt = (torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255 - mean) / std
    yt = torch.from_numpy(y)
    opt = torch.optim.Adam(det.parameters(), 3e-3)
    g = torch.Generator().manual_seed(0)
    det.train()
    for _ in range(steps):
        idx = torch.randint(0, len(yt), (32,), generator=g)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(det(xt[idx]).view(-1), yt[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return det.eval()


def _write(folder: Path, x: np.ndarray, y: np.ndarray, *, jpeg_fakes: bool = False) -> Path:
    """0_real/*.png and 1_fake/*.png, or with ``jpeg_fakes`` 1_fake/*.jpg (quality 75)."""
    for k, (image, label) in enumerate(zip(x, y)):
        sub = folder / ("1_fake" if label else "0_real")
        sub.mkdir(parents=True, exist_ok=True)
        if jpeg_fakes and label:
            Image.fromarray(image).save(sub / f"{k:03d}.jpg", format="JPEG", quality=75)
        else:
            Image.fromarray(image).save(sub / f"{k:03d}.png")
    return folder


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """``trained(kind)`` -> (detector, val folder of 48 reals + 48 fakes); each trained once per module."""
    cache: dict[str, tuple] = {}

    def get(kind: str):
        if kind not in cache:
            before = torch.get_num_threads()
            torch.set_num_threads(1)
            det = _train(*_images(kind, 256, seed=0))
            storage = kind == "storage"  # val fakes are JPEG files of fresh content, reals PNG files
            xv, yv = _images("plain" if storage else kind, 48, seed=1)
            cache[kind] = det, _write(tmp_path_factory.mktemp(kind), xv, yv, jpeg_fakes=storage)
            torch.set_num_threads(before)
        return cache[kind]
    return get


def _by(entries: list, **match):
    (hit,) = [e for e in entries if all(getattr(e, k) == v for k, v in match.items())]
    return hit


FAST = dict(patches="8", map_images=0, n_boot=200)


def test_period4_pattern_rests_on_the_high_band_and_its_peaks(trained):
    det, folder = trained("period4")
    s = diagnose(det, folder, DiagnoseSettings(**FAST)).summary
    assert s.clean.fake.accuracy >= 0.9 and s.clean.real.accuracy >= 0.9
    high, low = _by(s.bands, lo=0.25, mode="remove"), _by(s.bands, lo=0.0, mode="remove")
    assert high.fake.accuracy <= 0.2 and high.fake.flipped >= 0.7
    assert high.fake.prob_change.ci95[1] < -0.5
    assert low.fake.accuracy >= 0.8
    assert _by(s.bands, lo=0.25, mode="keep").fake.accuracy >= 0.8  # the band alone still says fake
    # the audit's rule finds the pattern's four lines, and removing just them undoes most fakes
    freqs = {tuple(abs(v) for v in f) for f in s.peaks_found.freqs}
    assert (0.25, 0.25) in freqs and s.peaks.fake.accuracy <= 0.2
    assert s.peaks.bins == s.peaks_found.bins  # the peaks removed are the peaks found
    assert _by(s.shuffle, patch=8).fake.accuracy >= 0.8  # local: the tiles keep the pattern's phase
    assert "0.25–0.5 cycles/pixel" in s.verdict[0] and "high-frequency" in s.verdict[-1]


def test_colour_cast_rests_on_the_lowest_band_and_survives_shuffling(trained):
    det, folder = trained("cast")
    s = diagnose(det, folder, DiagnoseSettings(**FAST)).summary
    assert s.clean.accuracy >= 0.9
    low, high = _by(s.bands, lo=0.0, mode="remove"), _by(s.bands, lo=0.25, mode="remove")
    assert low.auc <= 0.65  # without the lowest band (DC included) the cast is gone for both classes
    assert high.fake.accuracy >= 0.8 and high.real.accuracy >= 0.8
    assert low.fake.flipped + low.real.flipped > high.fake.flipped + high.real.flipped
    shuffled = _by(s.shuffle, patch=8)
    assert shuffled.fake.accuracy >= 0.8 and shuffled.real.accuracy >= 0.8
    assert not s.peaks_found.found and s.peaks is None  # the null: a cast has no periodic line
    assert "rests on 0–0.0625 cycles/pixel" in s.verdict[0] and "global low-frequency" in s.verdict[-1]


def test_layout_shortcut_breaks_under_shuffling(trained):
    det, folder = trained("layout")
    s = diagnose(det, folder, DiagnoseSettings(**FAST, peaks=False)).summary
    assert s.clean.accuracy >= 0.9 and s.peaks_found is None
    shuffled = _by(s.shuffle, patch=8)
    assert shuffled.auc <= 0.65 and shuffled.accuracy <= 0.7
    assert any("needs the image's layout" in v for v in s.verdict)


def test_storage_only_difference_collapses_under_jpeg_and_png_changes_nothing(trained):
    det, folder = trained("storage")
    s = diagnose(det, folder, DiagnoseSettings(**FAST, peaks=False, reencode=("jpeg:75", "png"))).summary
    assert s.clean.accuracy >= 0.9
    jpeg, png = _by(s.reencode, variant="jpeg:75"), _by(s.reencode, variant="png")
    assert jpeg.auc <= 0.65 and jpeg.real.accuracy <= 0.3  # the reals now carry the fakes' trace
    assert any("collapses it to chance" in v for v in s.verdict)
    # PNG is lossless: the detector sees the very same pixels (the null)
    for cls in ("fake", "real"):
        assert png.part(cls).flipped == 0 and png.part(cls).prob_change.mean == 0.0


def test_patch_map_finds_the_one_tile_that_carries_the_trace(trained):
    from aigc_explain.checks.patch_map import patch_maps
    from aigc_explain.core.folders import find_samples

    det, folder = trained("quadrant")
    maps = patch_maps(det, find_samples(folder), 16, per_class=4, cam=False).class_means()
    fake, real = np.array(maps["fake"].mean_map), np.array(maps["real"].mean_map)
    assert fake[0, 0] >= 0.8 and np.delete(fake.ravel(), 0).max() <= 0.2  # only the planted tile suffices
    assert real.max() <= 0.2 and maps["fake"].blurred <= 0.2  # the null: no tile makes a real look fake
    assert maps["fake"].n == 4 and maps["fake"].spread >= 0.6


# ---------------------------------------------------------------------------------------------- pieces
def test_band_masks_partition_the_spectrum_and_keeping_all_is_the_identity():
    bands = parse_bands("0,1/16,1/8,1/4,1/2")
    assert bands[-1] == (0.25, 0.5)
    masks = torch.stack([band_mask(S, lo, hi) for lo, hi in bands]).int()
    assert (masks.sum(0) == 1).all()  # every bin in exactly one band, the corners (|f| up to √2/2) too
    x = torch.randn(2, 3, S, S)
    assert torch.allclose(spectral_filter(x, torch.ones(S, S, dtype=torch.bool)), x, atol=1e-5)
    low = spectral_filter(x, band_mask(S, 0, 1 / 16))
    assert torch.allclose(low + spectral_filter(x, ~band_mask(S, 0, 1 / 16)), x, atol=1e-5)
    keep = peak_mask(S, [(8, 8)])
    assert not keep[8, 8] and not keep[-8 % S, -8 % S] and keep.sum() == S * S - 2


def test_patch_shuffle_is_a_seeded_permutation_of_whole_tiles():
    x = torch.arange(2 * 3 * S * S, dtype=torch.float32).reshape(2, 3, S, S)
    a, b = shuffle_patches(x, 8, [1, 2]), shuffle_patches(x, 8, [1, 2])
    assert torch.equal(a, b) and not torch.equal(a, x)
    assert torch.equal(torch.sort(a.flatten()).values, torch.sort(x.flatten()).values)
    tile = a[0, 0, :8, :8]  # a tile moves whole: it is some original tile
    assert any(torch.equal(tile, x[0, 0, r:r + 8, c:c + 8]) for r in range(0, S, 8) for c in range(0, S, 8))
    assert torch.equal(shuffle_patches(x, S, [1, 2]), x)  # one tile: nothing to shuffle


def test_key_band_is_the_one_that_flips_the_fakes_not_merely_the_lowest_auc():
    from aigc_explain.checks.reliance_summary import band_sentences, key_band

    def band(lo, hi, auc, fake_flipped):
        fake = ClassChange(n=10, prob_change=MeanChange(-fake_flipped, (-fake_flipped - 0.1, -fake_flipped + 0.1)),
                           flipped=fake_flipped, accuracy=1 - fake_flipped, clean_accuracy=1.0)
        real = fake.replace(flipped=0.1, prob_change=MeanChange(0.0, (0.0, 0.0)))
        return BandEffect(lo=lo, hi=hi, mode="remove", name=f"remove {lo:g}-{hi:g}", real=real, fake=fake,
                          accuracy=None, auc=auc)

    def measures(*bands):
        return RelianceMeasures(clean=CleanEffect(real=bands[0].real, fake=bands[0].fake, accuracy=1.0, auc=1.0),
                                bands=list(bands))
    # the lowest band lowers AUC most but flips fewer than half the fakes; 1/8-1/4 flips 70% (CIFAKE's case)
    summary = measures(band(0, 1 / 16, 0.74, 0.48), band(1 / 8, 1 / 4, 0.82, 0.70), band(1 / 4, 1 / 2, 0.96, 0.1))
    assert key_band(summary).lo == 1 / 8 and "rests on 0.125–0.25" in band_sentences(summary)[0]
    summary = measures(band(0, 1 / 16, 0.9, 0.2), band(1 / 4, 1 / 2, 0.9, 0.3))
    assert key_band(summary) is None and band_sentences(summary)[0].startswith("No single frequency band")


@pytest.mark.parametrize("text, message", [("0,1/4,1/8", "increasing band edges"), ("0,x", "not a number"),
                                           ("0,0.7", "at most 1/2")])
def test_bad_bands(text, message):
    with pytest.raises(ValueError, match=message):
        parse_bands(text)


def test_bad_patch():
    with pytest.raises(ValueError, match="from 2 to 16 px"):
        parse_patches("8,20", 32)


# ----------------------------------------------------------------------------------------------- the CLI
def test_cli_writes_the_run_folder(trained, tmp_path: Path, capsys):
    from aigc_explain.core.checkpoint import save_checkpoint

    det, folder = trained("period4")
    ckpt = tmp_path / "p4.pth"
    save_checkpoint(ckpt, det)
    out = tmp_path / "diag"
    assert diagnose_main(["--ckpt", str(ckpt), "--images", str(folder), "--out", str(out), "--patch", "8,16",
                          "--reencode", "png", "--map-images", "1", "--limit", "40", "--batch-size", "16",
                          "--device", "cpu", "--no-progress"]) == 0
    for name in ("diagnose.json", "diagnose.md", "diagnose_predictions.csv", "bands.png", "shuffle.png",
                 "patch_map.png", "skipped.csv", "manifest.json", "aigc_run.json"):
        assert (out / name).is_file(), name
    s = json.loads((out / "diagnose.json").read_text())
    typed = DiagnoseSummary.from_json(s)
    assert typed.to_json() == s and typed.patch_map.classes["fake"].n == 1  # the typed summary reads what it wrote
    assert s["n_images"] == 40 and len(s["bands"]) == 8 and [e["patch"] for e in s["shuffle"]] == [8, 16]
    band = s["bands"][0]
    assert {"lo", "hi", "mode", "fake", "real", "accuracy"} <= set(band)
    assert {"prob_change", "flipped"} <= set(band["fake"]) and set(band["fake"]["prob_change"]) == {"mean", "ci95"}
    assert s["reencode"][0]["variant"] == "png" and s["verdict"]
    fake_map = np.array(s["patch_map"]["classes"]["fake"]["map"])
    assert fake_map.shape == (2, 2)
    assert json.loads((out / "aigc_run.json").read_text())["status"] == "complete"
    assert json.loads((out / "manifest.json").read_text())["command"] == "diagnose"
    lines = (out / "diagnose_predictions.csv").read_text().splitlines()
    assert len(lines) == 1 + 40 * (1 + 8 + 1 + 2 + 1)  # clean, 8 bands, peaks, 2 shuffles, png
    assert "What the detector relies on" in (out / "diagnose.md").read_text()


def test_a_broken_file_is_skipped_not_fatal(trained, tmp_path: Path):
    import shutil

    det, folder = trained("period4")
    data = shutil.copytree(folder, tmp_path / "data")
    (data / "1_fake" / "broken.png").write_bytes(b"not a png")
    result = diagnose(det, data, DiagnoseSettings(bands="0,1/2", patches="16", peaks=False, map_images=0, n_boot=50))
    assert [p for p, _ in result.skipped] == [str(data / "1_fake" / "broken.png")]
    assert result.summary.n_images == 96 and result.summary.n_skipped == 1


@pytest.mark.parametrize("extra, message", [
    (["--bands", "0,1/4,1/8"], "diagnose: error: --bands '0,1/4,1/8'"),
    (["--reencode", "gif"], "--reencode 'gif'"),
    (["--limit", "1"], "--limit must be >= 2"),
])
def test_cli_rejects_bad_flags_before_any_folder(tmp_path: Path, extra, message, error_line):
    code = diagnose_main(["--ckpt", str(tmp_path / "none.pth"), "--images", str(tmp_path), "--out",
                          str(tmp_path / "d"), *extra])
    assert code == 2 and message in error_line()
    assert not (tmp_path / "d").exists()


def test_cli_missing_images(tiny_ckpt: Path, tmp_path: Path, error_line):
    assert diagnose_main(["--ckpt", str(tiny_ckpt), "--images", str(tmp_path / "nope"), "--out",
                          str(tmp_path / "d")]) == 2
    assert "--images" in error_line() and not (tmp_path / "d").exists()

"""The spectrum command and its library job (``write_spectrum_run``): a planted periodic pattern peaks at its
radius, the npz holds exactly the per-image spectra's mean and std, sizes are never mixed silently, figures are
real PNGs, summary.json is typed and written as before."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aigc_explain.analysis.spectra import azimuthal_average, log_power_spectrum, to_gray
from aigc_explain.spectrum import main as spectrum_main

SIZE, PERIOD = 32, 4  # the pattern's frequency: 1/4 cycle per pixel, ring radius 32/4 = 8


def _noise(rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
    return rng.normal(128, 12, size=(size, size, 3))


def _planted(rng: np.random.Generator) -> np.ndarray:
    x = np.arange(SIZE)
    wave = 40 * (np.cos(2 * np.pi * x / PERIOD)[None, :] + np.cos(2 * np.pi * x / PERIOD)[:, None])
    return _noise(rng) + wave[..., None]


def _save(path: Path, arr: np.ndarray) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.clip(arr, 0, 255).astype(np.uint8)
    Image.fromarray(img).save(path)
    return img


@pytest.fixture
def spectral_data(tmp_path: Path) -> tuple[Path, dict[str, list[np.ndarray]]]:
    rng = np.random.default_rng(0)
    root = tmp_path / "imgs"
    saved = {"real": [_save(root / "0_real" / f"{i}.png", _noise(rng)) for i in range(6)],
             "fake": [_save(root / "1_fake" / f"{i}.png", _planted(rng)) for i in range(6)]}
    return root, saved


def test_planted_pattern_peaks_at_its_radius(spectral_data, tmp_path: Path):
    root, saved = spectral_data
    out = tmp_path / "spec"
    assert spectrum_main(["--images", str(root), "--out", str(out)]) == 0
    npz = np.load(out / "spectra.npz")
    assert list(npz["classes"]) == ["real", "fake"] and int(npz["fake_n"]) == 6
    radius = SIZE // PERIOD
    assert int(np.argmax(npz["fake_mean_1d"][1:])) + 1 == radius
    assert npz["fake_freq"][radius] == pytest.approx(1 / PERIOD)
    diff = npz["fake_mean_1d"] - npz["real_mean_1d"]
    assert int(np.argmax(diff)) == radius and diff[radius] > 2 * np.delete(diff, radius).max()
    spec2d = npz["fake_mean_2d"] - npz["real_mean_2d"]
    c = SIZE // 2
    assert np.unravel_index(np.argmax(spec2d), spec2d.shape) in {(c, c + radius), (c, c - radius),
                                                                 (c + radius, c), (c - radius, c)}
    for name, images in saved.items():  # exactly the per-image spectra's mean and (population) std
        one_d = np.stack([azimuthal_average(log_power_spectrum(to_gray(im))) for im in images])
        assert np.allclose(npz[f"{name}_mean_1d"], one_d.mean(0))
        assert np.allclose(npz[f"{name}_std_1d"], one_d.std(0))
        two_d = np.stack([log_power_spectrum(to_gray(im)) for im in images]).mean(0)
        assert np.allclose(npz[f"{name}_mean_2d"], two_d)
    for png in ("spectrum_1d.png", "spectrum_2d.png"):
        img = Image.open(out / png)
        assert img.format == "PNG" and img.size[0] > 800 and img.size[1] > 300
    summary = json.loads((out / "summary.json").read_text())
    assert summary["classes"]["fake"] == {"n": 6, "image_size": [SIZE, SIZE]} and summary["resized_to"] is None


def test_mixed_sizes_need_size_flag(tmp_path: Path, capsys):
    rng = np.random.default_rng(1)
    root = tmp_path / "flat"
    _save(root / "a.png", _noise(rng, 32))
    _save(root / "b.png", _noise(rng, 24))
    (root / "broken.png").write_bytes(b"junk")
    assert spectrum_main(["--images", str(root), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "mixes image sizes 32x32" in err and "--size N" in err
    assert not (tmp_path / "o").exists()
    assert spectrum_main(["--images", str(root), "--out", str(tmp_path / "o"), "--size", "16"]) == 0
    npz = np.load(tmp_path / "o" / "spectra.npz")
    assert list(npz["classes"]) == ["images"] and int(npz["images_n"]) == 2
    assert npz["images_mean_2d"].shape == (16, 16) and npz["images_mean_1d"].shape == (9,)
    assert "broken.png" in (tmp_path / "o" / "skipped.csv").read_text()


def test_spectrum_user_errors(tmp_path: Path, capsys):
    assert spectrum_main(["--images", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert spectrum_main(["--images", str(tmp_path), "--out", str(tmp_path / "o"), "--size", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "does not exist" in err[0] and "--size must be >= 2" in err[1]


SUMMARY_TODAY = {"classes": {"real": {"n": 6, "image_size": [32, 32]}, "fake": {"n": 6, "image_size": [32, 32]}},
                 "resized_to": None, "gray": "ITU-R 601 luma, 0-255", "log": "natural log of |FFT|^2 + 1e-10",
                 "freq": "ring radius / min(H, W), cycles per pixel", "n_skipped": 0}


def test_the_command_prints_and_writes_what_it_did(spectral_data, tmp_path: Path, capsys):
    root, _ = spectral_data
    out = tmp_path / "spec"
    capsys.readouterr()
    assert spectrum_main(["--images", str(root), "--out", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"out": str(out), "classes": {"real": 6, "fake": 6},
                                                   "image_size": {"real": [32, 32], "fake": [32, 32]},
                                                   "resized_to": None}
    summary = json.loads((out / "summary.json").read_text())
    assert summary == SUMMARY_TODAY and list(summary) == list(SUMMARY_TODAY)  # the same keys in the same order


def test_write_spectrum_run_is_the_library_job(spectral_data, tmp_path: Path):
    from aigc_explain.evidence.spectrum import write_spectrum_run
    from aigc_explain.runs.summaries import SpectrumSummary

    root, _ = spectral_data
    result = write_spectrum_run(images=root, out=tmp_path / "spec", arguments={"images": str(root)})
    assert result.out == tmp_path / "spec" and result.summary.classes["fake"].n == 6
    assert result.summary.classes["real"].image_size == [SIZE, SIZE] and result.summary.resized_to is None
    npz = np.load(result.out / "spectra.npz")
    assert set(npz.files) == set(result.arrays) and all(np.array_equal(npz[k], v) for k, v in result.arrays.items())
    written = json.loads((result.out / "summary.json").read_text())
    assert written == result.summary.to_json() == SUMMARY_TODAY
    assert SpectrumSummary.from_json(written).to_json() == written
    for flags, message in (({"size": 1}, "--size must be >= 2 pixels, got 1"),
                           ({"limit": 0}, "--limit must be >= 1, got 0")):
        with pytest.raises(ValueError, match=message):
            write_spectrum_run(images=root, out=tmp_path / "other", arguments={}, **flags)
    assert not (tmp_path / "other").exists()


def test_spectrum_summary_names_a_wrong_value():
    from aigc_explain.runs.summaries import SpectrumSummary
    from aigc_explain.runs.records import RecordError

    with pytest.raises(RecordError, match=r"summary.json.classes.fake.n: expected an integer"):
        SpectrumSummary.from_json({**SUMMARY_TODAY, "classes": {"fake": {"n": "6", "image_size": [32, 32]}}})
    with pytest.raises(RecordError, match="summary.json: lacks 'resized_to'"):
        SpectrumSummary.from_json({"classes": {}})

"""Known-answer tests of pixel evidence: planted checkerboards, a null control, streaming = batch."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from aigc_explain.evidence.pixel_bootstrap import block_aligns, choose_block
from aigc_explain.evidence.pixels import (
    PixelEvidence,
    ResidualFingerprint,
    load_for_audit,
    noise_residual,
    residual_energy,
    residual_maps,
)
from aigc_explain.analysis.regions import region_masks, region_masses

SIZE, N = 64, 40


def _images(n: int, rng: np.random.Generator, plant: np.ndarray | None = None, amp: int = 6) -> np.ndarray:
    """Smooth random content (grey 128 ± 40) plus sensor-like noise (σ 2); ``plant`` adds ±amp checkerboard."""
    board = np.where(np.indices((SIZE, SIZE)).sum(0) % 2 == 0, 1, -1)
    out = []
    for _ in range(n):
        base = gaussian_filter(rng.normal(0, 1, (SIZE, SIZE, 3)), (4, 4, 0))
        base = 128 + 40 * base / base.std() + rng.normal(0, 2, base.shape)
        if plant is not None:
            base += (amp * board * plant)[:, :, None]
        out.append(np.clip(np.rint(base), 0, 255).astype(np.uint8))
    return np.stack(out)


def _dataset(region: str | None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    plant = None if region is None else region_masks(SIZE, SIZE)[region]
    images = np.concatenate([_images(N, rng), _images(N, rng, plant)])
    return residual_maps(images, size=SIZE), np.repeat([0, 1], N)


@pytest.fixture(scope="module")
def corner_data():
    return _dataset("corner")


def _evidence(residuals: np.ndarray, labels: np.ndarray, **kwargs) -> PixelEvidence:
    ev = PixelEvidence((SIZE, SIZE), **kwargs)
    ev.add(residual_energy(residuals), labels)
    return ev


def test_binomial_residual_keeps_checkerboard_and_drops_constant():
    board = np.where(np.indices((8, 8)).sum(0) % 2 == 0, 106, 94).astype(np.uint8)  # 100 ± 6
    img = np.repeat(board[:, :, None], 3, axis=2)
    res = noise_residual(img)
    assert np.allclose(res[1:-1, 1:-1], np.where(board[1:-1, 1:-1] > 100, 6.0, -6.0))  # Nyquist gain 1
    assert np.allclose(noise_residual(np.full((8, 8, 3), 77, np.uint8)), 0.0, atol=1e-12)


def test_corner_plant_gives_high_corner_share(corner_data):
    summary = _evidence(*corner_data).region_summary()
    share = summary.corner_share
    assert share.ci95[0] > 0.8 and share.mean > 0.8 and share.n == 2 * N
    assert not summary.empty and summary.excess_energy > 1.0
    assert summary.block == 8 and summary.grid == (8, 8)
    data = json.loads(json.dumps(summary.to_json(), allow_nan=False))  # JSON-safe
    assert data["grid"] == [8, 8] and list(data)[:4] == ["corner_mass", "center_mass", "border_mass", "corner_share"]
    assert type(summary).from_json(data) == summary


def test_center_plant_gives_low_corner_share():
    summary = _evidence(*_dataset("center", seed=1)).region_summary()
    assert summary.corner_share.ci95[1] < 0.2
    assert summary.center_mass.ci95[0] > 0.8


def test_plant_shows_in_difference_and_t_map(corner_data):
    ev = _evidence(*corner_data)
    corner = region_masks(SIZE, SIZE)["corner"]
    diff = ev.difference_map()
    assert abs(diff[corner].mean() - 36.0) < 3.0  # amplitude 6 passes the residual undamped: 6² = 36
    assert abs(diff[~corner].mean()) < 0.5
    t = ev.t_map()
    assert (np.abs(t[corner]) > 4).mean() > 0.95 and (np.abs(t[~corner]) > 4).mean() < 0.005


def test_null_control_shows_no_localised_difference():
    ev = _evidence(*_dataset(None, seed=2))
    real_level = ev.mean_map(0).mean()
    diff = ev.difference_map()
    assert abs(diff.mean()) < 0.05 * real_level and np.abs(diff).mean() < 0.5 * real_level
    assert (np.abs(ev.t_map()) > 4).mean() < 0.005  # t_78 gives ~1e-4 by chance
    summary = ev.region_summary()
    assert summary.excess_energy < 0.1  # vs > 1 for the plant
    lo, hi = summary.corner_share.ci95
    assert hi - lo > 0.2 and lo < 0.8 and hi > 0.2  # wide, and neither plant's verdict


def test_fakes_nowhere_above_reals_is_flagged_empty():
    ev = PixelEvidence((SIZE, SIZE), n_boot=20)
    ev.add(np.stack([np.full((SIZE, SIZE), 2.0), np.full((SIZE, SIZE), 1.0)]), [0, 1])
    summary = ev.region_summary()
    assert summary.empty is True and summary.excess_energy == 0.0
    assert all(getattr(summary, k).mean is None and getattr(summary, k).ci95 == (None, None) for k in
               ("corner_mass", "center_mass", "border_mass", "corner_share"))


def test_t_map_is_nan_where_both_classes_are_constant():
    maps = np.ones((4, SIZE, SIZE))
    maps[:, 0, 0] = [1.0, 2.0, 3.0, 5.0]
    ev = PixelEvidence((SIZE, SIZE), n_boot=5)
    ev.add(maps, [0, 0, 1, 1])
    t = ev.t_map()
    assert np.isnan(t[1:, :]).all() and t[0, 0] == pytest.approx(2.5 / np.sqrt(0.25 + 1.0))


def test_streaming_equals_batch_and_merge(corner_data):
    residuals, labels = corner_data
    energy = residual_energy(residuals)
    order = np.random.default_rng(3).permutation(len(labels))  # interleave the classes
    energy, labels = energy[order], labels[order]
    batch = PixelEvidence((SIZE, SIZE), n_boot=50)
    batch.add(energy, labels)
    single = PixelEvidence((SIZE, SIZE), n_boot=50)
    for e, lab in zip(energy, labels):
        single.add(e[None], [lab])
    half = len(labels) // 2
    first, second = PixelEvidence((SIZE, SIZE), n_boot=50), PixelEvidence((SIZE, SIZE), n_boot=50, first_id=half)
    first.add(energy[:half], labels[:half])
    second.add(energy[half:], labels[half:])
    first.merge(second)
    restored = PixelEvidence.from_state(dict(np.load(_savez(batch))))
    for other in (single, first, restored):
        for c in (0, 1):
            np.testing.assert_allclose(other.mean_map(c), batch.mean_map(c), rtol=1e-10, atol=1e-10)
            np.testing.assert_allclose(other.variance_map(c), batch.variance_map(c), rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(other.t_map(), batch.t_map(), rtol=1e-10, atol=1e-10)
        # weights hang on (seed, image id), so the bootstrap replicates agree too
        np.testing.assert_allclose(other.boot.sums, batch.boot.sums, rtol=1e-10)
        got, want = other.region_summary().corner_share, batch.region_summary().corner_share
        assert got.ci95 == pytest.approx(want.ci95, rel=1e-9) and got.mean == pytest.approx(want.mean)


def _savez(ev: PixelEvidence):
    import io

    buf = io.BytesIO()
    np.savez(buf, **ev.state_dict())
    buf.seek(0)
    return buf


def test_variance_matches_numpy(corner_data):
    residuals, labels = corner_data
    energy = residual_energy(residuals)
    ev = _evidence(residuals, labels, n_boot=5)
    np.testing.assert_allclose(ev.variance_map(1), energy[labels == 1].var(axis=0, ddof=1), rtol=1e-10)


def test_poisson_bootstrap_is_deterministic_for_a_seed(corner_data):
    a, b = _evidence(*corner_data, seed=7), _evidence(*corner_data, seed=7)
    c = _evidence(*corner_data, seed=8)
    assert a.region_summary() == b.region_summary()
    assert a.region_summary().corner_share.ci95 != c.region_summary().corner_share.ci95


def test_block_one_point_estimate_is_region_masses_of_difference(corner_data):
    ev = _evidence(*corner_data, n_boot=10, block=1)
    masses = region_masses(ev.difference_map())
    summary = ev.region_summary()
    assert summary.grid == (SIZE, SIZE)
    assert summary.corner_share.mean == pytest.approx(float(masses.corner_share[0]), rel=1e-12)
    assert summary.border_mass.mean == pytest.approx(float(masses.border_mass[0]), rel=1e-12)


def test_block_rule_keeps_region_boundaries():
    fracs = (0.25, 0.5, 0.125)
    assert choose_block(224, 224, fracs) == 7 and choose_block(64, 64, fracs) == 8
    assert not block_aligns(224, 224, 8, fracs) and choose_block(65, 65, fracs) == 1
    with pytest.raises(ValueError, match="block=8 does not put the region boundaries"):
        PixelEvidence((224, 224), block=8)


def test_fingerprint_peaks_at_nyquist_for_period_two_plant(corner_data):
    residuals, labels = corner_data
    fp = ResidualFingerprint((SIZE, SIZE))
    fp.add(residuals, labels)
    fy, fx = fp.frequencies()
    assert fy[0] == -0.5 and fx[0] == -0.5  # index (0, 0) is the (±0.5, ±0.5) Nyquist corner
    fake, real = fp.mean_residual_power(1), fp.mean_residual_power(0)
    assert fake[0, 0] > 1000 * real[0, 0]
    assert fake[0, 0] == fake.max()
    assert fp.mean_log_power(1)[0, 0] > fp.mean_log_power(0)[0, 0] + 1.0
    restored = ResidualFingerprint.from_state(fp.state_dict())
    np.testing.assert_allclose(restored.mean_residual_power(1), fake)


def test_load_for_audit_uses_project_decoder_and_resize(tmp_path):
    from PIL import Image

    from aigc_explain.core.images import read_image, Resize

    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    img = load_for_audit(tmp_path / "a.png", 32)
    expected = Resize(32)(read_image(tmp_path / "a.png"))
    assert img.shape == (32, 32, 3) and img.dtype == np.uint8
    np.testing.assert_array_equal(img, expected.permute(1, 2, 0).numpy())
    np.testing.assert_array_equal(noise_residual(expected), noise_residual(img))  # tensors accepted as is


@pytest.mark.parametrize("call, match", [
    (lambda: residual_maps([np.zeros((8, 8, 3), np.uint8), np.zeros((9, 8, 3), np.uint8)]), "mixed sizes"),
    (lambda: residual_maps([np.zeros((8, 8, 3), np.uint8)], size=16), r"expected 16x16"),
    (lambda: residual_maps([]), "images is empty"),
    (lambda: noise_residual(np.zeros((8, 8, 3))), r"\(H, W, 3\) uint8"),
    (lambda: noise_residual(np.zeros((8, 8), np.uint8)), r"\(H, W, 3\) uint8"),
    (lambda: PixelEvidence((8, 8)).add(np.zeros((8, 8)), [0]), r"energy_maps must have shape \(N, H, W\)"),
    (lambda: PixelEvidence((8, 8)).add(np.zeros((1, 8, 9)), [0]), "accumulator holds 8x8"),
    (lambda: PixelEvidence((8, 8)).add(np.zeros((2, 8, 8)), [0]), r"labels must have shape \(2,\)"),
    (lambda: PixelEvidence((8, 8)).add(np.zeros((1, 8, 8)), [2]), "labels must be 0 .real. or 1"),
    (lambda: PixelEvidence((8, 8)).t_map(), "needs at least 2 image"),
    (lambda: PixelEvidence((8, 8), n_boot=0), "n_boot must be a positive int"),
    (lambda: PixelEvidence((8, 8)).merge(PixelEvidence((8, 8), seed=1)), "merge like with like"),
    (lambda: ResidualFingerprint((8, 8)).add(np.zeros((1, 4, 4)), [0]), "accumulator holds 8x8"),
    (lambda: load_for_audit("x.png", 0), "size must be an int >= 3"),
])
def test_errors_name_the_problem(call, match):
    with pytest.raises(ValueError, match=match):
        call()

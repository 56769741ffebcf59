"""Known-answer tests for aigc_explain.spectra."""

import numpy as np
import pytest

from aigc_explain.analysis.spectra import azimuthal_average, log_power_spectrum, SpectrumAccumulator, to_gray


def test_to_gray_luma():
    img = np.array([[[255, 0, 0], [10, 20, 30]]], dtype=np.uint8)
    np.testing.assert_allclose(to_gray(img), [[0.299 * 255, 0.299 * 10 + 0.587 * 20 + 0.114 * 30]])
    assert to_gray(img).dtype == np.float64
    np.testing.assert_array_equal(to_gray(np.ones((2, 3, 1), np.uint8)), np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"drop an alpha channel"):
        to_gray(np.zeros((4, 4, 4)))


def test_constant_image_power_at_dc():
    spec = log_power_spectrum(np.full((32, 32), 7.0))
    assert np.unravel_index(spec.argmax(), spec.shape) == (16, 16)
    avg = azimuthal_average(spec)
    assert avg.shape == (17,)
    assert avg[0] > avg[1:].max()


@pytest.mark.parametrize("k", [3, 5, 11])
def test_horizontal_cosine_peaks_at_radius_k(k):
    h, w = 48, 64  # non-square: k cycles across the width shifts the peak along columns only
    x = np.arange(w)[None, :]
    img = np.cos(2 * np.pi * k * x / w) * np.ones((h, 1))
    spec = log_power_spectrum(img)
    top2 = {tuple(int(i) for i in np.unravel_index(j, spec.shape)) for j in np.argsort(spec.ravel())[-2:]}
    assert top2 == {(24, 32 - k), (24, 32 + k)}
    assert azimuthal_average(spec).argmax() == k


def test_vertical_cosine_peaks_at_radius_k():
    h, w, k = 48, 64, 7
    img = np.cos(2 * np.pi * k * np.arange(h)[:, None] / h) * np.ones((1, w))
    spec = log_power_spectrum(img)
    assert spec[24 - k, 32] == pytest.approx(spec.max()) and spec[24 + k, 32] == pytest.approx(spec.max())
    assert azimuthal_average(spec).argmax() == k


def test_checkerboard_power_at_nyquist_corner():
    n = 32
    board = (-1.0) ** np.add.outer(np.arange(n), np.arange(n))  # period 2 along both axes
    spec = log_power_spectrum(board)
    # frequency (n/2, n/2) lands on index (0, 0) after fftshift: the Nyquist corner
    assert np.unravel_index(spec.argmax(), spec.shape) == (0, 0)
    full = azimuthal_average(spec, full=True)
    assert full.argmax() == len(full) - 1 == round(np.hypot(16, 16))


def test_azimuthal_average_by_hand_4x4():
    # Centre (2, 2). Ring 2 = rounded distance 2: (0,1) (0,2) (0,3) (1,0) (2,0) (3,0) -> 6 pixels.
    spec = np.ones((4, 4))
    spec[0, 2] = 5.0
    np.testing.assert_allclose(azimuthal_average(spec), [1.0, 1.0, 10 / 6])
    # full: ring 3 holds only (0, 0) at distance sqrt(8) ~ 2.83
    assert azimuthal_average(spec, full=True).shape == (4,)


def test_azimuthal_average_length_non_square():
    assert azimuthal_average(np.zeros((48, 64))).shape == (25,)
    assert azimuthal_average(np.zeros((15, 9))).shape == (5,)


def test_validation():
    with pytest.raises(ValueError, match="gray must be a 2-D image"):
        log_power_spectrum(np.zeros((3, 3, 3)))
    with pytest.raises(ValueError, match="gray contains NaN"):
        log_power_spectrum(np.array([[0.0, np.nan], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="eps must be > 0"):
        log_power_spectrum(np.zeros((4, 4)), eps=0.0)
    with pytest.raises(ValueError, match="spec2d must be a 2-D spectrum"):
        azimuthal_average(np.zeros(5))


def test_accumulator_matches_numpy_over_stack():
    rng = np.random.default_rng(0)
    imgs = rng.random((7, 16, 20)) * 255
    spec2d = np.stack([log_power_spectrum(g) for g in imgs])
    spec1d = np.stack([azimuthal_average(s) for s in spec2d])
    acc = SpectrumAccumulator()
    acc.add(imgs[0])
    acc.add(imgs[1:4])
    acc.add(imgs[4:])
    assert acc.n == 7
    np.testing.assert_allclose(acc.mean_1d(), spec1d.mean(0))
    np.testing.assert_allclose(acc.std_1d(), spec1d.std(0))
    np.testing.assert_allclose(acc.std_1d(ddof=1), spec1d.std(0, ddof=1))
    np.testing.assert_allclose(acc.mean_2d(), spec2d.mean(0))

    left, right = SpectrumAccumulator(), SpectrumAccumulator()
    left.add(imgs[:2])
    right.add(imgs[2:])
    left.merge(right)
    np.testing.assert_allclose(left.std_1d(), spec1d.std(0))
    np.testing.assert_allclose(left.mean_2d(), spec2d.mean(0))


def test_accumulator_errors():
    acc = SpectrumAccumulator()
    with pytest.raises(ValueError, match="no images added yet"):
        acc.mean_1d()
    acc.add(np.zeros((8, 8)))
    with pytest.raises(ValueError, match=r"gray has size \(8, 9\) but this accumulator holds \(8, 8\)"):
        acc.add(np.zeros((8, 9)))
    with pytest.raises(ValueError, match="ddof=1 needs more than 1 images"):
        acc.std_1d(ddof=1)

"""Known-answer tests for aigc_explain.analysis.regions (counts worked out by hand in the comments)."""

import warnings

import numpy as np
import pytest

from aigc_explain.analysis.regions import MeanMapAccumulator, region_masks, region_masses


def test_masks_224_defaults():
    m = region_masks(224, 224)
    # corners: 4 squares of 56x56; centre: 112x112 from row/col 56; border: width 28
    assert m["corner"].sum() == 4 * 56 * 56
    assert m["center"].sum() == 112 * 112
    assert m["border"].sum() == 224**2 - 168**2
    assert m["center"][56:168, 56:168].all() and not m["center"][55, 100] and not m["center"][168, 100]
    assert all(v.dtype == bool and v.shape == (224, 224) for v in m.values())


def test_masks_odd_7x9():
    m = region_masks(7, 9, border_frac=0.25)
    # corner 1 row x 2 cols each; centre 3 rows (top=(7-3)//2=2) x 4 cols (left=(9-4)//2=2); border 1
    assert m["corner"].sum() == 8
    expected_corner = np.zeros((7, 9), bool)
    expected_corner[[0, 0, 6, 6], [0, 1, 0, 1]] = True
    expected_corner[[0, 0, 6, 6], [7, 8, 7, 8]] = True
    np.testing.assert_array_equal(m["corner"], expected_corner)
    expected_center = np.zeros((7, 9), bool)
    expected_center[2:5, 2:6] = True
    np.testing.assert_array_equal(m["center"], expected_center)
    assert m["border"].sum() == 63 - 5 * 7


def test_masks_odd_15x15():
    m = region_masks(15, 15)
    # corner floor(3.75)=3 -> 4*9; centre floor(7.5)=7, top=4 -> rows 4..10; border floor(1.875)=1
    assert m["corner"].sum() == 36
    assert m["center"].sum() == 49 and m["center"][4:11, 4:11].all()
    assert m["border"].sum() == 225 - 13 * 13


def test_uniform_224():
    rm = region_masses(np.ones((224, 224)))
    assert rm.corner_mass[0] == pytest.approx(0.25)
    assert rm.center_mass[0] == pytest.approx(0.25)
    assert rm.corner_share[0] == pytest.approx(0.5)
    assert rm.border_mass[0] == pytest.approx((224**2 - 168**2) / 224**2)  # 0.4375
    assert not rm.empty[0]


def test_uniform_odd_7x9():
    rm = region_masses(np.full((7, 9), 3.0), border_frac=0.25)
    assert rm.corner_mass[0] == pytest.approx(8 / 63)
    assert rm.center_mass[0] == pytest.approx(12 / 63)
    assert rm.border_mass[0] == pytest.approx(28 / 63)
    assert rm.corner_share[0] == pytest.approx(8 / 20)


def test_corner_only_and_center_only():
    corner = np.zeros((224, 224))
    corner[200:, :10] = 5.0  # bottom-left corner square
    centre = np.zeros((224, 224))
    centre[100:120, 100:120] = 1.0
    rm = region_masses(np.stack([corner, centre]))
    np.testing.assert_allclose(rm.corner_mass, [1.0, 0.0])
    np.testing.assert_allclose(rm.center_mass, [0.0, 1.0])
    np.testing.assert_allclose(rm.corner_share, [1.0, 0.0])
    np.testing.assert_allclose(rm.border_mass, [1.0, 0.0])


def test_non_square_rows_first():
    # 40x80: corner squares are 10 rows x 20 cols, border width floor(0.125*40)=5
    top_left = np.zeros((40, 80))
    top_left[:10, :20] = 1.0
    rm = region_masses(top_left)
    assert rm.corner_mass[0] == pytest.approx(1.0)
    assert rm.corner_share[0] == pytest.approx(1.0)
    assert rm.border_mass[0] == pytest.approx((200 - 5 * 15) / 200)
    tall = np.zeros((40, 80))
    tall[:20, :10] = 1.0  # only rows 0..9 of it are in the corner square
    assert region_masses(tall).corner_mass[0] == pytest.approx(0.5)


def test_relu_is_applied():
    m = np.ones((224, 224))
    m[100:120, 100:120] = -50.0  # negative centre values must not cancel mass
    rm = region_masses(m)
    pos = 224**2 - 400
    assert rm.corner_mass[0] == pytest.approx(4 * 56 * 56 / pos)


def test_empty_maps_nan_without_warnings(unit_mass):
    maps = np.stack([np.zeros((32, 32)), -np.ones((32, 32)), np.full((32, 32), np.nan),
                     np.ones((32, 32))])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rm = region_masses(maps)
        um = unit_mass(maps)
    np.testing.assert_array_equal(rm.empty, [True, True, True, False])
    for arr in (rm.corner_mass, rm.center_mass, rm.border_mass, rm.corner_share):
        assert np.isnan(arr[:3]).all() and np.isfinite(arr[3])
    assert (um[:3] == 0).all() and um[3].sum() == pytest.approx(1.0)


def test_share_nan_when_only_between_regions():
    m = np.zeros((224, 224))
    m[0, 100] = 1.0  # top edge middle: border, neither corner nor centre
    rm = region_masses(m)
    assert rm.border_mass[0] == 1.0 and not rm.empty[0] and np.isnan(rm.corner_share[0])




@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"corner_frac": 0.0}, "corner_frac"), ({"corner_frac": 0.6}, "corner_frac"),
     ({"center_frac": 1.5}, "center_frac"), ({"border_frac": -0.1}, "border_frac"),
     ({"border_frac": 0.51}, "border_frac"), ({"center_frac": True}, "center_frac")],
)
def test_validation_fracs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        region_masks(224, 224, **kwargs)


def test_validation_shapes_and_tiny_maps():
    with pytest.raises(ValueError, match=r"border_frac=0.125 gives an empty region on a 7x7 map"):
        region_masks(7, 7)
    with pytest.raises(ValueError, match=r"maps must have shape \(N, H, W\) or \(H, W\)"):
        region_masses(np.ones(10))
    with pytest.raises(ValueError, match="h must be a positive int"):
        region_masks(0, 5)


def test_accumulator_mean_equals_direct(unit_mass):
    rng = np.random.default_rng(0)
    maps = rng.normal(size=(10, 20, 30))
    maps[3] = -1.0  # empty
    acc = MeanMapAccumulator()
    acc.add(maps[:4])
    acc.add(maps[4:])
    u = unit_mass(maps)
    keep = np.arange(10) != 3
    np.testing.assert_allclose(acc.mean(), u[keep].mean(axis=0))
    assert acc.n == 9 and acc.n_empty == 1
    assert acc.mean().sum() == pytest.approx(1.0)


def test_accumulator_merge_and_state_roundtrip(tmp_path):
    rng = np.random.default_rng(1)
    maps = rng.random((8, 16, 16))
    one, a, b = MeanMapAccumulator(), MeanMapAccumulator(), MeanMapAccumulator((16, 16))
    one.add(maps)
    a.add(maps[:5])
    b.add(maps[5:])
    a.merge(b)
    np.testing.assert_allclose(a.mean(), one.mean())
    assert (a.n, a.n_empty) == (one.n, one.n_empty)
    np.savez(tmp_path / "acc.npz", **one.state_dict())
    back = MeanMapAccumulator.from_state(dict(np.load(tmp_path / "acc.npz")))
    np.testing.assert_array_equal(back.mean(), one.mean())
    assert back.n == 8 and back.shape == (16, 16)


def test_accumulator_empty_and_shape_mismatch():
    acc = MeanMapAccumulator((4, 5))
    np.testing.assert_array_equal(acc.mean(), np.zeros((4, 5)))
    assert acc.n == 0
    with pytest.raises(ValueError, match=r"shape \(3, 5\) but this accumulator holds \(4, 5\)"):
        acc.add(np.ones((2, 3, 5)))
    fresh = MeanMapAccumulator.from_state(MeanMapAccumulator().state_dict())
    assert fresh.shape is None and fresh.n == 0
    with pytest.raises(ValueError, match="add maps first"):
        fresh.mean()

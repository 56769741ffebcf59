"""Localisation told apart from sampling noise, on known answers with reals and fakes drawn from different
photos: a faint (±10 grey levels) 2×2-block checkerboard planted in the corners, or in the centre, of every
fake; and two halves of the same reals, where nothing may be localised. A place is stated only when the
corner share beats the label-permutation null, and the p-value is reported."""

from __future__ import annotations

import json

import numpy as np
import pytest

from aigc_explain.evidence.gather import AuditSettings, run_audit
from aigc_explain.evidence.localise import ALPHA, choose_grid_block, localise

SETTINGS = AuditSettings(n_boot=300)  # default --size: native 160 px is kept


@pytest.mark.parametrize("disjoint", [False, True], ids=["other-crops", "other-photographs"])
@pytest.mark.parametrize("plant", ["corner", "center"])
def test_a_faint_plant_in_different_photos_is_localised_beyond_the_null(photo_classes, plant, disjoint):
    """Fakes are other crops of the photographs than the reals, or crops of other photographs altogether (the
    classes' content then differs everywhere, and only the plant has a place)."""
    summary = run_audit(photo_classes(n=48, size=160, plant=plant, disjoint=disjoint), SETTINGS).summary
    pixels = summary.overall.pixels
    share = pixels.corner_share
    assert share.p_value < ALPHA / 2 and pixels.localisation.n_perm == 200 and share == pixels.localisation.fake.corner_share
    if plant == "corner":
        assert share.mean >= 0.8 and share.ci95[0] > 0.5
        assert "it lies in the corners" in summary.verdict
    else:
        assert share.mean <= 0.3 and share.ci95[1] < 0.5
        assert "it lies in the centre" in summary.verdict
    assert f"permutation p = {share.p_value:.3g}" in summary.verdict
    json.dumps(summary.to_json(), allow_nan=False)


def test_two_halves_of_the_same_reals_have_no_localised_difference(photo_classes):
    root = photo_classes(n=96, size=160)
    fakes = sorted((root / "1_fake").iterdir())
    for i, path in enumerate(sorted((root / "0_real").iterdir())):  # both classes: halves of the same reals
        path.replace(fakes[i]) if i % 2 else fakes[i].unlink()
    summary = run_audit(root, SETTINGS).summary
    loc = summary.overall.pixels.localisation
    assert not loc.fake.localised and not loc.real.localised
    assert "There is no localised difference" in summary.verdict
    assert "lies in the" not in summary.verdict


def test_the_null_of_the_share_is_calibrated_on_shuffled_noise():
    """Pure noise features: over 40 seeds the corner share's p-value falls below 0.05 about 5% of the time."""
    rng = np.random.default_rng(0)
    ps = []
    for seed in range(40):
        x = rng.lognormal(0, 1, size=(60, 64)).astype(np.float32)  # heavy-tailed, like residual energy
        out = localise(np.log(x), np.repeat([0, 1], 30), (8, 8), n_perm=99, n_boot=20, seed=seed)
        ps.append(out.fake.corner_share.p_value)
    assert 0 <= np.mean(np.array(ps) < 0.05) <= 0.15


def test_the_grid_keeps_the_region_edges():
    fracs = (0.25, 0.5, 0.125)
    assert [choose_grid_block(s, s, fracs) for s in (32, 160, 224)] == [2, 10, 14]  # 16 cells per side

"""How alike two maps are: known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest




def test_map_correlations_known_answers():
    from aigc_explain.analysis.similarity import map_correlations

    a = np.arange(12, dtype=float).reshape(1, 3, 4) ** 1.5
    maps = np.concatenate([a, a, a, np.zeros_like(a)])
    other = np.concatenate([a, -a, np.exp(a / 10), a])
    pearson, spearman = map_correlations(maps, other)
    assert pearson[:2] == pytest.approx([1.0, -1.0]) and spearman[:3] == pytest.approx([1.0, -1.0, 1.0])
    assert pearson[2] < 0.999 and math.isnan(pearson[3]) and math.isnan(spearman[3])
    with pytest.raises(ValueError, match="one shape"):
        map_correlations(maps, other[:, :2])

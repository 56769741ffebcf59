"""Inference numbers: stable probabilities for saturated logits."""

import warnings

import numpy as np

from aigc_explain.core.inference import Predictions


def test_saturated_logits_give_probabilities_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        probs = Predictions(["a", "b", "c"], np.array([0, 1, 1]), np.array([-1000.0, 1000.0, 0.0])).probs
    assert probs.tolist() == [0.0, 1.0, 0.5]

"""Perturbations for robustness sweeps: strict specs, known answers, deterministic pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from aigc_explain.core.perturb import apply, parse_perturbations, Perturbation



def test_parse_perturbations_keeps_order_and_values():
    ps = parse_perturbations(["jpeg=95,75", "blur=1,0.5", "resize=0.5"])
    assert [p.name for p in ps] == ["jpeg=95", "jpeg=75", "blur=1", "blur=0.5", "resize=0.5"]
    assert ps[0] == Perturbation("jpeg", 95) and ps[3].value == 0.5
    assert parse_perturbations("JPEG=50")[0].kind == "jpeg"


@pytest.mark.parametrize("spec, message", [
    ("jpeg=0", "integer from 1 to 100"), ("jpeg=101", "integer from 1 to 100"), ("jpeg=95.5", "integer from 1 to 100"),
    ("blur=0", "sigma must be > 0"), ("blur=-1", "sigma must be > 0"), ("blur=nan", "finite"),
    ("resize=0", r"factor must be in \(0, 1\]"), ("resize=1.5", r"factor must be in \(0, 1\]"),
    ("resize=abc", "is not a number"), ("noise=1", "kind 'noise' is unknown"), ("jpeg", "has no values"),
    ("jpeg=", "has no values"), ("jpeg=95,,75", "empty value"), ("jpeg=95,95", "listed twice"),
])
def test_parse_perturbations_rejects_bad_specs(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_perturbations([spec])


def test_perturbations_keep_a_constant_image_constant():
    image = torch.full((3, 24, 18), 90, dtype=torch.uint8)
    for p in parse_perturbations(["jpeg=100,50,10", "blur=0.3,2,50", "resize=1,0.5,0.01"]):
        out = p(image)
        assert out.dtype == torch.uint8 and out.shape[0] == 3 and out.unique().numel() == 1, p.name
        if p.kind != "jpeg":  # JPEG may shift the level by its DC quantisation; the others must not
            assert int(out[0, 0, 0]) == 90, p.name


def test_apply_known_answers():
    rng = np.random.default_rng(0)
    image = torch.from_numpy(rng.integers(0, 256, (3, 32, 20), dtype=np.uint8))
    assert apply(image, Perturbation("resize", 0.5)).shape == (3, 16, 10)
    assert torch.equal(apply(image, Perturbation("resize", 1)), image)
    assert torch.equal(apply(image, Perturbation("blur", 0.01)), image)  # a 3x3 kernel of ~[0, 1, 0]
    assert torch.equal(apply(image, Perturbation("jpeg", 30)), apply(image, Perturbation("jpeg", 30)))
    blurred = apply(image, Perturbation("blur", 2)).float()
    assert blurred.std() < image.float().std() / 2  # blur removes most of white noise's variance
    with pytest.raises(ValueError, match=r"\(3, H, W\) uint8"):
        apply(image.float(), Perturbation("blur", 1))


def test_jpeg100_and_tiny_blur_barely_change_predictions(tmp_path: Path, tiny_detector, write_image):
    from aigc_explain.core.folders import find_samples
    from aigc_explain.core.inference import predict

    samples = find_samples(smooth_dataset(tmp_path / "smooth", write_image), require_labels=True)
    clean = predict(tiny_detector, samples).probs
    jpeg = predict(tiny_detector, samples, perturbation=Perturbation("jpeg", 100)).probs
    blur = predict(tiny_detector, samples, perturbation=Perturbation("blur", 0.01)).probs
    assert np.abs(jpeg - clean).max() < 0.01
    np.testing.assert_array_equal(blur, clean)


def smooth_dataset(root: Path, write_image, n: int = 3, size: int = 32) -> Path:
    """Low-frequency colour gradients: JPEG at quality 100 barely touches them."""
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1)
    for label, name in ((0, "0_real"), (1, "1_fake")):
        for i in range(n):
            img = np.stack([60 + 120 * xx, 60 + 120 * yy, 80 + 40 * (xx + yy) * (i + label + 1) / 4], axis=-1)
            write_image(root / name / f"{i}.png", img.astype(np.uint8))
    return root

"""Autocast: ``--amp auto`` is bf16 where the hardware computes bf16 natively and exact fp32 elsewhere; what a
run used is recorded and a resumed run keeps it; evaluate and cam stay exact fp32 unless asked."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from aigc_explain.core import inference
from aigc_explain.core.checkpoint import load_detector, read_checkpoint
from aigc_explain.core.evaluation import evaluate_folder
from aigc_explain.core.experiments import TrainConfig
from aigc_explain.core.inference import autocast, resolve_amp
from aigc_explain.core.resume import _amp_used, resume_run
from aigc_explain.core.training import fit

TINY = dict(model="test_resnet", weights="none", image_size=32, epochs=1, batch_size=4, lr=1e-3, seed=0)
CPU = torch.device("cpu")


def _cpu(monkeypatch, *flags: str) -> None:
    """Pretend the CPU reports exactly ``flags``."""
    monkeypatch.setattr(inference, "_cpu_flags", lambda: frozenset(flags))


@pytest.mark.parametrize("flags, used, unit", [(("avx512f", "amx_tile", "amx_bf16", "avx512_bf16"), "bf16", "AMX-BF16"),
                                               (("avx512f", "avx512_bf16"), "bf16", "AVX512-BF16"),
                                               (("avx2", "avx512f"), "off", "no native bf16")])
def test_auto_is_bf16_only_where_the_cpu_computes_it_natively(monkeypatch, flags, used, unit):
    _cpu(monkeypatch, *flags)
    mode, reason = resolve_amp(CPU, "auto")
    assert mode == used and unit in reason
    with autocast(CPU, "auto"):
        assert torch.is_autocast_enabled("cpu") == (used == "bf16")
    assert resolve_amp(CPU, "off")[0] == "off"
    mode, reason = resolve_amp(CPU, "bf16")
    assert mode == "bf16" and ("emulated" in reason) == (used == "off")
    with pytest.raises(ValueError, match="--amp 'fp16' is not one of auto, bf16, off"):
        resolve_amp(CPU, "fp16")


def test_real_cpu_flags_are_read():
    flags = inference._cpu_flags()
    if not Path("/proc/cpuinfo").is_file():
        pytest.skip("no /proc/cpuinfo")
    assert flags and any(f.startswith(("sse", "avx", "neon", "asimd", "fp")) for f in flags)


def _train(dataset: Path, out: Path, **kw):
    return fit(TrainConfig(data=str(dataset), out=str(out), **{**TINY, **kw}), progress=False)


def test_training_uses_records_and_resumes_with_its_autocast(dataset: Path, tmp_path: Path, monkeypatch):
    _cpu(monkeypatch, "amx_bf16")
    native = _train(dataset, tmp_path / "native")  # default --amp auto
    manifest = json.loads((tmp_path / "native" / "manifest.json").read_text())
    assert manifest["amp"]["asked"] == "auto" and manifest["amp"]["used"] == "bf16"
    assert "AMX-BF16" in manifest["amp"]["reason"]
    assert read_checkpoint(tmp_path / "native" / "checkpoint.pth")["amp"]["used"] == "bf16"
    # validation (which picks the best model) is exact fp32: evaluate reproduces the recorded val loss
    _, preds = evaluate_folder(load_detector(tmp_path / "native" / "final_model.pth"), dataset, split="val")
    loss = torch.nn.functional.binary_cross_entropy_with_logits(torch.as_tensor(preds.logits),
                                                                torch.as_tensor(preds.labels, dtype=torch.float64))
    assert abs(float(loss) - native.history[-1]["val_loss"]) < 1e-5
    forced = _train(dataset, tmp_path / "forced", amp="bf16")
    assert native.history[0]["train_loss"] == forced.history[0]["train_loss"]  # auto here is bf16 itself

    _cpu(monkeypatch)  # a CPU without native bf16: auto is exact fp32, the same numbers as --amp off
    plain = _train(dataset, tmp_path / "plain")
    off = _train(dataset, tmp_path / "off", amp="off")
    assert json.loads((tmp_path / "plain" / "manifest.json").read_text())["amp"]["used"] == "off"
    assert [r["train_loss"] for r in plain.history] == [r["train_loss"] for r in off.history]
    assert plain.history[0]["train_loss"] != native.history[0]["train_loss"]  # bf16 really was in use

    # Extending the bf16 run on the no-bf16 CPU keeps bf16: it equals a 2-epoch bf16 run bit for bit.
    resumed = resume_run(tmp_path / "native", overrides={"epochs": 2}, progress=False)
    straight = _train(dataset, tmp_path / "straight", amp="bf16", epochs=2)
    assert [r["val_loss"] for r in resumed.history] == [r["val_loss"] for r in straight.history]
    assert read_checkpoint(tmp_path / "native" / "checkpoint.pth")["amp"]["used"] == "bf16"


def test_checkpoints_from_before_the_record_resume_as_they_were_trained():
    cfg = TrainConfig(data="d", out="o", device="cpu")
    assert _amp_used({}, cfg) == "off"  # "auto" meant CUDA only then
    assert _amp_used({}, TrainConfig(data="d", out="o", amp="bf16")) == "bf16"
    assert _amp_used({"amp": {"used": "bf16"}}, cfg) == "bf16"


def test_evaluate_is_exact_fp32_by_default_and_bf16_on_request(dataset: Path, tiny_ckpt: Path, monkeypatch):
    _cpu(monkeypatch, "amx_bf16")  # even where auto would pick bf16, evaluate's default is exact
    detector = load_detector(tiny_ckpt)
    exact, preds = evaluate_folder(detector, dataset, split="val")
    with torch.no_grad():
        from aigc_explain.core.images import eval_transform, read_image

        x = torch.stack([eval_transform(32, detector.mean, detector.std)(read_image(p)) for p in preds.paths])
        reference = torch.sigmoid(detector(x).reshape(-1).double()).numpy()
    assert np.abs(preds.probs - reference).max() < 1e-6 and exact.amp.used == "off"
    half, half_preds = evaluate_folder(detector, dataset, split="val", amp="bf16")
    assert half.amp.used == "bf16"
    delta = np.abs(half_preds.probs - preds.probs)
    assert 0 < delta.max() < 0.05  # bf16 changes the numbers, a little


def test_cam_bf16_is_close_to_fp32_and_refused_where_grad_cam_runs_its_own_passes(dataset: Path, ckpt: Path):
    from aigc_explain.explain import CamSettings, explain_folder

    detector = load_detector(ckpt)
    exact = explain_folder(detector, dataset / "val", CamSettings(layer="layer2"))
    half = explain_folder(detector, dataset / "val", CamSettings(layer="layer2", amp="bf16"))
    a, b = exact.raw_maps.reshape(len(exact.paths), -1), half.raw_maps.reshape(len(half.paths), -1)
    assert not np.array_equal(a, b)
    r = [np.corrcoef(x, y)[0, 1] for x, y in zip(a, b)]
    assert min(r) > 0.95, r
    with pytest.raises(ValueError, match="--amp bf16 works with the one-pass methods"):
        CamSettings(method="scorecam", layer="layer2", amp="bf16")  # refused before any image is read
    with pytest.raises(ValueError, match="--amp 'fp16' is not one of"):
        CamSettings(amp="fp16")


def test_cam_auto_keeps_grad_cams_own_passes_in_fp32(dataset: Path, ckpt: Path, monkeypatch):
    from aigc_explain.explain import CamSettings, explain_folder

    _cpu(monkeypatch, "amx_bf16")  # where auto means bf16, a method without a one-pass path still runs, in fp32
    detector = load_detector(ckpt)
    auto = explain_folder(detector, dataset / "val", CamSettings(method="eigengradcam", layer="layer2", amp="auto"))
    exact = explain_folder(detector, dataset / "val", CamSettings(method="eigengradcam", layer="layer2"))
    assert not np.array_equal(auto.raw_maps, exact.raw_maps)  # a one-pass method: auto did use bf16
    settings = CamSettings(method="ablationcam", layer="layer2", amp="auto", batch_size=8)
    ablation = explain_folder(detector, dataset / "val", settings)
    reference = explain_folder(detector, dataset / "val", CamSettings(method="ablationcam", layer="layer2",
                                                                      batch_size=8))
    np.testing.assert_array_equal(ablation.raw_maps, reference.raw_maps)


def test_cpu_flags_are_read_once_per_process(dataset: Path, tmp_path: Path):
    inference._cpu_flags.cache_clear()
    _train(dataset, tmp_path / "run")  # default --amp auto: every training and validation batch
    assert inference._cpu_flags.cache_info().misses == 1

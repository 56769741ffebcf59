"""Bounded before reading, and the right blame: a small checkpoint never takes gigabytes (a huge architecture
named by a 2 KB file, a deflate bomb), NaN weights and NaN outputs name the checkpoint, input sizes and
normalisation are bounded, huge image files are skipped unread, long image names give short overlay names,
a layer without a spatial map names --list-layers, and a failed allocation names its size."""

import io
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from aigc_explain.cam import main as cam_main
from aigc_explain.core.checkpoint import load_detector
from aigc_explain.core.images import read_image
from aigc_explain.evaluate import main as evaluate_main
from aigc_explain.train import main as train_main

MAX_IMAGE_SIZE = 4096  # core.bounds.MAX_IMAGE_SIZE, the bound the README states
CAM = ["--no-progress", "--device", "cpu", "--overlays", "0"]


def _payload(path: Path) -> dict:
    return torch.load(path, weights_only=True)


def _peak_mib_of_loading(path: Path) -> tuple[int, str]:
    """Load ``path`` with load_detector in a fresh process: (MiB its peak memory grew by, its error line)."""
    code = ("import resource, sys, timm, torchvision\nfrom aigc_explain.core.checkpoint import load_detector\n"
            "peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024\nbefore = peak()\n"
            f"try:\n    load_detector({str(path)!r})\nexcept ValueError as e:\n    print(e)\n"
            "print(peak() - before)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    lines = done.stdout.strip().splitlines()
    return int(lines[-1]), lines[0] if len(lines) > 1 else done.stderr[-500:]


def test_a_tiny_checkpoint_naming_a_huge_model_is_refused_before_building(tiny_ckpt, tmp_path):
    payload = {**_payload(tiny_ckpt), "arch": "vit_huge_patch14_224", "image_size": 224}
    small = tmp_path / "huge.pth"
    payload["state_dict"] = {"cls_token": torch.zeros(1, 1, 1280)}
    torch.save(payload, small)
    assert small.stat().st_size < 16_000
    peak, line = _peak_mib_of_loading(small)
    assert "does not fit vit_huge_patch14_224" in line and "checked before building" in line
    assert peak < 400, f"{peak} MiB"  # vit_huge itself is 2.4 GiB of weights


def test_a_deflate_bomb_checkpoint_is_refused_unread(tiny_ckpt, tmp_path):
    buf = io.BytesIO()
    torch.save({**_payload(tiny_ckpt), "extra": torch.zeros(256 << 20, dtype=torch.uint8)}, buf)
    bomb = tmp_path / "bomb.pth"
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as src, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
    assert bomb.stat().st_size < 4 << 20
    peak, line = _peak_mib_of_loading(bomb)
    assert "a compressed archive that would inflate in memory" in line and "refused before loading" in line
    assert peak < 128, f"{peak} MiB"  # inflating it would take 256 MiB


def test_nan_weights_name_the_checkpoint(tiny_ckpt, dataset, tmp_path, capsys, error_line):
    payload = _payload(tiny_ckpt)
    payload["state_dict"]["fc.weight"][0, 0] = float("nan")
    bad = tmp_path / "nan.pth"
    torch.save(payload, bad)
    assert cam_main(["--ckpt", str(bad), "--images", str(dataset / "val"), "--out", str(tmp_path / "c"), *CAM]) == 2
    assert f"checkpoint {bad} holds non-finite weights (NaN or inf in fc.weight)" in error_line()
    assert evaluate_main(["--ckpt", str(bad), "--data", str(dataset), "--out", str(tmp_path / "e")]) == 2
    line = error_line()
    assert "non-finite weights" in line and "sigmoid" not in line


def test_nan_outputs_stop_the_run_naming_the_checkpoint(tiny_ckpt, dataset, tmp_path, capsys, error_line):
    payload = _payload(tiny_ckpt)
    first = next(k for k, v in payload["state_dict"].items() if v.ndim == 4)
    payload["state_dict"][first].fill_(3e38)  # finite, but every activation overflows
    bad = tmp_path / "overflow.pth"
    torch.save(payload, bad)
    out = tmp_path / "c"
    assert cam_main(["--ckpt", str(bad), "--images", str(dataset / "val"), "--out", str(out), "--layer", "layer1",
                     *CAM]) == 2
    line = error_line()
    assert f"checkpoint {bad} gives non-finite outputs (NaN or inf)" in line
    assert not out.exists()
    from aigc_explain.evaluate import main as evaluate_main

    assert evaluate_main(["--ckpt", str(bad), "--data", str(dataset), "--out", str(tmp_path / "e"),
                          "--device", "cpu"]) == 2
    assert f"checkpoint {bad} gives non-finite outputs (NaN or inf)" in error_line()
    assert not (tmp_path / "e").exists()


@pytest.mark.parametrize("change, message", [
    ({"image_size": 8192}, f"it must be an integer from 16 to {MAX_IMAGE_SIZE}"),
    ({"mean": [123.7, 116.3, 103.5]}, "mean [123.7, 116.3, 103.5] is outside [-1, 2]"),
    ({"std": [58.4, 57.1, 57.4]}, "std [58.4, 57.1, 57.4] is outside [0.001, 10]"),
])
def test_sizes_and_normalisation_are_bounded(tiny_ckpt, tmp_path, change, message):
    bad = tmp_path / "bad.pth"
    torch.save({**_payload(tiny_ckpt), **change}, bad)
    with pytest.raises(ValueError, match="malformed"):
        load_detector(bad)
    with pytest.raises(ValueError) as info:
        load_detector(bad)
    assert message in str(info.value)


def test_a_huge_image_size_flag_is_one_line_not_every_image_unreadable(dataset, tmp_path, capsys, error_line):
    assert train_main(["--data", str(dataset), "--out", str(tmp_path / "r"), "--model", "test_resnet", "--weights",
                       "none", "--image-size", "100000", "--epochs", "1", "--no-progress"]) == 2
    assert f"--image-size is 100000; it must be an integer from 16 to {MAX_IMAGE_SIZE}" in error_line()
    assert not (tmp_path / "r").exists()


def test_a_huge_sparse_image_file_is_refused_unread(tmp_path):
    junk = tmp_path / "junk.jpg"
    with open(junk, "wb") as fh:
        fh.write(b"\xff\xd8\xff\xe0" + bytes(16))
        fh.truncate(200 << 20)  # sparse: 200 MB that cost nothing on disk
    start = time.perf_counter()
    with pytest.raises(ValueError, match="larger than the 64 MiB limit"):
        read_image(junk)
    assert time.perf_counter() - start < 1.0


def test_a_long_image_name_gives_a_short_overlay_name(tiny_ckpt, dataset, tmp_path, write_image):
    images = tmp_path / "imgs" / "1_fake"
    long = "x" * 230
    write_image(images / f"{long}.png", np.full((32, 32, 3), 90, np.uint8))
    write_image(images / "b.png", np.full((32, 32, 3), 20, np.uint8))
    out = tmp_path / "c"
    assert cam_main(["--ckpt", str(tiny_ckpt), "--images", str(images), "--out", str(out), "--layer", "layer1",
                     "--no-progress", "--device", "cpu", "--overlays", "2"]) == 0
    names = [p.name for p in (out / "overlays").iterdir()]
    assert names and all(len(n) < 120 for n in names)
    assert any(n.startswith("fake_most") and "x" * 40 + "-" in n for n in names)


def test_a_layer_without_a_spatial_map_names_list_layers(tiny_ckpt, dataset, tmp_path, capsys, error_line):
    assert cam_main(["--ckpt", str(tiny_ckpt), "--images", str(dataset / "val"), "--out", str(tmp_path / "c"),
                     "--layer", "fc", *CAM]) == 2
    line = error_line()
    assert "--layer fc has no spatial map" in line and "--list-layers" in line
    assert not (tmp_path / "c").exists()


def test_a_failed_allocation_names_its_size(tiny_ckpt, dataset, tmp_path, monkeypatch, capsys, error_line):
    from aigc_explain.explain import save as cam_job

    def allocate(*args, **kwargs):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: "
                           "you tried to allocate 2147483648000 bytes. Error code 12 (Cannot allocate memory)")

    monkeypatch.setattr(cam_job, "explain_folder", allocate)
    assert cam_main(["--ckpt", str(tiny_ckpt), "--images", str(dataset / "val"), "--out", str(tmp_path / "c"),
                     "--layer", "layer1", *CAM]) == 2
    line = error_line()
    assert "out of memory: an allocation of 2000.00 GiB failed" in line and "--batch-size" in line


def test_resampling_counts_are_bounded(tiny_ckpt, dataset, tmp_path, capsys, error_line):
    from aigc_explain.compare import main as compare_main

    run = tmp_path / "c"
    assert cam_main(["--ckpt", str(tiny_ckpt), "--images", str(dataset / "val"), "--out", str(run), "--layer",
                     "layer1", *CAM]) == 0
    assert compare_main([str(run), str(run), "--labels", "a", "b", "--out", str(tmp_path / "o"), "--n-boot",
                         str(10**11)]) == 2
    assert "n_boot must be a positive int of at most 10,000,000" in error_line()

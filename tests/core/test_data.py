"""Folder layouts, bad files, mode conversion and the recorded transforms."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from aigc_explain.core.folders import balanced_subset, find_samples, split_folder
from aigc_explain.core.images import Reencode, Resize, eval_transform, read_image, read_rgb, train_transform
from aigc_explain.core.loader import collate, EpochSampler, ImageDataset



def test_split_root_class_folder_and_flat(dataset: Path, tmp_path: Path, write_image):
    every = find_samples(dataset)  # a split root: both splits, labels from folder names
    assert len(every) == 24 and {s.label for s in every} == {0, 1}
    val = find_samples(dataset / "val", require_labels=True)
    assert [s.label for s in val] == [0] * 4 + [1] * 4
    assert {s.label for s in find_samples(dataset / "val" / "1_fake")} == {1}  # folder named like a class
    flat = tmp_path / "flat"
    write_image(flat / "a.png", np.zeros((8, 8, 3), np.uint8))
    assert [s.label for s in find_samples(flat)] == [-1]


def test_real_fake_folder_names(tmp_path: Path, write_image):
    for name in ("real", "fake"):
        write_image(tmp_path / "d" / name / "x.png", np.zeros((8, 8, 3), np.uint8))
    assert sorted(s.label for s in find_samples(tmp_path / "d", require_labels=True)) == [0, 1]


def test_layout_errors_name_the_path(tmp_path: Path, write_image):
    with pytest.raises(FileNotFoundError, match="does not exist.*expected <root>"):
        find_samples(tmp_path / "missing")
    write_image(tmp_path / "d" / "0_real" / "x.png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(FileNotFoundError, match=r"class folder .*1_fake is missing"):
        find_samples(tmp_path / "d", require_labels=True)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images found under .*empty"):
        find_samples(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="split folder .*test is missing"):
        split_folder(tmp_path / "empty", "test")


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "CMYK", "I;16", "1", "LA"])
def test_modes_become_rgb(tmp_path: Path, mode: str):
    img = Image.new("RGB", (6, 4), (200, 100, 50))
    if mode == "I;16":
        arr = np.full((4, 6), 65535, np.uint16)
        img = Image.fromarray(arr)  # 16-bit gray: full scale must become 255, not be clipped from 65535
    else:
        img = img.convert(mode)
    path = tmp_path / ("x.tif" if mode in ("CMYK", "I;16") else "x.png")
    img.save(path)
    t = read_image(path)
    assert t.shape == (3, 4, 6) and t.dtype == torch.uint8 and t.is_contiguous()
    if mode == "I;16":
        assert int(t.min()) == 255


def test_the_audits_channels_last_path_gives_the_same_numbers(tmp_path: Path, write_image):
    """read_rgb, Resize.rgb and Reencode.decode_rgb (the audit's (H, W, 3) path) equal read_image, Resize and
    Reencode.decode to the last bit: down, up, odd sides and a no-op."""
    rng = np.random.default_rng(0)
    for h, w in ((64, 64), (45, 71), (20, 33)):
        path = write_image(tmp_path / f"{h}x{w}.jpg", rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        rgb = read_rgb(path)
        assert rgb.shape == (h, w, 3) and rgb.flags.c_contiguous
        assert np.array_equal(rgb, read_image(path).permute(1, 2, 0).numpy())
        for size in (32, 45, 64):
            out = Resize(size).rgb(rgb)
            assert out.shape == (size, size, 3) and out.flags.c_contiguous
            assert np.array_equal(out, Resize(size)(read_image(path)).permute(1, 2, 0).numpy()), (h, w, size)
        data = Reencode.parse("jpeg:50").encode(rgb)
        assert np.array_equal(Reencode.decode_rgb(data), Reencode.decode(data).permute(1, 2, 0).numpy())


def test_bad_files_are_reported_not_raised(tmp_path: Path, monkeypatch, write_image):
    good = write_image(tmp_path / "good.jpg", np.full((16, 16, 3), 128, np.uint8))
    (tmp_path / "text.jpg").write_text("not an image")
    data = good.read_bytes()
    (tmp_path / "trunc.jpg").write_bytes(data[: len(data) // 2])
    big = write_image(tmp_path / "bomb.png", np.zeros((64, 64, 3), np.uint8))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 4096 px > 2x limit: DecompressionBombError
    from aigc_explain.core.folders import Sample

    samples = [Sample(str(p), 0) for p in (good, tmp_path / "text.jpg", tmp_path / "trunc.jpg", big)]
    ds = ImageDataset(samples, eval_transform(8))
    batch = collate([ds[i] for i in range(4)])
    assert batch.images.shape == (1, 3, 8, 8) and batch.indices.tolist() == [0]
    reasons = dict(batch.failed)
    assert set(reasons) == {1, 2, 3}
    assert "UnidentifiedImageError" in reasons[1]
    assert "truncated" in reasons[2].lower()
    assert "DecompressionBomb" in reasons[3]


def test_eval_transform_keeps_corners():
    img = torch.zeros(3, 64, 48, dtype=torch.uint8)
    img[0, :8, :8] = 255  # a red top-left corner; a centre crop would lose it
    out = eval_transform(16, (0, 0, 0), (1, 1, 1))(img)
    assert out.shape == (3, 16, 16)
    assert out[0, 0, 0] == pytest.approx(1.0) and out[0, -1, -1] == pytest.approx(0.0)


@pytest.mark.parametrize("augment", ["none", "report", "blur-jpeg"])
def test_train_transforms_shape(augment):
    img = torch.randint(0, 255, (3, 40, 30), dtype=torch.uint8)
    assert train_transform(24, augment)(img).shape == (3, 24, 24)
    with pytest.raises(ValueError, match="augment='flip'"):
        train_transform(24, "flip")


def test_seeded_augmentation_is_reproducible(dataset: Path):
    samples = find_samples(dataset / "train")
    ds = ImageDataset(samples, train_transform(32, "report"), seed=3)
    a, b = ds[(1, 5)][0], ds[(1, 5)][0]
    assert torch.equal(a, b)  # same (seed, epoch, index): same augmentation
    assert not torch.equal(a, ds[(2, 5)][0])  # another epoch: another augmentation


def test_epoch_sampler_shuffles_per_epoch_and_skips():
    from torch.utils.data import DistributedSampler

    s = EpochSampler(DistributedSampler(list(range(10)), num_replicas=1, rank=0, shuffle=True, seed=0))
    s.set_epoch(0)
    e0 = list(s)
    s.set_epoch(1)
    assert sorted(i for _, i in s) == list(range(10)) and list(s) != [(1, i) for _, i in e0]
    s.set_epoch(0, skip=4)
    assert list(s) == e0[4:] and len(s) == 6


def test_balanced_subset_alternates_classes(dataset: Path):
    samples = find_samples(dataset / "train")
    sub = balanced_subset(samples, 5)
    assert [s.label for s in sub] == [0, 1, 0, 1, 0]
    assert balanced_subset(samples, None) == samples

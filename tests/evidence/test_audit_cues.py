"""File cues from headers: JPEG quality, tables, subsampling, metadata, bit depth, errors."""

from __future__ import annotations

import dataclasses
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from aigc_explain.evidence.cues import CUES, FileCues, UnreadableImageError, cues_from_bytes, read_cues
from aigc_explain.evidence.jpeg_quality import (
    ANNEX_K_CHROMINANCE,
    ANNEX_K_LUMINANCE,
    estimate_quality,
    ijg_table,
)


def photo(seed: int = 0, size: tuple[int, int] = (48, 64)) -> Image.Image:
    """A smooth colour field plus mild noise: compresses like a photo, not like white noise."""
    rng = np.random.default_rng(seed)
    h, w = size
    coarse = rng.uniform(0, 255, size=(h // 8 + 1, w // 8 + 1, 3))
    smooth = np.kron(coarse, np.ones((8, 8, 1)))[:h, :w]
    return Image.fromarray(np.clip(smooth + rng.normal(0, 6, smooth.shape), 0, 255).astype(np.uint8))


def save(path: Path, image: Image.Image, fmt: str, **options: object) -> Path:
    image.save(path, format=fmt, **options)
    return path


def test_registry_matches_the_dataclass_in_order() -> None:
    assert tuple(CUES) == tuple(f.name for f in dataclasses.fields(FileCues))
    assert {c.kind for c in CUES.values()} == {"numeric", "boolean", "categorical"}
    assert CUES["format"].kind == "categorical" and CUES["jpeg_quality"].kind == "numeric"


@pytest.mark.parametrize("quality", [30, 50, 75, 90, 95, 100])
def test_jpeg_quality_is_exact_for_pillow_files(tmp_path: Path, quality: int) -> None:
    cues = read_cues(save(tmp_path / "a.jpg", photo(), "JPEG", quality=quality))
    assert cues.format == "JPEG"
    assert cues.jpeg_quality == quality
    assert cues.jpeg_standard_tables is True


def test_estimate_quality_inverts_every_ijg_table() -> None:
    for q in range(1, 101):
        tables = ijg_table(ANNEX_K_LUMINANCE, q), ijg_table(ANNEX_K_CHROMINANCE, q)
        assert estimate_quality(*tables) == (q, True)


def test_custom_tables_give_the_nearest_quality_and_not_standard(tmp_path: Path) -> None:
    luma = ijg_table(ANNEX_K_LUMINANCE, 80).copy()
    luma[0] += 3  # a camera-style tweak of the DC step
    chroma = ijg_table(ANNEX_K_CHROMINANCE, 80)
    path = save(tmp_path / "c.jpg", photo(), "JPEG", qtables=[luma.tolist(), chroma.tolist()])
    cues = read_cues(path)
    assert cues.jpeg_quality == 80 and cues.jpeg_standard_tables is False
    with pytest.raises(ValueError, match="64 values"):
        estimate_quality([1, 2, 3])


@pytest.mark.parametrize(("subsampling", "expected"), [(0, "4:4:4"), (1, "4:2:2"), (2, "4:2:0")])
def test_chroma_subsampling(tmp_path: Path, subsampling: int, expected: str) -> None:
    path = save(tmp_path / "s.jpg", photo(), "JPEG", quality=90, subsampling=subsampling)
    assert read_cues(path).chroma_subsampling == expected


def test_grayscale_jpeg(tmp_path: Path) -> None:
    cues = read_cues(save(tmp_path / "g.jpg", photo().convert("L"), "JPEG", quality=85))
    assert (cues.chroma_subsampling, cues.mode, cues.jpeg_quality, cues.bit_depth) == ("gray", "L", 85, 8)


@pytest.mark.parametrize("progressive", [True, False])
def test_progressive_flag(tmp_path: Path, progressive: bool) -> None:
    path = save(tmp_path / "p.jpg", photo(), "JPEG", quality=90, progressive=progressive)
    assert read_cues(path).progressive is progressive


def test_plain_jpeg_has_no_metadata(tmp_path: Path) -> None:
    cues = read_cues(save(tmp_path / "plain.jpg", photo(), "JPEG", quality=90))
    assert (cues.has_exif, cues.has_icc, cues.has_comment, cues.has_xmp) == (False, False, False, False)
    assert (cues.app_segments, cues.app_markers) == (0, "none")


def test_exif_comment_and_xmp_are_detected(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0110] = "TestCam"  # Model
    path = save(tmp_path / "m.jpg", photo(), "JPEG", quality=90, exif=exif, comment="hello",
                xmp=b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")
    cues = read_cues(path)
    assert (cues.has_exif, cues.has_comment, cues.has_xmp, cues.has_icc) == (True, True, True, False)
    assert (cues.app_segments, cues.app_markers) == (2, "APP1")  # EXIF and XMP are both APP1


def test_icc_profile_is_detected(tmp_path: Path) -> None:
    image_cms = pytest.importorskip("PIL.ImageCms")
    try:
        icc = image_cms.ImageCmsProfile(image_cms.createProfile("sRGB")).tobytes()
    except Exception as exc:  # Pillow built without littlecms
        pytest.skip(f"no ICC support: {exc}")
    jpeg = read_cues(save(tmp_path / "i.jpg", photo(), "JPEG", quality=90, icc_profile=icc))
    png = read_cues(save(tmp_path / "i.png", photo(), "PNG", icc_profile=icc))
    assert jpeg.has_icc and jpeg.app_markers == "APP2" and png.has_icc


def test_png_bit_depth_mode_and_neutral_jpeg_cues(tmp_path: Path) -> None:
    eight = read_cues(save(tmp_path / "8.png", photo(), "PNG"))
    deep = Image.fromarray(np.arange(48 * 64, dtype=np.uint16).reshape(48, 64) * 20)
    sixteen = read_cues(save(tmp_path / "16.png", deep, "PNG"))
    assert (eight.format, eight.mode, eight.bit_depth) == ("PNG", "RGB", 8)
    assert (sixteen.mode, sixteen.bit_depth) == ("I;16", 16)
    assert (eight.jpeg_quality, eight.jpeg_standard_tables, eight.app_segments) == (None, None, None)
    assert (eight.chroma_subsampling, eight.app_markers, eight.progressive) == ("n/a", "n/a", False)


def test_png_text_chunk_counts_as_comment(tmp_path: Path) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a photo of a cat, Steps: 20")  # what SD web UIs write
    assert read_cues(save(tmp_path / "t.png", photo(), "PNG", pnginfo=info)).has_comment
    assert not read_cues(save(tmp_path / "n.png", photo(), "PNG")).has_comment


def test_sizes(tmp_path: Path) -> None:
    path = save(tmp_path / "z.webp", photo(size=(40, 100)), "WEBP", quality=80)
    cues = read_cues(path)
    assert (cues.format, cues.width, cues.height, cues.aspect_ratio) == ("WEBP", 100, 40, 2.5)
    assert cues.file_size == os.path.getsize(path)
    assert cues.bytes_per_pixel == pytest.approx(os.path.getsize(path) / 4000)


def test_bytes_and_path_agree(tmp_path: Path) -> None:
    path = save(tmp_path / "b.jpg", photo(), "JPEG", quality=70)
    assert cues_from_bytes(path.read_bytes(), "b.jpg") == read_cues(path)
    buffer = io.BytesIO()
    photo().save(buffer, format="GIF")
    assert cues_from_bytes(buffer.getvalue()).format == "GIF"


def test_garbage_truncated_empty_and_missing_files(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"this is not an image at all" * 4)
    with pytest.raises(UnreadableImageError, match=r"garbage\.jpg: not an image format Pillow recognises"):
        read_cues(garbage)
    full = save(tmp_path / "full.jpg", photo(), "JPEG", quality=90).read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(full[:120])  # inside the quantisation tables
    with pytest.raises(ValueError, match=r"cut\.jpg: starts like a JPEG file but its header is truncated"):
        read_cues(cut)
    png = save(tmp_path / "full.png", photo(), "PNG").read_bytes()
    with pytest.raises(UnreadableImageError, match="starts like a PNG file"):
        cues_from_bytes(png[:20], "cut.png")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(UnreadableImageError, match="empty file"):
        read_cues(tmp_path / "empty.png")
    with pytest.raises(FileNotFoundError, match="no such image file"):
        read_cues(tmp_path / "missing.png")
    with pytest.raises(TypeError, match="data must be bytes"):
        cues_from_bytes("not bytes")  # type: ignore[arg-type]


def test_import_is_cheap() -> None:
    code = ("import sys, aigc_explain.evidence.cues, aigc_explain.evidence.classifier; "
            "print(sorted(m for m in ('torch', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

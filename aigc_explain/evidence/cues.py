"""File cues read from image headers: container, size, JPEG quality and tables, subsampling, metadata.

Real-vs-AI datasets often leak the label through the file itself (GenImage's reals are JPEGs of varied
quality and its fakes PNGs; Grommelt et al. 2024, "Fake or JPEG?"). These cues are what a detector could
learn instead of the generator. Only headers are read (Pillow's lazy ``Image.open``, never ``.load()``,
plus a walk over PNG chunk headers), so a truncated *pixel* stream is not detected here.

Cues that do not apply to a file are ``None`` (numeric and boolean JPEG-only cues: ``jpeg_quality``,
``jpeg_standard_tables``, ``app_segments``) or ``"n/a"`` (categorical: ``chroma_subsampling``,
``app_markers``). Metadata flags are plain False when a format cannot carry the item.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, BinaryIO, Literal

from PIL import Image, JpegImagePlugin

from aigc_explain.evidence.jpeg_quality import estimate_quality

CueKind = Literal["numeric", "boolean", "categorical"]
CueValue = str | int | float | bool | None  # one cell of a cue row


@dataclass(frozen=True)
class Cue:
    """One file cue: its name, how to encode it, and what it means."""
    name: str
    kind: CueKind
    description: str


_CUE_LIST = (
    Cue("format", "categorical", "container format as Pillow names it (JPEG, PNG, WEBP, MPO, ...)"),
    Cue("width", "numeric", "width in pixels"),
    Cue("height", "numeric", "height in pixels"),
    Cue("aspect_ratio", "numeric", "width / height"),
    Cue("file_size", "numeric", "file size in bytes"),
    Cue("bytes_per_pixel", "numeric", "file size / (width * height): how hard the file is compressed"),
    Cue("jpeg_quality", "numeric", "IJG quality 1-100 nearest to the luminance table (JPEG only)"),
    Cue("jpeg_standard_tables", "boolean",
        "tables are exactly libjpeg's scaled Annex K tables at jpeg_quality (JPEG only)"),
    Cue("chroma_subsampling", "categorical", "4:4:4, 4:2:2, 4:2:0, 4:1:1, 4:4:0, gray, other (JPEG only)"),
    Cue("progressive", "boolean", "progressive JPEG, or interlaced PNG/GIF"),
    Cue("has_exif", "boolean", "carries EXIF metadata"),
    Cue("has_icc", "boolean", "carries an embedded ICC colour profile"),
    Cue("has_comment", "boolean",
        "carries a comment: JPEG COM, GIF comment, PNG text chunk, TIFF description"),
    Cue("has_xmp", "boolean", "carries XMP metadata"),
    Cue("app_segments", "numeric", "number of APPn segments besides APP0 (JPEG only)"),
    Cue("app_markers", "categorical", "which APPn markers besides APP0, e.g. APP1+APP2, or none (JPEG only)"),
    Cue("mode", "categorical", "Pillow colour mode (RGB, L, RGBA, P, I;16, CMYK, ...)"),
    Cue("bit_depth", "numeric", "bits per sample: JPEG/PNG/TIFF from the header, else from the mode"),
)
CUES: Mapping[str, Cue] = MappingProxyType({c.name: c for c in _CUE_LIST})
NOT_APPLICABLE = "n/a"


@dataclass(frozen=True)
class FileCues:
    """The cues of one image file, in ``CUES`` order; ``as_dict()`` gives a plain row."""
    format: str
    width: int
    height: int
    aspect_ratio: float
    file_size: int
    bytes_per_pixel: float
    jpeg_quality: int | None
    jpeg_standard_tables: bool | None
    chroma_subsampling: str
    progressive: bool
    has_exif: bool
    has_icc: bool
    has_comment: bool
    has_xmp: bool
    app_segments: int | None
    app_markers: str
    mode: str
    bit_depth: int

    def as_dict(self) -> dict[str, CueValue]:
        return asdict(self)


class UnreadableImageError(ValueError):
    """The file's header cannot be read; the message says which file and why."""


_MAGIC = (
    (b"\xff\xd8\xff", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"GIF8", "GIF"), (b"BM", "BMP"),
    (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"), (b"RIFF", "WEBP"),
)
_MODE_BITS = {"1": 1, "I;16": 16, "I;16B": 16, "I;16L": 16, "I;16N": 16, "I": 32, "F": 32}
_SUBSAMPLING = {(1, 1): "4:4:4", (2, 1): "4:2:2", (2, 2): "4:2:0", (4, 1): "4:1:1", (1, 2): "4:4:0"}
_XMP_APP1 = b"http://ns.adobe.com/xap/1.0/\x00"
_TIFF_EXIF_IFD, _TIFF_XMP, _TIFF_DESCRIPTION, _TIFF_BITS = 34665, 700, 270, 258


def _unreadable(name: str, head: bytes, exc: Exception | None) -> UnreadableImageError:
    if not head:
        return UnreadableImageError(f"{name}: empty file (0 bytes)")
    if isinstance(exc, Image.DecompressionBombError):
        return UnreadableImageError(f"{name}: {exc}")
    fmt = next((f for magic, f in _MAGIC if head.startswith(magic)), None)
    detail = f" ({type(exc).__name__}: {exc})" if exc is not None and "identify" not in str(exc) else ""
    if fmt is None:
        return UnreadableImageError(
            f"{name}: not an image format Pillow recognises (first bytes {head[:8].hex()}){detail}")
    return UnreadableImageError(
        f"{name}: starts like a {fmt} file but its header is truncated or corrupt{detail}; "
        "re-export or re-download the file")


def _jpeg_cues(im: JpegImagePlugin.JpegImageFile) -> dict[str, Any]:
    luma_id = im.layer[0][3] if im.layer else 0
    chroma_id = im.layer[1][3] if len(im.layer) > 1 else None
    tables = im.quantization
    if luma_id not in tables:
        raise ValueError(f"no quantisation table {luma_id} for the luminance component")
    chroma = tables.get(chroma_id) if chroma_id is not None else None
    quality, standard = estimate_quality(tables[luma_id], chroma)
    if im.layers == 1:
        subsampling = "gray"
    else:
        h_max = max(h for _, h, _, _ in im.layer[1:])
        v_max = max(v for _, _, v, _ in im.layer[1:])
        y_h, y_v = im.layer[0][1:3]
        ratio = (y_h // h_max, y_v // v_max) if y_h % h_max == 0 and y_v % v_max == 0 else None
        subsampling = _SUBSAMPLING.get(ratio, "other")
    markers = sorted({m for m, _ in im.applist if m.startswith("APP") and m != "APP0"},
                     key=lambda m: int(m[3:]))
    return {
        "jpeg_quality": quality,
        "jpeg_standard_tables": standard,
        "chroma_subsampling": subsampling,
        "progressive": bool(im.info.get("progressive")),
        "app_segments": sum(1 for m, _ in im.applist if m.startswith("APP") and m != "APP0"),
        "app_markers": "+".join(markers) or "none",
        "has_xmp": any(m == "APP1" and s.startswith(_XMP_APP1) for m, s in im.applist),
        "bit_depth": int(im.bits),
    }


def _png_cues(fp: BinaryIO) -> dict[str, Any]:
    """Walk the PNG chunk headers (skipping their data) for metadata that may follow the pixels."""
    found = {"has_exif": False, "has_icc": False, "has_comment": False, "has_xmp": False}
    extra: dict[str, Any] = {}
    fp.seek(8)
    while len(head := fp.read(8)) == 8:
        length, kind = int.from_bytes(head[:4], "big"), head[4:]
        if kind == b"IHDR":
            data = fp.read(13)
            extra = {"bit_depth": data[8], "progressive": data[12] == 1}
            length -= len(data)
        elif kind == b"iTXt":
            keyword = fp.read(min(length, 18))
            length -= len(keyword)
            found["has_xmp" if keyword.startswith(b"XML:com.adobe.xmp") else "has_comment"] = True
        elif kind in (b"tEXt", b"zTXt"):
            found["has_comment"] = True
        elif kind in (b"eXIf", b"iCCP"):
            found["has_exif" if kind == b"eXIf" else "has_icc"] = True
        elif kind == b"IEND":
            break
        fp.seek(length + 4, io.SEEK_CUR)  # chunk data left + CRC
    return {**found, **extra}


def _tiff_cues(im: Image.Image) -> dict[str, Any]:
    tags = getattr(im, "tag_v2", {})
    bits = tags.get(_TIFF_BITS)
    out = {"has_exif": _TIFF_EXIF_IFD in tags, "has_xmp": _TIFF_XMP in tags,
           "has_comment": _TIFF_DESCRIPTION in tags}
    if bits:
        out["bit_depth"] = int(bits[0] if isinstance(bits, tuple) else bits)
    return out


def _generic_cues(im: Image.Image, file_size: int) -> dict[str, Any]:
    width, height = im.size
    info = im.info
    tile_args = im.tile[0].args if im.format == "GIF" and im.tile else None
    return {
        "format": str(im.format), "width": width, "height": height,
        "aspect_ratio": width / height, "file_size": file_size,
        "bytes_per_pixel": file_size / (width * height),
        "jpeg_quality": None, "jpeg_standard_tables": None, "chroma_subsampling": NOT_APPLICABLE,
        "progressive": bool(tile_args and len(tile_args) > 1 and tile_args[1]),
        "has_exif": bool(info.get("exif")), "has_icc": bool(info.get("icc_profile")),
        "has_comment": bool(info.get("comment")), "has_xmp": bool(info.get("xmp")),
        "app_segments": None, "app_markers": NOT_APPLICABLE,
        "mode": im.mode, "bit_depth": _MODE_BITS.get(im.mode, 8),
    }


def _read(fp: BinaryIO, file_size: int, name: str) -> FileCues:
    head = fp.read(16)
    fp.seek(0)
    try:
        with Image.open(fp) as im:
            if im.width <= 0 or im.height <= 0:
                raise ValueError(f"zero-sized image {im.width}x{im.height}")
            cues = _generic_cues(im, file_size)
            if isinstance(im, JpegImagePlugin.JpegImageFile):
                cues.update(_jpeg_cues(im))
            elif im.format == "TIFF":
                cues.update(_tiff_cues(im))
        if cues["format"] == "PNG":  # Pillow stops at the first IDAT; metadata may come later
            for key, value in _png_cues(fp).items():
                cues[key] = (cues[key] or value) if key.startswith("has_") else value
    except Exception as exc:  # any decoder failure becomes one readable reason for skipped.csv
        raise _unreadable(name, head, exc) from exc
    return FileCues(**cues)


def cues_from_bytes(data: bytes, name: str = "<bytes>") -> FileCues:
    """Cues of an image held in memory (e.g. re-encoded); ``name`` is used in error messages."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, got {type(data).__name__}; pass the encoded file's bytes")
    data = bytes(data)
    return _read(io.BytesIO(data), len(data), name)


def read_cues(path: str | os.PathLike[str]) -> FileCues:
    """Cues of one image file, from its headers only.

    Raises FileNotFoundError for a missing path and UnreadableImageError (a ValueError) naming the
    file and the reason when its header cannot be read.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no such image file {path}; check the path")
    with path.open("rb") as fp:
        return _read(fp, os.fstat(fp.fileno()).st_size, str(path))

"""Recognise an image by its bytes and read its dimensions from the header, in pure Python.

No Pillow: the Lambdas stay small and start fast. Only the first bytes are inspected (a few
hundred for PNG/GIF/WebP/BMP; JPEG walks its segment markers up to the frame header).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from scones_domain.errors import (
    CorruptImage,
    ImageDimensionsTooLarge,
    ImageTooLarge,
    NotAnImage,
    UnsupportedContentType,
)

PNG = "image/png"
JPEG = "image/jpeg"
GIF = "image/gif"
WEBP = "image/webp"
BMP = "image/bmp"

# What the classifier endpoint accepts (the model's inference code decodes these two).
ENDPOINT_CONTENT_TYPES = (PNG, JPEG)

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers carry the dimensions (DHT 0xC4, JPG 0xC8, DAC 0xCC are not SOFs).
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
# Markers without a length field: TEM, RST0-7, SOI, EOI.
_JPEG_STANDALONE = {0x01, *range(0xD0, 0xDA)}


@dataclass(frozen=True)
class ImageInfo:
    content_type: str
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


def sniff_content_type(data: bytes) -> str:
    """The image type named by the leading signature; NotAnImage when none matches."""
    if data.startswith(_PNG_SIGNATURE):
        return PNG
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    if data[:2] == b"BM" and len(data) >= 18:
        return BMP
    raise NotAnImage(
        f"the first bytes {data[:8].hex(' ') or '(empty)'} match no PNG, JPEG, GIF, WebP or BMP"
        " signature"
    )


def inspect_image(data: bytes) -> ImageInfo:
    """Content type and dimensions of ``data``; NotAnImage or CorruptImage when unreadable."""
    content_type = sniff_content_type(data)
    try:
        width, height = _READERS[content_type](data)
    except (struct.error, IndexError, ValueError) as exc:
        raise CorruptImage(f"{content_type} header cannot be read: {exc}") from None
    if width <= 0 or height <= 0:
        raise CorruptImage(f"{content_type} header gives impossible dimensions {width}x{height}")
    return ImageInfo(content_type, width, height)


def check_image(data: bytes, *, max_bytes: int, max_pixels: int) -> ImageInfo:
    """Inspect ``data`` and enforce the limits and the endpoint's content types."""
    check_size(len(data), max_bytes)
    info = inspect_image(data)
    if info.pixels > max_pixels:
        raise ImageDimensionsTooLarge(
            f"{info.width}x{info.height} = {info.pixels} pixels exceeds the limit of {max_pixels}"
        )
    check_content_type(info.content_type)
    return info


def check_size(size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise ImageTooLarge(f"{size} bytes exceeds the limit of {max_bytes} bytes")


def check_content_type(content_type: str) -> None:
    if content_type not in ENDPOINT_CONTENT_TYPES:
        raise UnsupportedContentType(
            f"{content_type!r} is not accepted by the classifier (accepted: "
            f"{', '.join(ENDPOINT_CONTENT_TYPES)})"
        )


def _png_size(data: bytes) -> tuple[int, int]:
    if data[12:16] != b"IHDR":
        raise ValueError("no IHDR chunk after the signature")
    return struct.unpack(">II", data[16:24])


def _jpeg_size(data: bytes) -> tuple[int, int]:
    offset = 2
    while offset < len(data):
        if data[offset] != 0xFF:
            raise ValueError(f"expected a marker at byte {offset}")
        while data[offset] == 0xFF:  # fill bytes
            offset += 1
        marker = data[offset]
        offset += 1
        if marker in _JPEG_STANDALONE:
            continue
        (length,) = struct.unpack(">H", data[offset : offset + 2])
        if marker in _JPEG_SOF:
            height, width = struct.unpack(">HH", data[offset + 3 : offset + 7])
            return width, height
        if marker == 0xDA:
            raise ValueError("scan data before any frame header")
        offset += length
    raise ValueError("no frame header")


def _gif_size(data: bytes) -> tuple[int, int]:
    return struct.unpack("<HH", data[6:10])


def _webp_size(data: bytes) -> tuple[int, int]:
    chunk = data[12:16]
    if chunk == b"VP8X":
        if len(data) < 30:
            raise ValueError("VP8X chunk truncated")
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    if chunk == b"VP8 ":
        if data[23:26] != b"\x9d\x01\x2a":
            raise ValueError("VP8 start code missing")
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L":
        if data[20] != 0x2F:
            raise ValueError("VP8L signature missing")
        (bits,) = struct.unpack("<I", data[21:25])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    raise ValueError(f"unknown WebP chunk {chunk!r}")


def _bmp_size(data: bytes) -> tuple[int, int]:
    (header_size,) = struct.unpack("<I", data[14:18])
    if header_size == 12:  # OS/2 BITMAPCOREHEADER
        return struct.unpack("<HH", data[18:22])
    width, height = struct.unpack("<ii", data[18:26])
    return width, abs(height)  # negative height: rows stored top-down


_READERS = {PNG: _png_size, JPEG: _jpeg_size, GIF: _gif_size, WEBP: _webp_size, BMP: _bmp_size}

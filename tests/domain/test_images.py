"""Image recognition by bytes and header dimensions (scones_domain.images), on real files."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scones_domain import images
from scones_domain.errors import (
    CorruptImage,
    ImageDimensionsTooLarge,
    ImageTooLarge,
    NotAnImage,
    UnsupportedContentType,
)

FORMATS = [
    ("PNG", {}, "image/png"),
    ("JPEG", {"quality": 90}, "image/jpeg"),
    ("JPEG", {"progressive": True}, "image/jpeg"),
    ("GIF", {}, "image/gif"),
    ("WEBP", {"lossless": False}, "image/webp"),
    ("WEBP", {"lossless": True}, "image/webp"),
    ("WEBP", {"exif": b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x00"}, "image/webp"),  # VP8X
    ("BMP", {}, "image/bmp"),
]


@pytest.mark.parametrize(("fmt", "options", "content_type"), FORMATS)
def test_inspect_reads_type_and_dimensions_from_the_bytes(fmt, options, content_type, make_image):
    # GIVEN a real 37x21 image encoded by Pillow
    data = make_image(fmt, (37, 21), **options)
    # WHEN it is inspected
    info = images.inspect_image(data)
    # THEN type and dimensions come from its header
    assert (info.content_type, info.width, info.height) == (content_type, 37, 21)


def test_real_cifar_png_is_a_32x32_png(real_png):
    # GIVEN a real CIFAR-100 PNG  WHEN inspected  THEN it is a 32x32 PNG
    _, data = real_png
    assert images.inspect_image(data) == images.ImageInfo("image/png", 32, 32)


@pytest.mark.parametrize(
    "data",
    [b"", b"hello, I am a text file named bicycle.png", b"%PDF-1.7\n", b"\x00" * 64],
    ids=["empty", "text", "pdf", "zeros"],
)
def test_bytes_without_an_image_signature_are_not_an_image(data):
    # GIVEN bytes of no image format  WHEN inspected  THEN NotAnImage
    with pytest.raises(NotAnImage):
        images.inspect_image(data)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP", "BMP"])
def test_truncated_header_is_a_corrupt_image(fmt, make_image):
    # GIVEN only the first bytes of a real image (the signature, not the header)
    data = make_image(fmt)
    cut = {"PNG": 14, "JPEG": 4, "GIF": 8, "WEBP": 18, "BMP": 20}[fmt]
    # WHEN inspected  THEN the format is recognised but the image is corrupt
    with pytest.raises(CorruptImage):
        images.inspect_image(data[:cut])


def test_check_image_enforces_bytes_then_pixels_then_accepted_types(make_image):
    png = make_image("PNG", (40, 30))
    # GIVEN limits just below the image's size  THEN the named limit error
    with pytest.raises(ImageTooLarge):
        images.check_image(png, max_bytes=len(png) - 1, max_pixels=10_000)
    with pytest.raises(ImageDimensionsTooLarge):
        images.check_image(png, max_bytes=len(png), max_pixels=40 * 30 - 1)
    # AND exactly at the limits it passes
    assert images.check_image(png, max_bytes=len(png), max_pixels=40 * 30).pixels == 1200
    # AND a recognised format the endpoint does not accept is named so
    with pytest.raises(UnsupportedContentType):
        images.check_image(make_image("GIF"), max_bytes=10**6, max_pixels=10**6)


@settings(max_examples=300, deadline=None)
@given(
    st.binary(max_size=64),
    st.sampled_from(
        [b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF89a", b"BM", b"RIFF\x00\x00\x00\x00WEBP"]
    ),
)
def test_any_bytes_give_an_image_info_or_a_named_error(tail, prefix):
    # GIVEN arbitrary bytes, often starting with a real signature
    data = prefix + tail
    # WHEN inspected  THEN never an unnamed crash
    try:
        info = images.inspect_image(data)
    except (NotAnImage, CorruptImage):
        return
    assert info.width > 0 and info.height > 0

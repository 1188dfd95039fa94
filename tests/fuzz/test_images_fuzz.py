"""Property tests of the functions' image checks (scones_domain.images): bytes in, named out.

Random bytes, real PNG/JPEG files cut at any point, and headers of every recognised format
that claim up to 100000 x 100000 pixels (decompression bombs by header) must give an ImageInfo
or a named error (NotAnImage, CorruptImage, ImageTooLarge, ImageDimensionsTooLarge,
UnsupportedContentType), within a memory bound: only the header is ever read. How long each
takes is measured in benchmarks/input_checks_bench.py.
"""

from __future__ import annotations

from fuzz_images import (
    bmp_header,
    gif_header,
    jpeg_header,
    png_header,
    real_image,
    webp_vp8x_header,
)
from fuzzing import FUZZ, peak_memory
from hypothesis import given
from hypothesis import strategies as st

from scones_domain import errors
from scones_domain.images import ImageInfo, check_image

MAX_BYTES = 5 * 1024 * 1024  # the template's MaxImageBytes order of magnitude
MAX_PIXELS = 4_000_000
IMAGE_ERRORS = (errors.NotAnImage, errors.CorruptImage, errors.ImageTooLarge,
                errors.ImageDimensionsTooLarge, errors.UnsupportedContentType)
HEADER_BUILDERS = {"png": png_header, "jpeg": jpeg_header, "gif": gif_header, "bmp": bmp_header,
                   "webp": webp_vp8x_header}
FIELD_MAX = {"jpeg": 65535, "gif": 65535, "webp": 2**24, "png": 2**31 - 1, "bmp": 2**31 - 1}
REAL = {fmt: real_image(fmt, (37, 21)) for fmt in ("PNG", "JPEG")}
MEMORY_BOUND = 256 * 1024  # bytes of Python heap, beyond the input itself


def check(data: bytes):
    with peak_memory() as peak:
        try:
            result = check_image(data, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)
        except IMAGE_ERRORS as exc:
            result = type(exc)
    assert peak() < MEMORY_BOUND, f"{peak()} bytes for a {len(data)}-byte input"
    return result


@FUZZ
@given(data=st.binary(max_size=512))
def test_random_bytes_are_an_image_or_a_named_error(data):
    # GIVEN any bytes  WHEN checked  THEN ImageInfo or a named image error, never a crash
    result = check(data)
    assert isinstance(result, ImageInfo) or result in IMAGE_ERRORS, result


@FUZZ
@given(fmt=st.sampled_from(sorted(REAL)), cut=st.integers(min_value=0, max_value=2000),
       flip=st.integers(min_value=0, max_value=2000), bit=st.integers(0, 7))
def test_cut_or_damaged_real_images_are_named(fmt, cut, flip, bit):
    # GIVEN a real file truncated anywhere, with one bit flipped anywhere
    data = bytearray(REAL[fmt][: cut or None])
    if data and flip < len(data):
        data[flip] ^= 1 << bit
    # WHEN checked  THEN ImageInfo or a named image error
    result = check(bytes(data))
    assert isinstance(result, ImageInfo) or result in IMAGE_ERRORS, result


@FUZZ
@given(fmt=st.sampled_from(sorted(HEADER_BUILDERS)),
       width=st.integers(min_value=1, max_value=100_000),
       height=st.integers(min_value=1, max_value=100_000))
def test_headers_claiming_huge_dimensions_are_refused_from_the_header(fmt, width, height):
    width, height = min(width, FIELD_MAX[fmt]), min(height, FIELD_MAX[fmt])  # the header's field
    # GIVEN a few dozen bytes whose header claims width x height
    result = check(HEADER_BUILDERS[fmt](width, height))
    # THEN too many pixels is ImageDimensionsTooLarge, read from the header alone; formats the
    # endpoint does not take are UnsupportedContentType; the rest pass the header check
    if width * height > MAX_PIXELS:
        assert result is errors.ImageDimensionsTooLarge
    elif fmt in ("gif", "bmp", "webp"):
        assert result is errors.UnsupportedContentType
    else:
        assert (result.width, result.height) == (width, height)


def test_an_oversized_body_is_refused_before_it_is_parsed():
    assert check(b"\x89PNG" + b"\x00" * (MAX_BYTES + 1)) is errors.ImageTooLarge

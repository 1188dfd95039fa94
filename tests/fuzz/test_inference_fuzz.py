"""Property tests of the artifact's input_fn (model/inference.py): any request body and content
type gives a (1, 3, S, S) tensor or a named 4xx error, within a memory bound.

Random bytes, real PNG/JPEG files cut anywhere, wrong content types, and headers claiming up to
100000 x 100000 pixels are fed to input_fn exactly as the endpoint does. The memory bound of a
real decompression bomb (a complete all-black PNG of just under MAX_IMAGE_PIXELS, a few hundred
KB on the wire) is measured in a fresh process (peak RSS), since Pillow's pixel buffers are not
on the Python heap. How long each input takes is measured in benchmarks/input_checks_bench.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from fuzz_images import jpeg_header, png_header, real_image
from fuzzing import FUZZ, peak_memory
from hypothesis import given
from hypothesis import strategies as st

from model import inference

NAMED = (inference.InvalidImageError, inference.UnsupportedContentTypeError)
CONTENT_TYPES = st.sampled_from(["image/png", "image/jpeg", "application/x-image",
                                 "image/png; charset=binary", "IMAGE/PNG"]) | st.text(max_size=30)
REAL = {fmt: real_image(fmt, (37, 21)) for fmt in ("PNG", "JPEG")}
HEAP_BOUND = 8 * 1024 * 1024  # Python-heap bytes (numpy included) for one small request
RSS_BOUND_MB = 600  # extra peak RSS for the worst legal image (just under MAX_IMAGE_PIXELS)


def call(body: bytes, content_type: str):
    """input_fn's answer: a (1, 3, S, S) tensor, or the class of its named 4xx error (any
    other outcome fails here), within the heap bound."""
    with peak_memory() as peak:
        try:
            result = inference.input_fn(body, content_type)
        except NAMED as exc:
            assert 400 <= exc.status_code < 500
            result = type(exc)
    assert peak() < HEAP_BOUND, f"{peak()} bytes of Python heap"
    if not isinstance(result, type):
        assert tuple(result.shape) == (1, 3, inference.INPUT_SIZE, inference.INPUT_SIZE)
    return result


@FUZZ
@given(body=st.binary(max_size=600), content_type=CONTENT_TYPES)
def test_random_bodies_and_content_types_are_named(body, content_type):
    # GIVEN any bytes with any content type  WHEN input_fn reads them
    # THEN a tensor, or InvalidImageError (400) / UnsupportedContentTypeError (415)
    call(body, content_type)


@FUZZ
@given(fmt=st.sampled_from(sorted(REAL)), cut=st.integers(min_value=1, max_value=3000),
       flip=st.integers(min_value=0, max_value=3000), bit=st.integers(0, 7))
def test_cut_or_damaged_real_images_are_named(fmt, cut, flip, bit):
    data = bytearray(REAL[fmt][:cut])
    if flip < len(data):
        data[flip] ^= 1 << bit
    result = call(bytes(data), f"image/{fmt.lower()}")
    # THEN never a content-type refusal: the type matches, only the bytes are damaged
    assert result is not inference.UnsupportedContentTypeError


@FUZZ
@given(fmt=st.sampled_from(["png", "jpeg"]), width=st.integers(1, 100_000),
       height=st.integers(1, 100_000))
def test_headers_claiming_huge_dimensions_are_refused_before_decoding(fmt, width, height):
    # GIVEN a header claiming width x height with no pixel data behind it
    if fmt == "jpeg":
        width, height = min(width, 65535), min(height, 65535)
    body = png_header(width, height) if fmt == "png" else jpeg_header(width, height)
    # WHEN input_fn reads it  THEN InvalidImageError: too many pixels, or nothing to decode
    assert call(body, f"image/{fmt}") is inference.InvalidImageError


def test_content_type_is_checked_before_the_bytes():
    assert call(REAL["PNG"], "application/json") is inference.UnsupportedContentTypeError
    assert call(REAL["PNG"], "text/csv") is inference.UnsupportedContentTypeError


_RSS_PROBE = textwrap.dedent("""
    import json, resource, sys
    from model import inference
    from fuzz_images import png_header, png_zeros
    side = int(inference.MAX_IMAGE_PIXELS ** 0.5) - 1
    cases = {"png 100000x100000 header": png_header(100_000, 100_000),
             f"png {side}x{side} truncated": png_header(side, side, b"x" * 64),
             f"png {side}x{side} all black (complete)": png_zeros(side, side)}
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = {}
    for name, body in cases.items():
        try:
            inference.input_fn(body, "image/png")
            result = "decoded"
        except inference.InvalidImageError:
            result = "InvalidImageError"
        out[name] = {"result": result, "bytes": len(body)}
    out["extra_peak_rss_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
    print(json.dumps(out))
""")


def test_decompression_bombs_stay_within_a_memory_bound():
    # GIVEN a fresh process with the artifact's code loaded
    # WHEN it reads a 100000x100000 header, a truncated image just under the pixel limit and a
    # complete all-black PNG just under the limit (a real bomb: small file, huge decode)
    probe = subprocess.run([sys.executable, "-c", _RSS_PROBE], cwd=Path(__file__).parent,
                           timeout=120, capture_output=True, text=True, check=True)
    report = json.loads(probe.stdout.strip().splitlines()[-1])
    # THEN the claim over the limit is refused, the truncated one is named, the legal bomb is
    # decoded, and the process never needed more than the bound
    assert report["png 100000x100000 header"]["result"] == "InvalidImageError"
    truncated = next(v for k, v in report.items() if k.endswith("truncated"))
    assert truncated["result"] == "InvalidImageError"
    complete = next(v for k, v in report.items() if k.endswith("(complete)"))
    assert complete["result"] == "decoded" and complete["bytes"] < 1_000_000
    assert report["extra_peak_rss_mb"] < RSS_BOUND_MB, report

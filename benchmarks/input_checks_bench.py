"""nice -n 10 .venv/bin/python benchmarks/input_checks_bench.py [--repeat 20] [--json OUT]

How long the input checks take on hostile inputs: the functions' ``check_image``
(scones_domain.images, run by SerializeImageData and ClassifyImage) and the artifact's
``input_fn`` (model/inference.py, run by the endpoint) on random bytes, a real PNG cut short,
headers claiming 100000 x 100000 pixels, and a complete all-black PNG just under the artifact's
MAX_IMAGE_PIXELS (a decompression bomb: about 0.1 MB on the wire, 120 MB of pixels decoded).
tests/fuzz checks that every such input ends as a tensor, an ImageInfo or a named error within a
memory bound; the time it takes is measured here. Per case: input bytes, outcome, median and
max milliseconds over --repeat calls (in-process, after one untimed call) and, for input_fn,
how much the process's peak RSS grew on that case (cases run smallest first).

Not a test: a measurement. Run it with `nice` on a shared machine: times are noisy.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import resource
import statistics
import struct
import time
import zlib
from collections.abc import Callable

from PIL import Image

MAX_BYTES = 5 * 1024 * 1024  # the template's MaxImageBytes order of magnitude
MAX_PIXELS = 4_000_000  # a MaxImagePixels the functions could be deployed with


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header(width: int, height: int, idat: bytes = b"") -> bytes:
    """A PNG whose valid IHDR claims width x height RGB pixels; ``idat`` follows."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + (_chunk(b"IDAT", idat) if idat else b"")


def png_zeros(width: int, height: int) -> bytes:
    """A complete all-black PNG, compressed row by row: small file, width*height*3 decoded."""
    compressor = zlib.compressobj(9)
    row = b"\x00" * (1 + 3 * width)
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return png_header(width, height, data) + _chunk(b"IEND", b"")


def jpeg_header(width: int, height: int) -> bytes:
    """SOI + a baseline frame header claiming width x height (3 components), then EOI."""
    sof = struct.pack(">BHHB", 8, height, width, 3) + b"\x01\x11\x00\x02\x11\x01\x03\x11\x01"
    return b"\xff\xd8" + b"\xff\xc0" + struct.pack(">H", len(sof) + 2) + sof + b"\xff\xd9"


def real_png(size: tuple[int, int] = (37, 21)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 120, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


def cases(max_image_pixels: int) -> dict[str, bytes]:
    """Hostile inputs, smallest decode first (peak RSS only grows)."""
    side = int(max_image_pixels ** 0.5) - 1
    png = real_png()
    return {
        "random 512 bytes": random.Random(0).randbytes(512),
        "real 37x21 PNG cut at half": png[: len(png) // 2],
        "real 37x21 PNG": png,
        "PNG header claiming 100000x100000": png_header(100_000, 100_000),
        "JPEG header claiming 65535x65535": jpeg_header(65_535, 65_535),
        f"PNG {side}x{side}, header and 64 bytes": png_header(side, side, b"x" * 64),
        f"PNG {side}x{side} all black, complete": png_zeros(side, side),
    }


def timed(call: Callable[[], str], repeat: int) -> tuple[str, list[float], float]:
    """(outcome, milliseconds per call, peak RSS growth in MB during the calls); one untimed
    call first (imports, first-use caches)."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    outcome, times = call(), []
    for _ in range(repeat):
        start = time.perf_counter()
        outcome = call()
        times.append((time.perf_counter() - start) * 1000)
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    return outcome, times, grown


def check_image_call(data: bytes) -> Callable[[], str]:
    from scones_domain import errors
    from scones_domain.images import check_image

    def call() -> str:
        try:
            info = check_image(data, max_bytes=MAX_BYTES, max_pixels=MAX_PIXELS)
        except errors.WorkflowError as exc:
            return type(exc).__name__
        return f"ImageInfo {info.width}x{info.height}"

    return call


def input_fn_call(data: bytes) -> Callable[[], str]:
    from model import inference

    def call() -> str:
        try:
            tensor = inference.input_fn(data, "image/png")
        except (inference.InvalidImageError, inference.UnsupportedContentTypeError) as exc:
            return type(exc).__name__
        return "tensor " + "x".join(str(n) for n in tensor.shape)

    return call


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20, help="calls per case (default 20)")
    parser.add_argument("--json", metavar="OUT", help="also write the rows as JSON")
    args = parser.parse_args()

    from model import inference

    rows = []
    for name, data in cases(inference.MAX_IMAGE_PIXELS).items():
        for check, make in (("check_image", check_image_call), ("input_fn", input_fn_call)):
            outcome, times, grown = timed(make(data), args.repeat)
            rows.append({"check": check, "case": name, "bytes": len(data), "outcome": outcome,
                         "median_ms": statistics.median(times), "max_ms": max(times),
                         "peak_rss_growth_mb": grown})

    header = ("check", "case", "bytes", "outcome", "median ms", "max ms", "RSS +MB")
    table = [(r["check"], r["case"], str(r["bytes"]), r["outcome"], f"{r['median_ms']:.3f}",
              f"{r['max_ms']:.3f}", f"{r['peak_rss_growth_mb']:.0f}") for r in rows]
    widths = [max(len(row[i]) for row in [header, *table]) for i in range(len(header))]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    print(f"{args.repeat} calls per case, in-process; check_image with max_bytes={MAX_BYTES}, "
          f"max_pixels={MAX_PIXELS}; input_fn with MAX_IMAGE_PIXELS="
          f"{inference.MAX_IMAGE_PIXELS}")
    print(line.format(*header))
    print(line.format(*("-" * w for w in widths)))
    for row in table:
        print(line.format(*row))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(rows, out, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

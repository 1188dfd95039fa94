"""A review's photo for a person: inline in a terminal that draws images, else an HTML page.

Terminals that draw images are told apart by their environment: kitty (``KITTY_WINDOW_ID``,
``TERM=xterm-kitty``) and Ghostty (``TERM_PROGRAM=ghostty``) take the kitty graphics protocol
(PNG only: another format is converted first); iTerm2 (``TERM_PROGRAM=iTerm.app``,
``LC_TERMINAL=iTerm2``) and WezTerm its inline images protocol. Inside tmux or screen, or when
the output is not a terminal, the photos go to a folder instead: each image file and an
``index.html`` that shows them at a size a person can judge, with the model's inferences per
class and the exact ``scones review label`` command of each class.
"""

from __future__ import annotations

import base64
import html
import io
import re
import shlex
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from scones.review.queue import Review, format_duration

KITTY, ITERM = "kitty", "iterm"
CELLS = (16, 8)  # columns x rows a photo takes in the terminal (CIFAR photos are 32x32 pixels)
_CHUNK = 4096  # the kitty protocol's largest payload per escape sequence
_TYPES = {b"\x89PNG": ".png", b"\xff\xd8\xff": ".jpg", b"GIF8": ".gif", b"BM": ".bmp"}
_OURS = re.compile(r"^[0-9a-f]{12}$")  # the image files this module writes: <short id>.<ext>


def inline_protocol(env: Mapping[str, str], is_terminal: bool) -> str | None:
    """The inline image protocol of the terminal ``env`` describes; None for none (or not a
    terminal, or a multiplexer that would swallow the escape sequences)."""
    if not is_terminal or env.get("TMUX") or env.get("TERM", "").startswith(("screen", "tmux")):
        return None
    if env.get("KITTY_WINDOW_ID") or env.get("TERM") == "xterm-kitty" or (
            env.get("TERM_PROGRAM") == "ghostty"):
        return KITTY
    if env.get("TERM_PROGRAM") in ("iTerm.app", "WezTerm") or env.get("LC_TERMINAL") == "iTerm2":
        return ITERM
    return None


def as_png(data: bytes) -> bytes:
    if data.startswith(b"\x89PNG"):
        return data
    from PIL import Image

    out = io.BytesIO()
    Image.open(io.BytesIO(data)).convert("RGB").save(out, format="PNG")
    return out.getvalue()


def inline_image(data: bytes, protocol: str, cells: tuple[int, int] = CELLS) -> str:
    """The escape sequences that draw ``data`` in the terminal, ``cells`` columns x rows."""
    columns, rows = cells
    if protocol == ITERM:
        payload = base64.b64encode(data).decode()
        return (f"\033]1337;File=inline=1;size={len(data)};width={columns};height={rows};"
                f"preserveAspectRatio=1:{payload}\a\n")
    payload = base64.b64encode(as_png(data)).decode()
    chunks = [payload[i:i + _CHUNK] for i in range(0, len(payload), _CHUNK)] or [""]
    parts = []
    for number, chunk in enumerate(chunks):
        more = int(number < len(chunks) - 1)
        head = f"a=T,f=100,c={columns},r={rows},m={more}" if number == 0 else f"m={more}"
        parts.append(f"\033_G{head};{chunk}\033\\")
    return "".join(parts) + "\n"


def extension(data: bytes, key: str) -> str:
    """The image file's extension: from its first bytes, else from its key."""
    found = next((ext for magic, ext in _TYPES.items() if data.startswith(magic)), None)
    return found or (Path(key).suffix.lower() or ".img")


def label_command(review: Review, label: str, stack_options: Sequence[str] = ()) -> str:
    return shlex.join(["scones", "review", "label", review.short_id, label, *stack_options])


# --------------------------------------------------------------------------- the HTML page

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;
max-width:1100px;color:#222;padding:0 16px;line-height:1.4}
h1{font-size:1.5em;margin-bottom:4px} .meta{color:#666;font-size:.9em}
h2{font-size:1.05em;margin:0 0 4px;word-break:break-all}
.review{display:flex;gap:20px;border-top:1px solid #ddd;padding:16px 0}
.review img{width:192px;height:192px;object-fit:contain;image-rendering:pixelated;
border:1px solid #ccc;background:#f6f6f6}
.missing{width:192px;height:192px;display:flex;align-items:center;justify-content:center;
border:1px dashed #c62828;color:#c62828}
table{border-collapse:collapse;margin:6px 0} td,th{padding:2px 8px;text-align:left;
font-size:.92em} .bar{display:inline-block;height:10px;background:#3b6ea5;vertical-align:middle}
.predicted td{font-weight:600} code{background:#f4f7fb;padding:2px 6px;display:block;
margin:3px 0;font-size:.9em} .note{padding:4px 8px;background:#fffbe6;
border-left:3px solid #e0b000;margin:6px 0}
"""


def _inferences_table(review: Review) -> str:
    rows = []
    for label in review.class_labels:
        p = float(review.inferences.get(label, 0.0))
        predicted = ' class="predicted"' if label == review.predicted_label else ""
        rows.append(f"<tr{predicted}><td>{html.escape(label)}</td><td>{p:.3f}</td>"
                    f'<td><span class="bar" style="width:{round(p * 160)}px"></span></td></tr>')
    return "<table>" + "".join(rows) + "</table>"


def _card(review: Review, image_file: str | None, now: float,
          stack_options: Sequence[str]) -> str:
    picture = (f'<img src="{html.escape(image_file)}" alt="{html.escape(review.image)}">'
               if image_file else '<div class="missing">image not found</div>')
    expires = review.expires_in_s(now)
    rejected = (f'<div class="note">the last answer was sent back: '
                f"{html.escape(review.rejected_label)}</div>" if review.rejected_label else "")
    commands = "".join(f"<code>{html.escape(label_command(review, label, stack_options))}"
                       f"</code>" for label in review.class_labels)
    return (
        f'<section class="review" id="{review.short_id}">{picture}<div>'
        f"<h2>{html.escape(review.image)}</h2>"
        f'<div class="meta">review {review.short_id} · model {html.escape(review.model_version)}'
        f" · waiting {format_duration(review.waiting_s(now))} · "
        f"{'expires in ' + format_duration(expires) if expires > 0 else 'expired'}"
        f" · review copy {html.escape(review.review_copy)}</div>"
        f"{rejected}{_inferences_table(review)}<div>Label it:</div>{commands}</div></section>")


def write_page(folder: str | Path, reviews: Sequence[Review], images: Mapping[str, bytes | None],
               *, where: str, now: float, stack_options: Sequence[str] = ()) -> Path:
    """``folder/index.html`` and ``folder/images/<short id>.<ext>`` of ``reviews``
    (``images``: review id -> bytes, None when not found); image files of reviews no longer
    pending are removed. Returns the page's path."""
    folder = Path(folder)
    image_dir = folder / "images"
    image_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    for review in reviews:
        data = images.get(review.review_id)
        if data is not None:
            name = review.short_id + extension(data, review.key)
            (image_dir / name).write_bytes(data)
            files[review.review_id] = f"images/{name}"
    current = {Path(name).name for name in files.values()}
    for stale in image_dir.iterdir():
        if _OURS.match(stale.stem) and stale.name not in current:
            stale.unlink()
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    body = "".join(_card(r, files.get(r.review_id), now, stack_options) for r in reviews)
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Pending reviews ({len(reviews)})</title><style>{_CSS}</style></head><body>"
        f"<h1>Pending reviews: {len(reviews)}</h1>"
        f'<div class="meta">{html.escape(where)}, oldest first, as of {stamp}. Each photo '
        f"waits for a person's label; run one command under it.</div>"
        f"{body or '<p>No photo waits for a review.</p>'}</body></html>\n")
    path = folder / "index.html"
    path.write_text(page, encoding="utf-8")
    return path

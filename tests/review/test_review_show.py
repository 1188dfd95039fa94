"""A review's photo for a person: which terminals draw it inline (and how), and the HTML page
everywhere else."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from scones.review.queue import Review
from scones.review.show import ITERM, KITTY, inline_image, inline_protocol, write_page


@pytest.mark.parametrize(("env", "is_terminal", "protocol"), [
    ({"KITTY_WINDOW_ID": "1", "TERM": "xterm-kitty"}, True, KITTY),
    ({"TERM": "xterm-kitty"}, True, KITTY),
    ({"TERM_PROGRAM": "ghostty"}, True, KITTY),
    ({"TERM_PROGRAM": "iTerm.app"}, True, ITERM),
    ({"LC_TERMINAL": "iTerm2"}, True, ITERM),
    ({"TERM_PROGRAM": "WezTerm"}, True, ITERM),
    ({"TERM_PROGRAM": "iTerm.app"}, False, None),  # piped: no escape sequences
    ({"TERM_PROGRAM": "iTerm.app", "TMUX": "/tmp/tmux-0/default,1,0"}, True, None),
    ({"TERM": "xterm-256color", "TERM_PROGRAM": "Apple_Terminal"}, True, None),
    ({}, True, None),
])
def test_inline_protocol_from_the_environment(env, is_terminal, protocol):
    assert inline_protocol(env, is_terminal) == protocol


def png(size=(32, 32), fmt="PNG") -> bytes:
    out = io.BytesIO()
    Image.effect_noise(size, 64).convert("RGB").save(out, format=fmt)
    return out.getvalue()


def test_kitty_gets_the_png_in_chunks_of_4096():
    data = png((64, 64))
    text = inline_image(data, KITTY)
    chunks = text.rstrip("\n").split("\033\\")[:-1]
    assert chunks[0].startswith("\033_Ga=T,f=100,c=16,r=8,m=1;") and len(chunks) > 1
    assert chunks[-1].startswith("\033_Gm=0;")
    payload = "".join(chunk.split(";", 1)[1] for chunk in chunks)
    assert base64.b64decode(payload) == data
    assert all(len(chunk.split(";", 1)[1]) <= 4096 for chunk in chunks)


def test_kitty_gets_a_jpeg_as_png_and_iterm_the_file_as_it_is():
    jpeg = png(fmt="JPEG")
    payload = inline_image(jpeg, KITTY).split(";", 1)[1].split("\033\\")[0]
    assert base64.b64decode(payload).startswith(b"\x89PNG")
    text = inline_image(jpeg, ITERM)
    assert text.startswith(f"\033]1337;File=inline=1;size={len(jpeg)};width=16;height=8;")
    assert text.endswith("\a\n") and base64.b64encode(jpeg).decode() in text


def review(rid: str, key: str, **fields) -> Review:
    return Review(**{
        "review_id": rid, "image": f"s3://photos/{key}", "review_copy": f"s3://photos/review/"
        f"{key}", "predicted_label": "motorcycle", "confidence": 0.6,
        "inferences": {"bicycle": 0.4, "motorcycle": 0.6}, "class_labels": ["bicycle",
                                                                            "motorcycle"],
        "model_version": "v1", "sent_at": "2027-01-15T08:00:00+00:00",
        "expires_at": 1_800_000_000, "execution_arn": "arn:exec",
        "review_execution_arn": "arn:review", **fields})


def test_the_page_names_each_photo_and_its_commands(tmp_path):
    # GIVEN an old page with a photo no longer pending
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "ffffffffffff.png").write_bytes(b"old")
    (tmp_path / "images" / "notes.txt").write_text("mine")
    one = review("a" * 64, "incoming/one.png", rejected_label="label 'scooter' is not one")
    two = review("b" * 64, "incoming/<two>.jpg")
    jpeg = png(fmt="JPEG")
    # WHEN the page is written (the second photo's image is gone from S3)
    page = write_page(tmp_path, [one, two], {one.review_id: jpeg, two.review_id: None},
                      where="stack scones in eu-west-1", now=1_800_000_000 - 3600,
                      stack_options=["--stack-name", "scones", "--region", "eu-west-1"])
    text = page.read_text()
    # THEN each photo is named, with its inferences and one command per class
    assert "s3://photos/incoming/one.png" in text and "s3://photos/incoming/&lt;two&gt;.jpg" in text
    assert ("scones review label aaaaaaaaaaaa bicycle --stack-name scones --region eu-west-1"
            in text)
    assert "scones review label bbbbbbbbbbbb motorcycle" in text
    assert "0.600" in text and "expires in 1h 00m" in text
    assert "the last answer was sent back: label &#x27;scooter&#x27; is not one" in text
    # AND the image is written as the file it is; a missing one is said; old photos removed
    assert (tmp_path / "images" / "aaaaaaaaaaaa.jpg").read_bytes() == jpeg
    assert 'src="images/aaaaaaaaaaaa.jpg"' in text and "image not found" in text
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == [
        "aaaaaaaaaaaa.jpg", "notes.txt"]


def test_an_empty_queue_is_a_page_that_says_so(tmp_path):
    page = write_page(tmp_path / "review", [], {}, where="the local stack", now=0)
    assert "No photo waits for a review." in page.read_text()


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Queue:
    """Two pending reviews, the second one's photo gone."""

    where = "the test queue"

    def __init__(self):
        self.reviews = [review("a" * 64, "incoming/one.png"), review("b" * 64, "incoming/2.png")]

    def pending(self):
        return self.reviews

    def image(self, pending):
        return png() if pending is self.reviews[0] else None


def test_list_draws_each_photo_in_a_terminal_that_can(monkeypatch, tmp_path):
    import argparse

    from scones.review import cli

    # GIVEN iTerm2 on the other end of stdout
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TERM_PROGRAM", "iTerm.app")
    monkeypatch.delenv("TMUX", raising=False)
    terminal = Terminal()
    monkeypatch.setattr("sys.stdout", terminal)
    args = argparse.Namespace(json=None, html=None, limit=100, stack_name=None, region=None)
    # WHEN the queue is listed
    assert cli.list_command(Queue(), args) == 0
    # THEN each photo is drawn under its id, no page is written
    text = terminal.getvalue()
    assert "aaaaaaaaaaaa  s3://photos/incoming/one.png\n\033]1337;File=inline=1;" in text
    assert "bbbbbbbbbbbb  s3://photos/incoming/2.png\n  (image not found)" in text
    assert not (tmp_path / "runs").exists()
    # AND with --html the page is written instead, in the same terminal
    args.html = tmp_path / "page"
    assert cli.list_command(Queue(), args) == 0
    assert f"photos: {tmp_path / 'page' / 'index.html'}" in terminal.getvalue()

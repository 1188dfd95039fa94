"""`scones serve` answers with labels under an Accept type of our own; the default answer stays
exactly the SageMaker contract (a JSON list of probabilities)."""

from __future__ import annotations

import json
import urllib.request

from scones.serving.endpoint import LABELS_ACCEPT


def post(server, body: bytes, accept: str) -> tuple[int, str, bytes]:
    request = urllib.request.Request(server.url + "/invocations", data=body, method="POST",
                                     headers={"Content-Type": "image/png", "Accept": accept})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.headers["Content-Type"], response.read()


def test_the_labels_accept_type_names_the_top_label_and_every_probability(
        endpoint_server, bright_and_dark_pngs):
    bright, dark = bright_and_dark_pngs
    # WHEN the bright and the dark PNG are posted asking for labels
    answers = [post(endpoint_server, p.read_bytes(), LABELS_ACCEPT) for p in (bright, dark)]
    # THEN each answer is the label, its confidence and the probabilities by label
    assert [(status, kind) for status, kind, _ in answers] == [(200, LABELS_ACCEPT)] * 2
    assert json.loads(answers[0][2]) == {"label": "bicycle", "confidence": 0.99,
                                         "probabilities": {"bicycle": 0.99, "motorcycle": 0.01}}
    assert json.loads(answers[1][2]) == {"label": "motorcycle", "confidence": 0.6,
                                         "probabilities": {"bicycle": 0.4, "motorcycle": 0.6}}
    # AND the default answer is unchanged: SageMaker's list
    assert json.loads(post(endpoint_server, bright.read_bytes(), "application/json")[2]) == [
        0.99, 0.01]

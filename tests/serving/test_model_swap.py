"""The local endpoint swaps its model while it serves (the local-only ``/local/model`` route that
``scones retrain`` promotes through): the new one is loaded in full first, requests in flight
finish on the old one."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from types import SimpleNamespace

import pytest

from scones.serving.endpoint import (
    DEFAULT_ENDPOINT_NAME,
    LOCAL_MODEL_PATH,
    EndpointServer,
    LoadedModel,
    LocalEndpoint,
)


def post(url: str, body: bytes, content_type: str = "application/json") -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def test_a_posted_model_serves_the_next_requests(loaded_brightness_model,
                                                 untrained_artifact_factory, make_image):
    # GIVEN the endpoint serving the brightness model (a dark image: [0.4, 0.6])
    three = untrained_artifact_factory(labels=("bicycle", "motorcycle", "scooter"), seed=5)
    image = make_image("PNG")
    with EndpointServer(LocalEndpoint(loaded_brightness_model,
                                      endpoint_name=DEFAULT_ENDPOINT_NAME)) as server:
        invocations = f"{server.url}/endpoints/{DEFAULT_ENDPOINT_NAME}/invocations"
        assert post(invocations, image, "image/png") == (200, [0.4, 0.6])
        # WHEN a three-class model is posted to the local-only route
        status, answer = post(server.url + LOCAL_MODEL_PATH,
                              json.dumps({"model": str(three)}).encode())
        # THEN it says what serves now and what served before
        assert status == 200
        assert answer["model"] == str(three)
        assert answer["labels"] == ["bicycle", "motorcycle", "scooter"]
        assert answer["model_version"] == "20260101-untrained"
        assert answer["previous"]["labels"] == ["bicycle", "motorcycle"]
        with urllib.request.urlopen(server.url + LOCAL_MODEL_PATH, timeout=10) as response:
            assert json.loads(response.read())["model"] == str(three)
        # AND the next request gets three probabilities from the new model
        status, probabilities = post(invocations, image, "image/png")
        assert status == 200 and len(probabilities) == 3


@pytest.mark.parametrize(("body", "message"), [
    (b"not json", "expected a JSON body"),
    (b'{"path": "x"}', "expected a JSON body"),
    (b'{"model": "/no/such/model.tar.gz"}', "model artifact not found"),
])
def test_a_bad_swap_request_leaves_the_model_serving(loaded_brightness_model, body, message):
    with EndpointServer(LocalEndpoint(loaded_brightness_model,
                                      endpoint_name=DEFAULT_ENDPOINT_NAME)) as server:
        status, answer = post(server.url + LOCAL_MODEL_PATH, body)
        assert status == 400 and message in answer["message"]
        assert server.endpoint.loaded is loaded_brightness_model


def test_requests_in_flight_finish_on_the_old_model(loaded_brightness_model, make_image):
    # GIVEN an old model whose predict_fn holds its request until released
    entered, release = threading.Event(), threading.Event()
    handlers = loaded_brightness_model.handlers

    def held_predict(batch, model):
        entered.set()
        release.wait(10)
        return handlers.predict_fn(batch, model)

    old = LoadedModel(loaded_brightness_model.model_dir,
                      SimpleNamespace(input_fn=handlers.input_fn, predict_fn=held_predict,
                                      output_fn=handlers.output_fn),
                      loaded_brightness_model.model, {"labels": ["bicycle", "motorcycle"]}, 0.0)
    new_handlers = SimpleNamespace(input_fn=handlers.input_fn,
                                   predict_fn=lambda batch, model: [[0.25, 0.75]],
                                   output_fn=handlers.output_fn)
    new = LoadedModel(old.model_dir, new_handlers, None, {"labels": ["bicycle", "motorcycle"]},
                      0.0)
    endpoint = LocalEndpoint(old)
    image = make_image("PNG")
    answers = {}
    in_flight = threading.Thread(target=lambda: answers.update(
        old=endpoint.invoke(image, "image/png", None).body))
    in_flight.start()
    assert entered.wait(10)
    # WHEN the model is swapped while that request is in flight
    swapped = threading.Thread(target=lambda: answers.update(previous=endpoint.swap(new)))
    swapped.start()
    deadline = time.monotonic() + 10
    while endpoint.loaded is not new and time.monotonic() < deadline:
        time.sleep(0.01)
    # THEN a new request is already answered by the new model
    assert json.loads(endpoint.invoke(image, "image/png", None).body) == [0.25, 0.75]
    assert swapped.is_alive()  # the swap waits for the old model's request
    release.set()
    in_flight.join(10)
    swapped.join(10)
    # AND the request in flight finished on the old model
    assert json.loads(answers["old"]) == [0.4, 0.6]
    assert answers["previous"] is old and endpoint.loaded is new
    endpoint.close()

"""Every fault injected through the local runtime ends as the shipped ASL promises.

One local stack (real template, ASL, handlers, HTTP endpoint) runs every scenario of
scones.workflow.fault_matrix at once, each on its own real image with its own fault (endpoint
throttling, 503, model not ready, a response past the client's read timeout, dropped
connections, S3 SlowDown, a missing object), then stops the endpoint for the connection-refused
scenario. Each execution's history is read back: the retries the ASL's Retry block promises
(count, waits within the backoff bounds), then SUCCEEDED or FAILED with the one named error;
nothing hangs (bounded wait), nothing fails unnamed.
"""

from __future__ import annotations

import json

import pytest

from scones.serving.faults import FaultPlan, FaultSpecError, S3FaultPlan, s3_location
from scones.workflow.fault_matrix import (
    ALL_SCENARIOS,
    Expected,
    Observed,
    Scenario,
    expected_outcome,
    fault_runtime,
    load_asl,
    problems,
    retrier_for,
    run_matrix,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow,
              pytest.mark.filterwarnings("ignore:No application metrics:UserWarning")]


@pytest.fixture(scope="module")
def matrix(module_env, brightness_model, bright_images, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("faults")
    with fault_runtime(brightness_model, capture=str(tmp / "captures"),
                       lambda_log=tmp / "lambda.log") as (server, stack, s3faults):
        rows = run_matrix(server, stack, s3faults, bright_images, timeout=180)
        injected = dict(server.endpoint.faults.injected)
    lines = [json.loads(line) for f in sorted((tmp / "captures").rglob("*.jsonl"))
             for line in f.read_text().splitlines()]
    return {row.scenario.name: row for row in rows}, server.endpoint, lines, injected


@pytest.mark.parametrize("scenario", ALL_SCENARIOS, ids=lambda s: s.name)
def test_fault_ends_as_the_asl_promises(matrix, scenario):
    # GIVEN the fault injected (see the module docstring)  WHEN the workflow ran through it
    rows = matrix[0]
    row = rows[scenario.name]
    # THEN retries, waits, final status and error name are the ones the ASL promises
    assert row.kept, row.problems
    # AND a failure carries exactly the one named error of the task that saw the fault
    if row.observed.status != "SUCCEEDED":
        assert (row.observed.error, row.observed.failed_state) == (scenario.error,
                                                                   scenario.state)


def test_every_fault_fired_and_every_served_request_was_captured(matrix):
    # GIVEN the matrix run (the endpoint stopped at its end)
    _, endpoint, lines, injected = matrix
    # THEN each endpoint fault kind fired, and the capture holds exactly the served requests,
    # the late answer past the client's timeout included (served, captured, never read)
    assert set(injected) == {"throttle", "server_error", "model_not_ready", "delay", "refuse"}
    assert len(lines) == endpoint.served == endpoint.capture.written
    assert len({line["eventMetadata"]["eventId"] for line in lines}) == len(lines)


# --------------------------------------------------------------------------- the pure parts


def test_the_promise_is_read_from_the_shipped_asl():
    # GIVEN the shipped ASL  WHEN the ClassifyImage retrier for a throttled endpoint is read
    retrier = retrier_for(load_asl(), "ClassifyImage", "EndpointThrottled")
    # THEN it is the endpoint retrier, and its bounds grow by the backoff rate up to the cap
    assert retrier is not None and "EndpointThrottled" in retrier.error_equals
    assert [retrier.bound(k) for k in (1, 2)] == [retrier.interval_s,
                                                 retrier.interval_s * retrier.backoff_rate]
    assert retrier.bound(50) == retrier.max_delay_s
    assert retrier_for(load_asl(), "SerializeImageData", "ImageNotFound") is None


def test_a_broken_promise_is_reported():
    # GIVEN a scenario promising 2 retries then success, and executions that broke it
    scenario = Scenario("x", "endpoint", "throttle", 2, "ClassifyImage", "EndpointThrottled")
    expected = Expected("SUCCEEDED", None, None, 2, ((0.0, 1.0), (0.0, 2.0)))
    too_slow = Observed("SUCCEEDED", None, None, 2, [0.5, 9.0], 10.0,
                        ["EndpointThrottled"] * 2)
    unnamed = Observed("FAILED", "ClientError", "ClassifyImage", 0, [], 1.0, ["ClientError"])
    # WHEN compared  THEN each deviation is named
    assert problems(expected, too_slow, scenario) == [
        "wait before retry 2 was 9.00 s, promised 0..2 s"]
    found = problems(expected, unnamed, scenario)
    assert "status FAILED, expected SUCCEEDED" in found
    assert any("other than EndpointThrottled" in p for p in found)


def test_expected_outcome_exhausts_max_attempts_for_a_permanent_fault():
    asl = load_asl()
    always = Scenario("x", "endpoint", "refuse", None, "ClassifyImage", "EndpointUnavailable")
    outcome = expected_outcome(always, asl)
    retrier = retrier_for(asl, "ClassifyImage", "EndpointUnavailable")
    assert (outcome.status, outcome.error, outcome.retries) == (
        "FAILED", "EndpointUnavailable", retrier.max_attempts)


def test_fault_specs_parse_and_bad_ones_are_named():
    plan = FaultPlan.from_spec("throttle:2, delay:1:0.5 ,refuse")
    assert [plan.take(b"x").kind for _ in range(4)] == ["throttle", "throttle", "delay", "refuse"]
    with pytest.raises(FaultSpecError):
        FaultPlan.from_spec("explode:1")
    with pytest.raises(FaultSpecError):
        FaultPlan.from_spec("throttle:two")
    with pytest.raises(FaultSpecError):
        S3FaultPlan().add("melt")


def test_body_keyed_faults_only_hit_their_body():
    plan = FaultPlan().add("throttle", 1, body=b"mine")
    assert plan.take(b"other") is None
    assert plan.take(b"mine").kind == "throttle"
    assert plan.take(b"mine") is None


@pytest.mark.parametrize("url, location", [
    ("https://bkt.s3.amazonaws.com/a/b.png", ("bkt", "a/b.png")),
    ("https://s3.us-east-1.amazonaws.com/bkt/a%20b.png", ("bkt", "a b.png")),
])
def test_s3_locations_are_read_from_both_url_styles(url, location):
    assert s3_location(url) == location

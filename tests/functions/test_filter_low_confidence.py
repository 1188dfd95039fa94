"""filter_low_confidence: inclusive threshold, THRESHOLD_CONFIDENCE_NOT_MET, metrics."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scones.local.lambdas import load_handler


def classification(inferences, key="test/bicycle_s_001789.png"):
    return {"bucket": "scones-test-images", "key": key, "inferences": inferences}


def emf_metrics(stdout: str) -> dict[str, dict]:
    """Metric name -> EMF document, from the Powertools lines printed to stdout."""
    found = {}
    for line in stdout.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            document = json.loads(line)
            for directive in document["_aws"]["CloudWatchMetrics"]:
                for metric in directive["Metrics"]:
                    found[metric["Name"]] = document
    return found


def test_confident_inference_passes_with_the_threshold_used(load_function, capsys):
    # GIVEN the filter with the template's default threshold (0.93)
    invoke = load_function("FilterLowConfidenceFunction")
    # WHEN a 0.97 motorcycle inference arrives
    result = invoke(classification([0.03, 0.97]))
    # THEN it passes on with exactly the final output fields
    assert not result.failed, result.payload
    assert result.payload == {
        "bucket": "scones-test-images",
        "key": "test/bicycle_s_001789.png",
        "label": "motorcycle",
        "confidence": 0.97,
        "inferences": [0.03, 0.97],
        "threshold": 0.93,
    }
    # AND a high-confidence count is emitted for the predicted label
    metric = emf_metrics(capsys.readouterr().out)["HighConfidenceInferences"]
    assert metric["PredictedLabel"] == "motorcycle"


@pytest.mark.parametrize(
    ("threshold", "inferences", "passes"),
    [
        ("0.93", [0.93, 0.07], True),  # exactly at the threshold: passes (>=)
        ("0.93", [0.9299999, 0.0700001], False),  # just below: fails
        ("0.5", [0.5, 0.5], True),  # a tie at the threshold: first label, passes
        ("1", [0.999, 0.001], False),
    ],
)
def test_threshold_boundary_is_inclusive(load_function, threshold, inferences, passes):
    # GIVEN the filter deployed with ConfidenceThreshold=threshold
    invoke = load_function("FilterLowConfidenceFunction", ConfidenceThreshold=threshold)
    # WHEN an inference right at / below the boundary arrives
    result = invoke(classification(inferences))
    # THEN >= passes and < fails with the named error
    assert result.failed is (not passes)
    if not passes:
        assert result.error_type == "THRESHOLD_CONFIDENCE_NOT_MET"


def test_low_confidence_fails_naming_image_label_and_confidence(load_function, capsys):
    # GIVEN the default filter
    invoke = load_function("FilterLowConfidenceFunction")
    # WHEN a 0.61 bicycle inference arrives
    result = invoke(classification([0.61, 0.39], key="test/minibike_s_000824.png"))
    # THEN the Lambda error is THRESHOLD_CONFIDENCE_NOT_MET, as the execution's will be
    assert result.failed and result.function_error == "Unhandled"
    assert result.payload["errorType"] == "THRESHOLD_CONFIDENCE_NOT_MET"
    message = result.payload["errorMessage"]
    for part in ("s3://scones-test-images/test/minibike_s_000824.png", "bicycle", "0.61", "0.93"):
        assert part in message
    # AND a low-confidence count is emitted for the predicted label
    metric = emf_metrics(capsys.readouterr().out)["LowConfidenceInferences"]
    assert metric["PredictedLabel"] == "bicycle"


@pytest.mark.parametrize(
    ("event", "error"),
    [
        ({"bucket": "b", "key": "k"}, "MissingEventField"),
        ({"bucket": "b", "inferences": [0.5, 0.5]}, "MissingEventField"),
        ({"bucket": "b", "key": "k", "inferences": "0.9,0.1"}, "InvalidEventField"),
        ({"bucket": "b", "key": "k", "inferences": [0.9]}, "InvalidEventField"),
        ({"bucket": "b", "key": "k", "inferences": [0.9, 0.3]}, "InvalidEventField"),
        ({"bucket": "b", "key": "k", "inferences": [True, False]}, "InvalidEventField"),
        ({"bucket": 7, "key": "k", "inferences": [0.9, 0.1]}, "InvalidEventField"),
        (["not", "an", "object"], "InvalidEventField"),
    ],
    ids=["no-inferences", "no-key", "string", "short", "sum", "bools", "bucket-int", "list"],
)
def test_bad_input_gets_a_named_error(load_function, event, error):
    # GIVEN a malformed classification  WHEN filtered  THEN a named error, never a pass
    result = load_function("FilterLowConfidenceFunction")(event)
    assert result.failed and result.error_type == error


def test_shipped_event_passes(load_function, load_event):
    # GIVEN events/filter_low_confidence.json  WHEN filtered  THEN it passes
    result = load_function("FilterLowConfidenceFunction")(load_event("filter_low_confidence.json"))
    assert not result.failed, result.payload


@pytest.fixture
def default_filter(load_function):
    """The filter with the template's defaults, loaded once for all hypothesis examples."""
    return load_function("FilterLowConfidenceFunction")


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(p=st.floats(min_value=0.0, max_value=1.0))
def test_verdict_is_max_probability_against_threshold(default_filter, p):
    # GIVEN any two-class distribution
    inferences = [p, 1.0 - p]
    # WHEN filtered with the default threshold (0.93)
    result = default_filter(classification(inferences))
    # THEN it passes exactly when the larger probability reaches 0.93, with that label
    confident = max(inferences) >= 0.93
    assert result.failed is (not confident)
    if confident:
        assert result.payload["label"] == ("bicycle" if p >= 1.0 - p else "motorcycle")
        assert result.payload["confidence"] == max(inferences)


def test_missing_configuration_fails_at_import_like_a_cold_start(load_function):
    # GIVEN the filter deployed without its threshold (the template guarantees it; a hand-made
    # environment might not)
    from dataclasses import replace

    from scones.local.deploy import describe

    spec = describe().functions["FilterLowConfidenceFunction"]
    broken = replace(spec, environment={**spec.environment, "CONFIDENCE_THRESHOLD": "high"})
    # WHEN loaded  THEN the named configuration error, at import (Lambda's Init phase)
    with pytest.raises(Exception) as caught:
        load_handler(broken)
    assert type(caught.value).__name__ == "MissingConfiguration"

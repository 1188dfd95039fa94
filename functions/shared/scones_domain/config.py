"""The product's defaults, written once, and configuration read from environment variables
strictly (a missing or bad value fails early).

``DEFAULT_CONFIDENCE_THRESHOLD`` is the template's ``ConfidenceThreshold`` default (a test
keeps the two equal); the CLI, the model's metrics and the monitoring use it as theirs.
"""

from __future__ import annotations

import json
import os

from scones_domain.errors import MissingConfiguration

# Inclusive: a confidence exactly at the threshold passes (predictions.meets_threshold).
DEFAULT_CONFIDENCE_THRESHOLD = 0.93
# The model's output order, as the template's ClassLabels default lists it.
DEFAULT_CLASS_LABELS = ("bicycle", "motorcycle")


def env_str(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise MissingConfiguration(f"environment variable {name} is not set")
    return value


def env_int(name: str, *, minimum: int = 1) -> int:
    text = env_str(name)
    try:
        value = int(float(text)) if float(text).is_integer() else None
    except ValueError:
        value = None
    if value is None or value < minimum:
        raise MissingConfiguration(f"{name}={text!r} is not an integer >= {minimum}")
    return value


def env_probability(name: str) -> float:
    text = env_str(name)
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise MissingConfiguration(f"{name}={text!r} is not a number between 0 and 1")
    return value


def env_json_object(name: str) -> dict:
    text = env_str(name)
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise MissingConfiguration(f"{name}={text!r} is not a JSON object")
    return value


def env_labels(name: str) -> tuple[str, ...]:
    labels = tuple(label.strip() for label in env_str(name).split(","))
    if len(labels) < 2 or not all(labels) or len(set(labels)) != len(labels):
        raise MissingConfiguration(f"{name} must list at least two distinct comma-separated labels")
    return labels


MODEL_VERSION_MAX_AGE_SECONDS = 60
# (name, id of the client) -> (client, read at, value): one entry per function's client, so
# functions that share this module in one process (the local runtime) keep their own cache
_model_versions: dict[tuple[str, int], tuple[object, float, str]] = {}


def model_version(ssm) -> str:
    """The version results are recorded under: the SSM parameter that MODEL_VERSION_PARAMETER
    names (the retraining workflow's promotion writes it), read through ``ssm`` (the function's
    client) at most once every MODEL_VERSION_MAX_AGE_SECONDS per execution environment, so a
    promotion reaches every function within a minute."""
    import time

    name = env_str("MODEL_VERSION_PARAMETER")
    now = time.monotonic()
    cached = _model_versions.get((name, id(ssm)))
    if cached and cached[0] is ssm and now - cached[1] < MODEL_VERSION_MAX_AGE_SECONDS:
        return cached[2]
    value = ssm.get_parameter(Name=name)["Parameter"]["Value"].strip()
    if not value:
        raise MissingConfiguration(f"SSM parameter {name} holds no model version")
    _model_versions[(name, id(ssm))] = (ssm, now, value)
    return value

"""Fixtures of the domain package's tests: template.yaml's parameters, read as shipped, and the
functions' modules, to check what their code returns against the contracts."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]


class _TemplateLoader(yaml.SafeLoader):
    """Reads CloudFormation short tags (!Ref, !Sub, ...) as plain values: only the parameters'
    literal defaults are needed here."""


_TemplateLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


@pytest.fixture(scope="session")
def template_parameters() -> dict:
    text = (REPO_ROOT / "template.yaml").read_text()
    return yaml.load(text, Loader=_TemplateLoader)["Parameters"]


# What the functions read from their environment at import (the template's values for the
# ones that matter here).
FUNCTION_ENV = {
    "POWERTOOLS_SERVICE_NAME": "scones-vehicle-classifier",
    "POWERTOOLS_METRICS_NAMESPACE": "SconesUnlimited",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "CLASS_LABELS": "bicycle,motorcycle",
    "CONFIDENCE_THRESHOLD": "0.93",
    "ENDPOINT_NAME": "scones-vehicle-classifier",
    "ENDPOINT_READ_TIMEOUT_SECONDS": "20",
    "MAX_IMAGE_BYTES": "5000000",
    "MAX_IMAGE_PIXELS": "25000000",
    "INLINE_IMAGE_MAX_BYTES": "150000",
    "REVIEW_PREFIX": "review/",
    "MODEL_VERSION_PARAMETER": "/scones/model-version",
    "REVIEWS_TABLE": "reviews",
    "LABELS_PREFIX": "labels/",
    "RETRAIN_AFTER_LABELS": "100",
    "RESULTS_TABLE": "results",
    "ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:alerts",
}


@pytest.fixture
def function_module(monkeypatch):
    """function_module("classify_image"): functions/<name>/app.py imported fresh (its
    module-level configuration read from FUNCTION_ENV), to call its pure functions."""

    def load(name: str) -> ModuleType:
        for variable, value in FUNCTION_ENV.items():
            monkeypatch.setenv(variable, value)
        spec = importlib.util.spec_from_file_location(
            f"_domain_test_{name}", REPO_ROOT / "functions" / name / "app.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load

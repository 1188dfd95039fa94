"""The product's defaults are written once, in scones_domain.config, and the template agrees."""

from __future__ import annotations

from scones_domain.config import DEFAULT_CLASS_LABELS, DEFAULT_CONFIDENCE_THRESHOLD


def test_template_threshold_default_is_the_domain_default(template_parameters):
    # GIVEN the template's ConfidenceThreshold (a CloudFormation Number, written as a string)
    default = template_parameters["ConfidenceThreshold"]["Default"]
    # THEN it is the threshold the CLI, the model's metrics and the monitoring default to
    assert float(default) == DEFAULT_CONFIDENCE_THRESHOLD


def test_template_class_labels_default_is_the_domain_default(template_parameters):
    default = template_parameters["ClassLabels"]["Default"]
    assert tuple(default.split(",")) == DEFAULT_CLASS_LABELS

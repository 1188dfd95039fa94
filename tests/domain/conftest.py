"""Fixtures of the domain package's tests: template.yaml's parameters, read as shipped."""

from __future__ import annotations

from pathlib import Path

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

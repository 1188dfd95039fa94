"""Fixtures of the static checks: the template and the ASL, read as shipped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scones.local.template import SamApp, load_app, load_template

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = REPO_ROOT / "template.yaml"
STATE_MACHINE_ID = "ImageClassificationStateMachine"
BUCKET = "static-check-bucket"


@pytest.fixture(scope="session")
def template() -> dict:
    """template.yaml as plain data (short tags in their long form)."""
    return load_template(TEMPLATE)


@pytest.fixture(scope="session")
def resources(template) -> dict:
    return template["Resources"]


@pytest.fixture(scope="session")
def app() -> SamApp:
    return load_app(TEMPLATE, resource_names={"ImageBucket": BUCKET})


@pytest.fixture(scope="session")
def asl_text(resources) -> str:
    """The ASL file as shipped, placeholders unresolved."""
    uri = resources[STATE_MACHINE_ID]["Properties"]["DefinitionUri"]
    return (REPO_ROOT / uri).read_text()


@pytest.fixture(scope="session")
def asl(app) -> dict:
    """The ASL with DefinitionSubstitutions resolved, as Step Functions receives it."""
    return json.loads(app.state_machines[STATE_MACHINE_ID].definition)

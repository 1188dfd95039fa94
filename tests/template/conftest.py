"""Fixtures of the static checks: the template and the ASL as shipped, and the stack that
deploying the template creates (sam package + the SAM transform + CloudFormation, in moto)."""

from __future__ import annotations

from pathlib import Path

import pytest

from scones.local.deploy import Deployment, describe, read_template

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = REPO_ROOT / "template.yaml"
STATE_MACHINE_ID = "ImageClassificationStateMachine"


@pytest.fixture(scope="session")
def template() -> dict:
    """template.yaml as plain data (short tags in their long form)."""
    return read_template(TEMPLATE)


@pytest.fixture(scope="session")
def resources(template) -> dict:
    return template["Resources"]


@pytest.fixture(scope="session")
def deployment() -> Deployment:
    """The template deployed with its parameter defaults: names, environments and
    definitions as the stack gives them."""
    return describe(TEMPLATE)


@pytest.fixture(scope="session")
def asl_text(resources) -> str:
    """The ASL file as shipped, placeholders unresolved."""
    uri = resources[STATE_MACHINE_ID]["Properties"]["DefinitionUri"]
    return (REPO_ROOT / uri).read_text()


@pytest.fixture(scope="session")
def asl(deployment) -> dict:
    """The ASL with DefinitionSubstitutions resolved, as Step Functions receives it."""
    return deployment.state_machines[STATE_MACHINE_ID].definition_json

"""`make lint` validates the state machines as Step Functions receives them (asl-validator)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "tools/asl-validator/validate_asl.py"
MACHINES = {"ImageClassificationStateMachine", "BatchClassificationStateMachine",
            "ReviewStateMachine", "RetrainingStateMachine"}


@pytest.fixture(scope="module")
def validate_asl():
    spec = importlib.util.spec_from_file_location("validate_asl", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def rendered(validate_asl, tmp_path_factory) -> dict[str, dict]:
    paths = validate_asl.render(tmp_path_factory.mktemp("asl"))
    return {path.name: json.loads(path.read_text()) for path in paths}


def test_every_state_machine_is_rendered_in_every_variant_without_placeholders(
        validate_asl, rendered):
    # THEN each state machine of the template, in each variant, is JSON with no ${...} left
    variants = [name for name, *_ in validate_asl.VARIANTS]
    assert set(rendered) == {f"{m}.{v}.asl.json" for m in MACHINES for v in variants}
    for name, definition in rendered.items():
        assert "${" not in json.dumps(definition), name


def test_the_variants_reach_the_parameter_extremes_and_every_partition(rendered):
    def batch_map(variant):
        definition = rendered[f"BatchClassificationStateMachine.{variant}.asl.json"]
        return definition["States"]["ClassifyEveryImage"]

    assert (batch_map("lowest")["MaxConcurrency"],
            batch_map("lowest")["ToleratedFailurePercentage"]) == (1, 0.0)
    assert (batch_map("highest")["MaxConcurrency"],
            batch_map("highest")["ToleratedFailurePercentage"]) == (10000, 100.0)
    # AND the integer percentage AWS takes (moto does not) reaches the validator as an integer
    integer = batch_map("integer-percentage")["ToleratedFailurePercentage"]
    assert integer == 100 and isinstance(integer, int)
    for partition in ("aws-cn", "aws-us-gov"):
        text = json.dumps(rendered[f"ImageClassificationStateMachine.{partition}.asl.json"])
        assert f"arn:{partition}:lambda:" in text and "arn:aws:" not in text


@pytest.mark.skipif(not (REPO_ROOT / "tools/asl-validator/node_modules").exists(),
                    reason="asl-validator is installed by `make lint` (npm ci)")
def test_the_validator_accepts_the_shipped_definitions_and_rejects_a_broken_one(
        validate_asl, rendered, tmp_path):
    # GIVEN the rendered definitions and one with an out-of-range tolerated-failure percentage
    good = tmp_path / "good.asl.json"
    definition = rendered["BatchClassificationStateMachine.defaults.asl.json"]
    good.write_text(json.dumps(definition))
    broken = json.loads(json.dumps(definition))
    broken["States"]["ClassifyEveryImage"]["ToleratedFailurePercentage"] = 150
    bad = tmp_path / "bad.asl.json"
    bad.write_text(json.dumps(broken))
    # THEN the validator accepts the first and rejects the second
    assert validate_asl.validate([good]) == 0
    assert validate_asl.validate([bad]) == 1

"""Validate both state machines with asl-validator, as Step Functions receives them.

    python tools/asl-validator/validate_asl.py                  # make lint runs this
    python tools/asl-validator/validate_asl.py --keep build/asl  # and keep the rendered files

The ASL files hold ``${...}`` DefinitionSubstitutions placeholders, and one of them stands for
a number (``"MaxConcurrency": ${BatchMaxConcurrency}``), so the raw files are not JSON and no
ASL validator can read them. Step Functions never sees them either: it receives the definition
with the substitutions made. So the template is deployed (scones.local.deploy.describe: sam
package, the SAM transform and CloudFormation in moto, parameter values checked against the
template's constraints) and each state machine's definition, as the stack created it, is
validated: with the parameter defaults and with the numeric parameters at their extremes.

What the local stack cannot be deployed with is rendered from the shipped ASL and the
deployment's substitutions, each resolved as CloudFormation would resolve it: in the other
partitions (the stack runs in one region of ``aws``: the ARNs' partition and region,
``AWS::Partition`` and ``AWS::Region`` replaced), so the validator's ARN checks see every
partition; and with an integer ``BatchToleratedFailurePercentage``, which AWS takes but moto's
ASL parser rejects (the checked parameter value replaces each substitution that is a ``Ref``
to it). A failure names the state machine and the variant.

The validator is the npm package asl-validator, pinned in package.json / package-lock.json
next to this file and installed by ``make lint`` (``npm ci``) into node_modules/ here.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

from scones.local.deploy import REGION, describe, read_template
from scones.local.moto_adapter import check_parameters, substitute_definition

HERE = Path(__file__).resolve().parent
VALIDATOR = HERE / "node_modules" / ".bin" / "asl-validator"
DEPLOYED_PARTITION = "aws"


class Variant(NamedTuple):
    """One rendering of the definitions. ``deployed``: the stack is created with
    ``parameters``; else they are checked and applied to the default stack's substitutions."""

    name: str
    partition: str
    region: str
    parameters: dict[str, str]
    deployed: bool = True


# defaults, then every numeric parameter the definitions take at its extremes (MinValue /
# MaxValue of the template), then what only AWS takes, then the partitions.
VARIANTS: list[Variant] = [
    Variant("defaults", "aws", REGION, {}),
    Variant("lowest", "aws", REGION, {"BatchMaxConcurrency": "1",
                                      "BatchToleratedFailurePercentage": "0.0",
                                      "ConfidenceThreshold": "0"}),
    Variant("highest", "aws", REGION, {"BatchMaxConcurrency": "10000",
                                       "BatchToleratedFailurePercentage": "100.0",
                                       "ConfidenceThreshold": "1"}),
    Variant("integer-percentage", "aws", REGION, {"BatchToleratedFailurePercentage": "100"},
            deployed=False),
    Variant("aws-cn", "aws-cn", "cn-north-1", {}),
    Variant("aws-us-gov", "aws-us-gov", "us-gov-west-1", {}),
]
_ARN = re.compile(r"^arn:([^:]*):([^:]*):([^:]*):")


def relocated(value: str, declaration: object, partition: str, region: str) -> str:
    """A substitution's deployed value as CloudFormation resolves it in ``partition`` and
    ``region``: a pseudo parameter's own value, an ARN's partition and region replaced."""
    pseudo = {"AWS::Partition": partition, "AWS::Region": region}
    if isinstance(declaration, dict) and declaration.get("Ref") in pseudo:
        return pseudo[declaration["Ref"]]
    match = _ARN.match(value)
    if match is None:
        return value
    if match.group(1) != DEPLOYED_PARTITION:
        raise ValueError(f"{value}: not an ARN of the deployed partition {DEPLOYED_PARTITION}")
    arn_region = region if match.group(3) == REGION else match.group(3)
    return f"arn:{partition}:{match.group(2)}:{arn_region}:{value[match.end():]}"


def definitions(variant: Variant) -> dict[str, str]:
    """Each state machine's definition as Step Functions receives it in ``variant``."""
    deployment = describe(parameters=variant.parameters if variant.deployed else {})
    if variant.deployed and (variant.partition, variant.region) == (DEPLOYED_PARTITION, REGION):
        return {logical_id: machine.definition
                for logical_id, machine in deployment.state_machines.items()}
    template = read_template(deployment.template_path)
    checked = {} if variant.deployed else check_parameters(template, variant.parameters)
    values = {name: checked[name] for name in variant.parameters if name in checked}
    used: set[str] = set()
    out = {}
    for logical_id, machine in deployment.state_machines.items():
        properties = template["Resources"][logical_id]["Properties"]
        declared = properties.get("DefinitionSubstitutions") or {}
        substitutions = {}
        for key, value in machine.substitutions.items():
            declaration = declared.get(key)
            ref = declaration.get("Ref") if isinstance(declaration, dict) else None
            if ref in values:
                substitutions[key] = values[ref]
                used.add(ref)
            else:
                substitutions[key] = relocated(value, declaration, variant.partition,
                                               variant.region)
        shipped = deployment.template_path.parent / properties["DefinitionUri"]
        out[logical_id] = substitute_definition(shipped.read_text(encoding="utf-8"),
                                                substitutions)
    unused = set(values) - used
    if unused:
        raise ValueError(f"variant {variant.name}: {sorted(unused)} reach no definition as a "
                         "plain Ref substitution; deploy it instead")
    return out


def render(directory: Path) -> list[Path]:
    """Write every state machine's definition, for every variant, into ``directory``."""
    paths = []
    for variant in VARIANTS:
        for logical_id, definition in sorted(definitions(variant).items()):
            path = directory / f"{logical_id}.{variant.name}.asl.json"
            path.write_text(definition, encoding="utf-8")
            paths.append(path)
    return paths


def validate(paths: list[Path], validator: Path = VALIDATOR) -> int:
    """Run asl-validator on each file; the number of invalid ones."""
    if not validator.exists():
        sys.exit(f"{validator} is missing: run `make lint` (npm ci --prefix {HERE})")
    invalid = 0
    for path in paths:
        result = subprocess.run([str(validator), "--json-path", str(path)],  # noqa: S603
                                capture_output=True, text=True, check=False)
        print(f"{'ok     ' if result.returncode == 0 else 'INVALID'} {path.name}")
        if result.returncode != 0:
            invalid += 1
            print((result.stdout + result.stderr).strip(), file=sys.stderr)
    return invalid


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="write the rendered definitions here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        directory = args.keep or Path(scratch)
        directory.mkdir(parents=True, exist_ok=True)
        invalid = validate(render(directory))
    if invalid:
        print(f"{invalid} state machine definition(s) are not valid ASL", file=sys.stderr)
    return 1 if invalid else 0


if __name__ == "__main__":
    sys.exit(main())

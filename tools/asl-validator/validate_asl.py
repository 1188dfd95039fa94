"""Validate both state machines with asl-validator, as Step Functions receives them.

    python tools/asl-validator/validate_asl.py                  # make lint runs this
    python tools/asl-validator/validate_asl.py --keep build/asl  # and keep the rendered files

The ASL files hold ``${...}`` DefinitionSubstitutions placeholders, and one of them stands for
a number (``"MaxConcurrency": ${BatchMaxConcurrency}``), so the raw files are not JSON and no
ASL validator can read them. Step Functions never sees them either: it receives the definition
with the substitutions made. So each definition is rendered the way CloudFormation renders it
(scones.local.template: the template's DefinitionSubstitutions, parameter values checked
against the template's constraints, ARNs of the partition) and the rendered JSON is validated:
with the parameter defaults, with the numeric parameters at their extremes, and in each
partition (ARN checks included). A failure names the state machine and the variant.

The validator is the npm package asl-validator, pinned in package.json / package-lock.json
next to this file and installed by ``make lint`` (``npm ci``) into node_modules/ here.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from scones.local.template import load_app

HERE = Path(__file__).resolve().parent
VALIDATOR = HERE / "node_modules" / ".bin" / "asl-validator"

RESOURCE_NAMES = {"ImageBucket": "scones-images"}  # the one !Ref the definitions need a name for
# (name, partition, region, parameter overrides): defaults, then every numeric parameter the
# definitions take at its extremes (MinValue / MaxValue of the template), then the partitions.
VARIANTS: list[tuple[str, str, str, dict[str, str]]] = [
    ("defaults", "aws", "us-east-1", {}),
    ("lowest", "aws", "us-east-1", {"BatchMaxConcurrency": "1",
                                    "BatchToleratedFailurePercentage": "0.0",
                                    "ConfidenceThreshold": "0"}),
    ("highest", "aws", "us-east-1", {"BatchMaxConcurrency": "10000",
                                     "BatchToleratedFailurePercentage": "100.0",
                                     "ConfidenceThreshold": "1"}),
    ("integer-percentage", "aws", "us-east-1", {"BatchToleratedFailurePercentage": "100"}),
    ("aws-cn", "aws-cn", "cn-north-1", {}),
    ("aws-us-gov", "aws-us-gov", "us-gov-west-1", {}),
]


def render(directory: Path) -> list[Path]:
    """Write every state machine's definition, for every variant, into ``directory``."""
    paths = []
    for variant, partition, region, parameters in VARIANTS:
        app = load_app(parameters=parameters, resource_names=RESOURCE_NAMES,
                       partition=partition, region=region, stack_name="scones")
        for logical_id, machine in sorted(app.state_machines.items()):
            path = directory / f"{logical_id}.{variant}.asl.json"
            path.write_text(machine.definition, encoding="utf-8")
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

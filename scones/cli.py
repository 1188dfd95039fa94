"""The `scones` command line: one entry point, one module per subcommand.

Each command module exposes ``register(subparsers)`` which adds its parser and sets
``func=run`` on it. Modules import their heavy dependencies (torch, moto, matplotlib) inside
``run`` so that ``scones --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# subcommand name -> module that registers it (keep in README order)
COMMANDS = {
    "pretrain": "model.cli",
    "train": "model.cli",
    "evaluate": "model.cli",
    "deploy": "model.cli",
    "serve": "scones.workflow.cli",
    "run": "scones.workflow.cli",
    "invoke": "scones.workflow.cli",
    "up": "scones.workflow.up",
    "down": "scones.workflow.up",
    "logs": "scones.workflow.up",
    "demo": "scones.demo",
    "monitor": "scones.monitor.cli",
    "cost": "scones.scale.cli",
    "capacity": "scones.scale.cli",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scones",
        description="Classify delivery-vehicle photos (bicycle / motorcycle): train the model, "
        "run the AWS SAM workflow locally, and monitor captured inferences.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in dict.fromkeys(COMMANDS.values()):
        importlib.import_module(module_name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())

"""The `scones` command line: one entry point, one module per subcommand.

Each command module exposes ``register(subparsers)`` which adds its parser and sets
``func=run`` on it. Modules import their heavy dependencies (torch, moto, matplotlib) inside
``run`` so that ``scones --help`` stays fast.

Errors: a usage error is one line on stderr and exit 2, found while the arguments parse (each
value's ``type=`` checks it, see ``scones_domain.arguments``), before any slow start-up. A
command that fails prints ``error: <one line>`` and exits 1; ``--debug`` shows the traceback
instead.
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
    "retrain": "scones.retrain.cli",
    "cost": "scones.scale.cli",
    "capacity": "scones.scale.cli",
}


EXIT_CODES = """exit status:
  0    success
  1    the work failed (AWS refused, an image failed, no captures, ...)
  2    usage error: a bad option or value, a missing file (one line on stderr)
  3    a check asked for failed: scones monitor --fail-on drift (drift), scones retrain
       --fail-if-rejected (the promotion gate rejected the challenger)
  130  interrupted (Ctrl-C)
"""


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line (``scones run: error: ...``, exit 2);
    the usage itself is in ``--help``. Subcommand parsers inherit the class."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="scones",
        description="Classify delivery-vehicle photos (bicycle / motorcycle): train the model, "
        "run the AWS SAM workflow locally, and monitor captured inferences.",
        epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    debug_help = "show the traceback of an error (default: one line on stderr)"
    parser.add_argument("--debug", action="store_true", help=debug_help)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in dict.fromkeys(COMMANDS.values()):
        importlib.import_module(module_name).register(sub)
    for command in sub.choices.values():  # `scones run --debug ...` as well as `scones --debug run`
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help=debug_help)
    return parser


def one_line(exc: BaseException) -> str:
    """The first line of an exception's message (its class name when it has none)."""
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    lines = text.strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

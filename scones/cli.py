"""The `scones` command line: one entry point, one module per subcommand.

Each command module exposes ``register(subparsers)`` which adds its parser and sets
``func=run`` on it. Modules import their heavy dependencies (torch, moto, matplotlib) inside
``run`` so that ``scones --help`` stays fast, and a command line that names its command
registers only that command's module (``scones run ...`` imports none of the others).

Errors: a usage error is one line on stderr and exit 2, found while the arguments parse (each
value's ``type=`` checks it, see ``scones_domain.arguments``), before any slow start-up. A
command that fails prints ``error: <one line>`` and exits 1; ``--debug`` shows the traceback
instead.
"""

from __future__ import annotations

import argparse
import gc
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
    "review": "scones.review.cli",
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


def command_modules(argv: list[str] | None = None) -> list[str]:
    """The modules to register for ``argv``: the named command's alone when the command comes
    first (``--debug`` may precede it), else every module (``--help``, a mistyped command)."""
    everything = list(dict.fromkeys(COMMANDS.values()))
    if argv is None:
        return everything
    named = next((arg for arg in argv if arg != "--debug"), None)
    return [COMMANDS[named]] if named in COMMANDS else everything


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser of ``argv``'s command (:func:`command_modules`); of every command without."""
    parser = Parser(
        prog="scones",
        description="Classify delivery-vehicle photos (bicycle / motorcycle): train the model, "
        "run the AWS SAM workflow locally, and monitor captured inferences.",
        epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    debug_help = "show the traceback of an error (default: one line on stderr)"
    parser.add_argument("--debug", action="store_true", help=debug_help)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in command_modules(argv):
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
    """The program (``argv`` None: the command line's) or one command line in this process."""
    program = argv is None
    argv = sys.argv[1:] if program else argv
    parser = build_parser(argv)
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
    finally:
        if program:  # the process ends now: its last garbage collection would walk every
            gc.freeze()  # object botocore and the command imported (~0.2 s of CPU in a warm run)


if __name__ == "__main__":
    sys.exit(main())

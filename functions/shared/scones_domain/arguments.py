"""The values the command lines take, checked while they parse (argparse ``type=`` functions).

Each function takes the text of one option and returns its value, or raises
``argparse.ArgumentTypeError`` with what is wrong and, where there is one, the fix. argparse
then prints one line (``scones run: error: argument --threshold: must be between 0 and 1, got
1.5``) and exits 2, before any slow start-up (torch, moto, the model). The product's own rules
(the threshold, the endpoint name the template takes) are written here once for every command.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import tarfile
from pathlib import Path

# SageMaker's endpoint name pattern, and the template's EndpointName (lowercase: SageMaker keeps
# endpoint names lowercase in their ARNs, and the stack's InvokeEndpoint policy names that ARN).
SAGEMAKER_ENDPOINT_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
ENDPOINT_NAME = re.compile(r"^[a-z0-9](-*[a-z0-9]){0,62}$")
STDOUT = "-"  # `--json -`: write to standard output

# The first bytes of files people give by mistake where a model.tar.gz is expected
_MAGIC = {b"\x89PNG": "a PNG image", b"\xff\xd8\xff": "a JPEG image", b"GIF8": "a GIF image",
          b"PK\x03\x04": "a zip archive", b"{": "a JSON file", b"[": "a JSON file"}


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def probability(text: str) -> float:
    """A threshold or a share: a number in [0, 1]."""
    value = _number(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def percentage(text: str) -> float:
    """A sampling percentage: a number in [0, 100]."""
    value = _number(text)
    if not 0.0 <= value <= 100.0:
        raise argparse.ArgumentTypeError(f"must be a percentage between 0 and 100, got {text}")
    return value


def positive_number(text: str) -> float:
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
    return value


def non_negative_number(text: str) -> float:
    """A weight or amount that may be 0 (off)."""
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def positive_int(text: str) -> int:
    """A count of at least 1 (instances, executions in flight, epochs)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def stage_widths(text: str) -> list[int]:
    """A ResNet-8's channels per stage: three whole numbers of at least 1, e.g. ``48,96,192``."""
    parts = text.split(",")
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(f"three comma-separated channel counts, e.g. 32,64,128; "
                                         f"got {text!r}")
    return [positive_int(part.strip()) for part in parts]


def port(text: str) -> int:
    """A TCP port: 1-65535, or 0 for any free one."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port between 1 and 65535 (0: any free "
                                         f"port), got {text}")
    return value


def existing_path(text: str) -> str:
    """A file or folder that exists."""
    if not Path(text).exists():
        raise argparse.ArgumentTypeError(f"{text}: no such file or folder")
    return text


def readable_file(text: str) -> str:
    """A file to read, or ``-`` for standard input."""
    if text == STDOUT:
        return text
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{text}: no such file")
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder, not a file")
    return text


def output_file(text: str) -> str:
    """Where ``--json`` writes: a file path (its folders are made), or ``-`` for stdout."""
    if text == STDOUT:
        return text
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder: give a file path, or - for "
                                         f"standard output")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise argparse.ArgumentTypeError(f"{text}: {parent} is a file, not a folder")
            break
    return text


def model_tarball(text: str) -> str:
    """A model.tar.gz that exists and is a tar archive (its members are checked when loaded)."""
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(
            f"{text}: no such file; train one (scones train --data DATA --out DIR) or run "
            f"scones demo")
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder; give the model.tar.gz file")
    try:
        with path.open("rb") as file:
            head = file.read(8)
        is_tar = tarfile.is_tarfile(path)
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"{text}: cannot read it ({exc.strerror})") from None
    if not is_tar:
        kind = next((name for magic, name in _MAGIC.items() if head.startswith(magic)), None)
        raise argparse.ArgumentTypeError(f"{text} is {kind}, not a model.tar.gz" if kind else
                                         f"{text} is not a model.tar.gz (not a tar archive)")
    return text


def model_artifact(text: str) -> str:
    """A model.tar.gz, or the folder it unpacks to (holding code/inference.py)."""
    path = Path(text)
    if path.is_dir():
        if not (path / "code" / "inference.py").is_file():
            raise argparse.ArgumentTypeError(
                f"{text} is a folder without code/inference.py: give a model.tar.gz or the "
                f"folder it unpacks to")
        return text
    return model_tarball(text)


def endpoint_name(text: str) -> str:
    """An endpoint name SageMaker accepts and the template's EndpointName takes (lowercase)."""
    if ENDPOINT_NAME.match(text):
        return text
    if SAGEMAKER_ENDPOINT_NAME.match(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} has capitals: SageMaker keeps endpoint names lowercase in their ARNs and "
            f"the stack's EndpointName takes lowercase; use {text.lower()!r}")
    raise argparse.ArgumentTypeError(
        f"{text!r} is not a SageMaker endpoint name: 1-63 letters, digits and hyphens, "
        f"starting and ending with a letter or digit")


def write_output(target: str, text: str) -> None:
    """Write what an ``output_file`` option names: the file (its folders made), or stdout."""
    if target == STDOUT:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")

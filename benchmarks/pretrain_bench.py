""".venv/bin/python benchmarks/pretrain_bench.py [--out runs/pretrain-bench] [--epochs N]

Regenerate the committed backbone (model/backbones/*.npz) with the command its provenance
records (`scones pretrain ...`, only --out replaced), time it, and compare: the same SHA256
means the same weights byte for byte; otherwise the largest difference per tensor and the
held-out accuracies are printed (bfloat16 arithmetic and thread counts can differ between
machines). `--epochs N` runs a shorter regeneration to time it (the weights then differ).
Run it again with the same --out to resume an interrupted regeneration.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def replaced(command: list[str], flag: str, value: str) -> list[str]:
    if flag in command:
        i = command.index(flag)
        return command[: i + 1] + [value] + command[i + 2 :]
    return command + [flag, value]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", type=Path, default=None,
                        help="committed .npz (default: the only one in model/backbones)")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "pretrain-bench")
    parser.add_argument("--epochs", type=int, default=None, help="shorter run, to time it")
    args = parser.parse_args(argv)
    backbone = args.backbone or next(iter(sorted((REPO / "model" / "backbones").glob("*.npz"))))
    record = json.loads(backbone.with_suffix(".json").read_text())
    command = replaced(shlex.split(record["command"]), "--out", str(args.out))
    if args.epochs:
        command = replaced(command, "--epochs", str(args.epochs))
    executable = Path(sys.executable).with_name("scones")
    print("running:", shlex.join([str(executable), *command[1:]]), file=sys.stderr)
    start = time.perf_counter()
    subprocess.run([str(executable), *command[1:]], cwd=REPO, check=True)
    seconds = time.perf_counter() - start
    fresh = json.loads((args.out / "backbone.json").read_text())
    same = fresh["sha256"] == record["sha256"]
    print(f"regenerated in {seconds:.0f} s (pretraining {fresh['train_seconds']:.0f} s; "
          f"committed: {record['train_seconds']:.0f} s on {record['machine']})")
    print(f"sha256 {'identical' if same else 'differs'}: {fresh['sha256']} vs {record['sha256']}")
    print(f"held-out accuracy {fresh['metrics']['holdout_accuracy']:.4f} vs committed "
          f"{record['metrics']['holdout_accuracy']:.4f}")
    if not same:
        with np.load(backbone) as old, np.load(args.out / "backbone.npz") as new:
            worst = max(old.files, key=lambda k: float(np.abs(
                old[k].astype(np.float64) - new[k].astype(np.float64)).max()))
            diff = np.abs(old[worst].astype(np.float64) - new[worst].astype(np.float64)).max()
            print(f"largest difference: {diff:.3g} in {worst}")
    return 0 if same or args.epochs else 1


if __name__ == "__main__":
    raise SystemExit(main())

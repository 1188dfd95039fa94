""".venv/bin/python benchmarks/train_step_profile.py [--epochs 8] [--threads 1] [--json FILE]

Where one fine-tuning step of a member goes: the default recipe's step (`model.train`'s
augmentation, CutMix, the forward pass under the recipe's precision, the backward pass, the SGD
step and the EMA update) timed phase by phase on 800 images of random pixels from the committed
backbone, one member at `--threads` threads (`scones train` trains its two members side by
side, one thread each); CutMix on every other batch, as `cutmix` 0.5 does on average. The
first two epochs are warm-up and not counted. Prints a table of milliseconds per step and
what the recipe's epochs (120 of 13 steps) cost at that rate.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from model.train import (  # noqa: E402
    TrainConfig,
    augment,
    build_network,
    cutmix,
    load_pretrained,
    training_precision,
)

PHASES = ("augment", "cutmix", "forward", "backward", "sgd_step", "ema")


def profile(epochs: int, threads: int, images: int = 800) -> dict:
    torch.set_num_threads(threads)
    config = TrainConfig()
    bfloat16 = training_precision(config.precision) == "bfloat16"
    x, y_all = torch.randn(images, 3, 32, 32), torch.randint(0, 2, (images,))
    net = build_network(2, config.widths, config.arch)
    load_pretrained(net, config.backbone)
    net = net.to(memory_format=torch.channels_last).train()
    optimizer = torch.optim.SGD(net.parameters(), lr=config.lr, momentum=config.momentum,
                                nesterov=True, weight_decay=config.weight_decay)
    ema = copy.deepcopy(net).eval()
    gen = torch.Generator().manual_seed(0)
    spent, counted = dict.fromkeys(PHASES, 0.0), 0
    for epoch in range(epochs + 2):
        order = torch.randperm(images, generator=gen)
        for start in range(0, images, config.batch_size):
            idx = order[start : start + config.batch_size]
            marks = [time.perf_counter()]
            batch, y = augment(x[idx], config, gen), y_all[idx]
            marks.append(time.perf_counter())
            batch, y_mix, lam = cutmix(batch, y, gen) if (start // config.batch_size) % 2 else (
                batch, y, 1.0)
            marks.append(time.perf_counter())
            with torch.autocast("cpu", torch.bfloat16, enabled=bfloat16):
                out = net(batch.contiguous(memory_format=torch.channels_last)).float()
            loss = (lam * F.cross_entropy(out, y, label_smoothing=config.label_smoothing)
                    + (1 - lam) * F.cross_entropy(out, y_mix,
                                                  label_smoothing=config.label_smoothing))
            marks.append(time.perf_counter())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            marks.append(time.perf_counter())
            optimizer.step()
            marks.append(time.perf_counter())
            with torch.no_grad():
                for e, p in zip(ema.parameters(), net.parameters(), strict=True):
                    e.lerp_(p, 1 - config.ema)
            marks.append(time.perf_counter())
            if epoch >= 2:
                counted += 1
                for phase, a, b in zip(PHASES, marks, marks[1:], strict=False):
                    spent[phase] += b - a
    per_step = {phase: 1000 * s / counted for phase, s in spent.items()}
    total = sum(per_step.values())
    steps = -(-images // config.batch_size) * config.epochs
    return {"threads": threads, "precision": "bfloat16" if bfloat16 else "float32",
            "steps_counted": counted, "ms_per_step": per_step, "total_ms_per_step": total,
            "recipe_epochs": config.epochs, "recipe_seconds_at_this_rate": total * steps / 1000}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Where one fine-tuning step of a member goes, phase by phase.")
    parser.add_argument("--epochs", type=int, default=8, help="epochs timed (after 2 warm-up)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None, help="also write the result as JSON")
    args = parser.parse_args(argv)
    result = profile(args.epochs, args.threads)
    print(f"| phase | ms per step ({result['threads']} thread(s), {result['precision']}) |")
    print("|---|---|")
    for phase, ms in result["ms_per_step"].items():
        print(f"| {phase} | {ms:.2f} |")
    print(f"| total | {result['total_ms_per_step']:.1f} |")
    print(f"{result['recipe_epochs']} epochs at this rate: "
          f"{result['recipe_seconds_at_this_rate']:.0f} s per member")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

""".venv/bin/python benchmarks/inference_profile.py --model runs/model/model.tar.gz
    [--threads 2,1] [--batch 64]

Where one image's in-process inference time goes, and what the variants of the served forward
pass cost: input_fn's parts (PNG decode and resize, tensor conversion), then predict_fn as the
artifact's own code/inference.py serves it against variations built from the same weights
(members one by one or stacked into one network of grouped convolutions, as model_fn serves
them today; 2 threads or 1; without channels_last; without flip TTA; one member; TorchScript
trace + freeze).
Each variant's probabilities are compared with the served ones (largest absolute difference) on
the validation images of the shared data when they are there, else on random images.
Each step is timed in --rounds interleaved rounds of --repeats calls (after warm-up calls);
a cell is the lowest of its rounds' medians, the least disturbed by other jobs, and in brackets
the median of them. Say `uptime`.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from model.package import LoadedArtifact  # noqa: E402


def median_ms(call, repeats: int) -> float:
    for _ in range(min(30, repeats)):
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def variants(artifact) -> dict:
    """name -> a callable (N, 3, S, S) in [0, 1] -> probabilities: the artifact's own
    predict_fn, then variations built from its weights with this checkout's model.inference."""
    from model.inference import (
        CalibratedEnsemble,
        StackedResNet8,
        build_network,
        fold_batchnorm,
        read_weights,
    )

    meta = artifact.metadata
    members = []
    for state in read_weights(artifact.model_dir / "weights.npz"):
        net = build_network(len(meta["labels"]), meta["network"]["widths"],
                            meta["network"]["arch"])
        net.load_state_dict(state)
        members.append(fold_batchnorm(net.eval()))
    temperature, tta = meta["temperature"], meta.get("tta_flip", True)
    size = meta["input_size"]

    def ensemble(nets, tta_flip: bool = tta, channels_last: bool = True):
        out = CalibratedEnsemble(list(nets), temperature, tta_flip).eval()
        return out.to(memory_format=torch.channels_last) if channels_last else out

    def script(net):
        with torch.no_grad():
            return torch.jit.freeze(torch.jit.trace(net, torch.rand(1, 3, size, size)).eval())

    def eager(net):
        def call(x):
            with torch.inference_mode():
                return net(x)
        return call

    stacked = StackedResNet8(members)
    return {
        "served (the artifact's code/inference.py)":
            lambda x: artifact.module.predict_fn(x, artifact.model),
        "members one by one": eager(ensemble(members)),
        "members one by one, contiguous (no channels_last)":
            eager(ensemble(members, channels_last=False)),
        "members one by one, TorchScript trace + freeze": eager(script(ensemble(members))),
        "members stacked (grouped convolutions)": eager(ensemble([stacked])),
        "members stacked, TorchScript trace + freeze": eager(script(ensemble([stacked]))),
        "members stacked, no flip TTA": eager(ensemble([stacked], False)),
        "members one by one, no flip TTA": eager(ensemble(members, False)),
        "one member": eager(ensemble(members[:1])),
        "one member, no flip TTA": eager(ensemble(members[:1], False)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=REPO / "runs" / "model" / "model.tar.gz")
    parser.add_argument("--threads", default="2,1", help="torch threads to time, e.g. 2,1")
    parser.add_argument("--repeats", type=int, default=100, help="calls per round")
    parser.add_argument("--rounds", type=int, default=10, help="interleaved rounds per step")
    parser.add_argument("--batch", type=int, default=0,
                        help="also time a batch of this many images (5 calls a round)")
    parser.add_argument("--data", type=Path,
                        default=REPO.parent / "shared" / "data" / "cifar100-bicycle-motorcycle")
    args = parser.parse_args(argv)
    with LoadedArtifact(args.model) as artifact:
        module, model = artifact.module, artifact.model
        rng = np.random.default_rng(0)
        pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "PNG")
        body = buffer.getvalue()
        if args.data.exists():
            from model.data import find_samples, load_images, stratified_split

            loaded = load_images(find_samples(args.data), progress=False)
            validation, _, _ = stratified_split(loaded.targets, [0.2, 0.0], 0)
            images = module.to_tensor(loaded.images[validation])
        else:
            images = torch.rand(200, 3, 32, 32)
        calls = variants(artifact)
        with torch.inference_mode():
            reference = module.predict_fn(images, model)
        network = artifact.metadata["network"]
        print(f"{args.model}: {network['members']} members, widths {network['widths']}, flip TTA "
              f"{artifact.metadata.get('tta_flip', True)}; probabilities compared on "
              f"{len(images)} images")
        print("| step | " + " | ".join(f"{t} thread(s) ms, best (median) round"
                                       for t in args.threads.split(","))
              + " | max abs prob diff vs served |")
        print("|---|" + "---|" * len(args.threads.split(",")) + "---|")
        rows: dict[str, list[float]] = {}
        tensor = module.input_fn(body, "image/png")
        steps = {
            "input_fn (32x32 PNG)": lambda: module.input_fn(body, "image/png"),
            "  decode_image": lambda: module.decode_image(body, 32),
            "  to_tensor": lambda: module.to_tensor(pixels),
            "output_fn": lambda: module.output_fn(reference[:1], "application/json"),
        }
        steps.update({f"predict_fn: {name}": (lambda c=call: c(tensor))
                      for name, call in calls.items()})
        if args.batch:  # what a batch job or concatenated requests send
            batch = images[: args.batch]
            steps.update({f"{args.batch} images, {name}": (lambda c=calls[name]: c(batch))
                          for name in ("members one by one",
                                       "members stacked (grouped convolutions)")})
        for threads in (int(t) for t in args.threads.split(",")):
            torch.set_num_threads(threads)
            rounds: dict[str, list[float]] = {}
            for _ in range(args.rounds):
                for name, call in steps.items():
                    repeats = args.repeats if name[0] not in "0123456789" else 5
                    rounds.setdefault(name, []).append(median_ms(call, repeats))
            for name, medians in rounds.items():
                rows.setdefault(name, []).append((min(medians), statistics.median(medians)))
        for name, times in rows.items():
            diff = ""
            if name.startswith("predict_fn"):
                with torch.inference_mode():
                    probs = calls[name.split(": ", 1)[1]](images)
                diff = f"{float((probs - reference).abs().max()):.2e}"
            print(f"| {name} | " + " | ".join(f"{low:.3f} ({mid:.3f})" for low, mid in times)
                  + f" | {diff} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

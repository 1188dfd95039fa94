"""Train the vehicle classifier: a small ensemble of ResNet-8 nets (the training step).

    .venv/bin/scones train --data ../shared/data/cifar100-bicycle-motorcycle --out runs/model
    .venv/bin/scones train --data ... --out runs/scratch --from-scratch   # random initialization
    # (both run the whole pipeline, train -> calibrate -> package: model/pipeline.py)

Recipe (chosen on the held-out validation split and 5-fold CV, see docs/model.md): stratified
split of the data into train / validation (and an optional calibration split); each member
starts from the committed backbone pretrained on CIFAR-10 (`scones pretrain`, model/backbones;
a fresh linear head) and fine-tunes every layer (or, `--from-scratch`, starts from random
weights with the longer FROM_SCRATCH recipe). It trains with TrivialAugment
(model/augment.py), random crop (reflect pad), horizontal flip and cutout, CutMix on half the
batches, label smoothing, SGD + Nesterov with a one-cycle schedule and an EMA of the weights
(forward pass in bfloat16 where the CPU has it natively); the served model averages member
logits for the image (and its mirror with ``tta_flip``, the from-scratch recipe's default).
``train`` returns it uncalibrated (temperature 1) with the split whose held-out images
model/calibrate.py fits the temperature on.
"""

from __future__ import annotations

import copy
import math
import os
import platform
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from model.augment import augment, cutmix
from model.data import LoadedImages, find_samples, load_images, stratified_split
from model.inference import CalibratedEnsemble, build_network, to_tensor

# the committed backbone (`scones pretrain`, provenance next to it: docs/model.md)
BACKBONE = "model/backbones/cifar10-resnet8-32-64-128.npz"


@dataclass
class TrainConfig:
    """Hyperparameters, each with its unit and reason."""

    epochs: int = 120  # passes over the train split per member, fine-tuning the pretrained
    # backbone (5-fold CV over seeds 0-3, docs/model.md: 120 vs 60 epochs, accuracy 0.956 vs
    # 0.951, coverage at 0.93 0.836 vs 0.817; 60 vs 30 gained more; at lr 0.1, 90 vs 120: -0.006
    # accuracy, -0.023 coverage; from scratch: 350)
    members: int = 2  # ensemble size (inference cost grows linearly)
    arch: str = "resnet8"  # network in inference.ARCHITECTURES
    widths: list[int] = field(default_factory=lambda: [32, 64, 128])  # channels per stage:
    # the backbone's (from scratch: 24/48/96)
    batch_size: int = 64  # images per SGD step
    lr: float = 0.1  # peak learning rate of the one-cycle schedule, as from scratch: the
    # backbone's CIFAR-10 features need to move (5-fold CV over seeds 0-3, docs/model.md: 0.1 vs
    # 0.03, accuracy 0.963 vs 0.953, coverage at 0.93 0.875 vs 0.830; 0.06 and 0.2 in between)
    warmup: float = 0.1  # share of steps spent warming the learning rate up (from scratch: 0.2)
    momentum: float = 0.9  # Nesterov momentum
    weight_decay: float = 5e-4  # L2 on conv/linear weights (from scratch 2e-3, chosen over
    # 5e-4 and 5e-3 there: docs/model.md; fine-tuning keeps the pretrained weights' scale)
    label_smoothing: float = 0.05  # keeps logits finite; 0.2 capped probabilities below 0.93;
    # with TrivialAugment 0.05 beat 0.1 and 0 (0 raised accuracy but made errors confident)
    crop_pad: int = 4  # reflect padding for random crops (pixels)
    cutout: int = 8  # side of the square erased per image (pixels; 0 = off)
    trivial_augment: bool = True  # one random photometric/geometric op per image
    # (model/augment.py), before crop, flip and cutout (on vs off: docs/model.md)
    trivial_augment_scale: float = 1.0  # multiplies shear (0.3), shift (10 px), rotation (30 deg)
    cutmix: float = 0.5  # probability that a batch gets CutMix (box from a shuffled partner);
    # 0.5 vs 0: accuracy 0.895 vs 0.882, covered accuracy 0.985 vs 0.964 (3 seeds, docs/model.md)
    ema: float = 0.99  # per-step decay of the weight average that gets served (0 = off)
    tta_flip: bool = False  # average predictions over the image and its mirror: off, so one
    # image is one pass of the 2-member network, 1.55 ms against 2.23 ms with it (single-image
    # inference <= 2 ms); 5-fold CV, seeds 0-3: accuracy 0.963 vs 0.964, coverage 0.875 vs 0.870
    # (docs/model.md). The from-scratch recipe keeps it on.
    precision: str = "auto"  # of the training forward pass: "bfloat16" autocasts convolutions
    # and the classifier (weights, optimizer, EMA and the served model stay float32), about
    # 1.4x faster on CPUs with native bfloat16, same quality (5-fold CV: docs/model.md);
    # "auto" = bfloat16 on such CPUs, else "float32" (emulated bfloat16 is slow)
    calibration_fraction: float = 0.0  # share that only fits the temperature; 0 = fit it on
    # the validation split instead (its metrics then cross-fitted: docs/model.md) and train on
    # those 100 more images (a separate 10% split measured worse: docs/model.md)
    validation_fraction: float = 0.2  # share held out for evaluation (0 = train on the rest)
    split_seed: int = 0  # fixed: every run holds out the same images
    seed: int = 0  # training randomness (init, batches, augmentation)
    threads: int = 2  # CPU threads in all: with 2+ members, min(members, threads) processes
    # train members side by side with threads // processes each (on 2 cores, 2 members x 1
    # thread: about 20 s per 20 epochs, against 26 s one after the other at 2 threads)
    backbone: str = BACKBONE  # pretrained feature extractor to start from (.npz of `scones
    # pretrain`; a relative path is looked up from the working directory, then the repository
    # root); "" = random initialization (from scratch: FROM_SCRATCH below)
    freeze_backbone: bool = False  # train only the linear head on the backbone's features
    backbone_lr: float = 1.0  # the backbone's learning rate as a share of `lr`
    decay_to_backbone: bool = False  # weight decay pulls the backbone's weights towards the
    # pretrained ones (L2-SP) instead of towards zero


REPO_ROOT = Path(__file__).resolve().parents[1]


def backbone_path(name: str | os.PathLike) -> Path:
    """Where ``TrainConfig.backbone`` points: as given when it exists, else from the repository
    root (so the committed backbone is found from any working directory)."""
    path = Path(name)
    return path if path.is_absolute() or path.exists() else REPO_ROOT / path


def load_backbone(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A backbone .npz (``scones pretrain``) -> state_dict entries (``features.*``) for
    ``load_state_dict``."""
    with np.load(path, allow_pickle=False) as arrays:
        return {name: torch.from_numpy(arrays[name].copy()) for name in arrays.files}


def backbone_widths(path: str | os.PathLike) -> list[int]:
    """Channels per stage of a ResNet-8 backbone file (stem, block 2, block 3 output)."""
    with np.load(path, allow_pickle=False) as arrays:
        return [int(arrays["features.0.weight"].shape[0]),
                int(arrays["features.4.conv1.weight"].shape[0]),
                int(arrays["features.5.conv1.weight"].shape[0])]


def from_backbone(config: TrainConfig, name: str) -> TrainConfig:
    """``config`` fine-tuning from the backbone file ``name`` at the widths that file holds
    (``scones pretrain --widths``)."""
    return replace(config, backbone=name, widths=backbone_widths(backbone_path(name)))


def load_pretrained(net: torch.nn.Module, name: str | os.PathLike) -> None:
    """Copy a backbone file's ``features.*`` weights into ``net`` (the head stays random)."""
    path = backbone_path(name)
    if not path.exists():
        raise FileNotFoundError(f"backbone {name} not found (looked at {path})")
    state = load_backbone(path)
    try:
        missing, unexpected = net.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        raise ValueError(f"backbone {path} does not fit the network (widths?): {exc}") from exc
    if unexpected or any(not k.startswith("head.") for k in missing):
        raise ValueError(f"backbone {path} does not fit the network: missing "
                         f"{[k for k in missing if not k.startswith('head.')]}, "
                         f"unexpected {unexpected}")


# TrainConfig fields that differ between the two recipes, each spelled out in full so that a
# recipe does not depend on which one is the default: every layer fine-tuned from the backbone
PRETRAINED = {"backbone": BACKBONE, "widths": [32, 64, 128], "epochs": 120, "lr": 0.1,
              "weight_decay": 5e-4, "warmup": 0.1, "tta_flip": False}
# ... and random initialization (`scones train --from-scratch`; the default before the backbone)
FROM_SCRATCH = {"backbone": "", "widths": [24, 48, 96], "epochs": 350, "lr": 0.1,
                "weight_decay": 2e-3, "warmup": 0.2, "tta_flip": True}

PRECISIONS = ("auto", "float32", "bfloat16")


def training_precision(requested: str) -> str:
    """The precision of the training forward pass: ``requested``, or for "auto" bfloat16 where
    the CPU computes it natively (AVX512-BF16 or AMX) and float32 elsewhere."""
    if requested not in PRECISIONS:
        raise ValueError(f"precision {requested!r}: use one of {', '.join(PRECISIONS)}")
    if requested != "auto":
        return requested
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    native = any(getattr(torch.cpu, probe, lambda: False)() for probe in probes)
    return "bfloat16" if native else "float32"


@dataclass
class TrainResult:
    model: CalibratedEnsemble
    config: TrainConfig
    data: LoadedImages
    split: dict[str, np.ndarray]
    train_seconds: float
    calibration_split: str = "calibration"  # the held-out split to fit the temperature on
    # ("calibration" when there is one, else "validation")
    history: list[dict] = field(default_factory=list)


def train_member(
    images: torch.Tensor, targets: torch.Tensor, num_classes: int, config: TrainConfig,
    seed: int, progress=None,
) -> torch.nn.Module:
    """Train one network on (already normalized) images; returns its EMA weights in eval mode."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    bfloat16 = training_precision(config.precision) == "bfloat16"
    net = build_network(num_classes, config.widths, config.arch)
    if config.backbone:
        load_pretrained(net, config.backbone)
    frozen = bool(config.backbone) and config.freeze_backbone
    net = net.to(memory_format=torch.channels_last)
    backbone = {id(p) for p in net.features.parameters()} if config.backbone else set()
    groups = {}  # (backbone?, decayed?) -> parameters
    for param in net.parameters():
        if frozen and id(param) in backbone:
            param.requires_grad_(False)
            continue
        groups.setdefault((id(param) in backbone, param.ndim > 1), []).append(param)
    optimizer = torch.optim.SGD(
        [{"params": params, "weight_decay": config.weight_decay if decayed else 0.0,
          "scale": config.backbone_lr if in_backbone else 1.0}
         for (in_backbone, decayed), params in sorted(
             groups.items(), key=lambda item: (item[0][0], not item[0][1]))],
        lr=config.lr, momentum=config.momentum, nesterov=True,
    )
    # L2-SP: SGD adds weight_decay * w to a decayed weight's gradient; subtracting
    # weight_decay * w0 makes that weight_decay * (w - w0), a pull towards the pretrained w0
    anchors = [(p, p.detach().clone()) for p in net.features.parameters()
               if p.ndim > 1 and p.requires_grad] if config.decay_to_backbone and backbone else []
    steps_per_epoch = math.ceil(len(images) / config.batch_size)
    total = steps_per_epoch * config.epochs
    warm = max(1, int(config.warmup * total))

    def lr_at(step: int) -> float:
        if step < warm:
            return config.lr * (step + 1) / warm
        return config.lr * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))

    ema = copy.deepcopy(net).eval() if config.ema else None
    step = 0
    for _ in range(config.epochs):
        net.train()
        if frozen:  # a linear probe: the backbone's BatchNorm statistics stay as pretrained
            net.features.eval()
        order = torch.randperm(len(images), generator=gen)
        for start in range(0, len(images), config.batch_size):
            idx = order[start : start + config.batch_size]
            if len(idx) < 2:
                continue
            batch = augment(images[idx], config, gen)
            y = targets[idx]
            if config.cutmix and torch.rand(1, generator=gen).item() < config.cutmix:
                batch, y_mix, lam = cutmix(batch, y, gen)
            else:
                y_mix, lam = y, 1.0
            with torch.autocast("cpu", torch.bfloat16, enabled=bfloat16):
                out = net(batch.contiguous(memory_format=torch.channels_last)).float()
            loss = lam * F.cross_entropy(out, y, label_smoothing=config.label_smoothing)
            if lam < 1.0:
                loss = loss + (1 - lam) * F.cross_entropy(
                    out, y_mix, label_smoothing=config.label_smoothing)
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step) * group["scale"]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            for param, start in anchors:
                param.grad.sub_(start, alpha=config.weight_decay)
            optimizer.step()
            step += 1
            if ema is not None:
                with torch.no_grad():
                    d = min(config.ema, (1 + step) / (10 + step))
                    for e, p in zip(ema.parameters(), net.parameters(), strict=True):
                        e.lerp_(p, 1 - d)
                    for e, b in zip(ema.buffers(), net.buffers(), strict=True):
                        e.copy_(b)
        if progress is not None:
            progress.update(1)
            progress.set_postfix(loss=f"{loss.item():.3f}")
    final = ema if ema is not None else net
    if ema is not None and not frozen:
        _recompute_bn(final, images, config)
    return final.eval()


class _QueueProgress:
    """Progress sink for a member trained in a worker process: epochs go to the parent."""

    def __init__(self, queue):
        self.queue = queue

    def update(self, n: int) -> None:
        self.queue.put(n)

    def set_postfix(self, **_) -> None:
        pass


_WORKER_PROGRESS: _QueueProgress | None = None


def _init_worker(queue, threads: int) -> None:
    global _WORKER_PROGRESS
    _WORKER_PROGRESS = _QueueProgress(queue)
    torch.set_num_threads(threads)


def _train_member_in_worker(images: np.ndarray, targets: np.ndarray, num_classes, config, seed):
    """Worker-process entry: train one member, return its weights. Arrays cross the process
    boundary as numpy (pickled bytes), not as torch tensors (shared through fds and sockets)."""
    member = train_member(torch.from_numpy(images), torch.from_numpy(targets), num_classes,
                          config, seed, _WORKER_PROGRESS)
    return {k: v.contiguous().numpy() for k, v in member.state_dict().items()}


def train_members(images: torch.Tensor, targets: torch.Tensor, num_classes: int,
                  config: TrainConfig, progress=None) -> list[torch.nn.Module]:
    """Train ``config.members`` nets (seeds ``seed * 1000 + m``): one after another with
    ``config.threads`` threads, or side by side in min(members, threads) spawned processes.
    A member's weights depend only on its seed and its thread count."""
    seeds = [config.seed * 1000 + m for m in range(config.members)]
    workers = min(config.members, config.threads)
    if workers <= 1:
        return [train_member(images, targets, num_classes, config, s, progress) for s in seeds]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, wait

    context = multiprocessing.get_context("spawn")  # fork after torch's thread pools can hang
    queue = context.Queue()  # epochs done, for the progress bar (a pipe: no socket)
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                             initargs=(queue, config.threads // workers)) as pool:
        arrays = (images.contiguous().numpy(), targets.numpy())
        futures = [pool.submit(_train_member_in_worker, *arrays, num_classes, config, s)
                   for s in seeds]
        pending = set(futures)
        while pending:
            _, pending = wait(pending, timeout=0.5)
            while not queue.empty():
                n = queue.get()
                if progress is not None:
                    progress.update(n)
        states = [f.result() for f in futures]
    queue.close()
    members = []
    for state in states:
        net = build_network(num_classes, config.widths, config.arch)
        net.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
        members.append(net.to(memory_format=torch.channels_last).eval())
    return members


def _recompute_bn(net: torch.nn.Module, images: torch.Tensor, config: TrainConfig) -> None:
    """BatchNorm statistics for the averaged weights: one pass over the (unaugmented) data."""
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # cumulative average
    net.train()
    with torch.no_grad():
        for start in range(0, len(images), 256):
            net(images[start : start + 256].contiguous(memory_format=torch.channels_last))
    net.eval()


def normalize(images: torch.Tensor, model: CalibratedEnsemble) -> torch.Tensor:
    return (images - model.mean) / model.std


def train(data_path: str | os.PathLike | None, config: TrainConfig, progress: bool = True,
          loaded: LoadedImages | None = None) -> TrainResult:
    """Load the data, split it, train ``config.members`` nets; the model comes back
    uncalibrated (temperature 1: model/calibrate.py fits it on ``calibration_split``)."""
    from tqdm import tqdm

    torch.set_num_threads(config.threads)
    config = replace(config, precision=training_precision(config.precision))  # record the used
    if loaded is None:
        loaded = load_images(find_samples(data_path), progress=progress)
    fractions = [config.validation_fraction, config.calibration_fraction]
    validation, calibration, train_idx = stratified_split(
        loaded.targets, fractions, config.split_seed
    )
    calibration_split = "calibration" if len(calibration) else "validation"
    fit_on = calibration if len(calibration) else validation
    if len(np.unique(loaded.targets[fit_on])) < len(loaded.labels):
        raise ValueError(
            "no held-out images of every class to fit the temperature on: give "
            "validation_fraction or calibration_fraction > 0 (and enough images per class)")
    x_all = to_tensor(loaded.images)
    y_all = torch.from_numpy(loaded.targets)
    stats = CalibratedEnsemble([], 1.0)
    x_train = normalize(x_all[train_idx], stats)
    start = time.perf_counter()
    with tqdm(total=config.epochs * config.members, desc="training", unit="epoch",
              disable=not progress) as bar:
        members = train_members(x_train, y_all[train_idx], len(loaded.labels), config, bar)
    model = CalibratedEnsemble(members, 1.0, config.tta_flip).eval()
    seconds = time.perf_counter() - start
    split = {"train": train_idx, "calibration": calibration, "validation": validation}
    return TrainResult(model, config, loaded, split, seconds, calibration_split)


def predict_probabilities(model: CalibratedEnsemble, images: torch.Tensor) -> np.ndarray:
    if not len(images):
        return np.zeros((0, model.members[0].head.out_features), dtype=np.float32)
    with torch.inference_mode():
        return torch.cat(
            [model(images[s : s + 256]) for s in range(0, len(images), 256)]
        ).numpy()


def hardware() -> str:
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cpus, " \
        f"torch {torch.__version__}, {torch.get_num_threads()} threads"


def config_dict(config: TrainConfig) -> dict:
    return asdict(config)

"""TrivialAugment (Müller & Hutter, 2021) on a batch of images, in torch, without torchvision.

Each image gets one operation drawn uniformly from ``OPERATIONS`` at a strength drawn uniformly
from [0, 1] (scaled to the operation's range below, with a random sign where it has one):
geometric ones (shear, translate, rotate) resample the image with bilinear interpolation and
fill uncovered pixels with mid-grey; colour ones (brightness, colour, contrast, sharpness,
posterize, solarize, autocontrast, equalize) act on pixel values in [0, 1]. Ranges are those of
torchvision's ``TrivialAugmentWide`` scaled down for 32x32 images (the "standard" RandAugment
ranges: shear 0.3, translate 10 px of 32, rotate 30 degrees, enhance factors 1 +- 0.9).
Every random draw comes from the generator passed in, so a seed fixes the result.

``augment`` is the whole per-batch augmentation of training and pretraining (TrivialAugment,
random crop, flip, cutout, as a config asks), ``cutmix`` the batch mixing of training.
"""

from __future__ import annotations

import math
from typing import Protocol

import torch
import torch.nn.functional as F

from model.inference import MEAN, STD

OPERATIONS = ("identity", "shear_x", "shear_y", "translate_x", "translate_y", "rotate",
              "brightness", "color", "contrast", "sharpness", "posterize", "solarize",
              "autocontrast", "equalize")
GEOMETRIC = {"shear_x", "shear_y", "translate_x", "translate_y", "rotate"}
SHEAR, TRANSLATE, ROTATE_DEGREES, ENHANCE = 0.3, 10 / 32, 30.0, 0.9
FILL = 0.5  # value of pixels a geometric operation uncovers (image in [0, 1])
_GREY = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)


def trivial_augment(images: torch.Tensor, gen: torch.Generator,
                    geometric_scale: float = 1.0) -> torch.Tensor:
    """One random operation per image; ``images`` in [0, 1], shape (N, 3, S, S).
    ``geometric_scale`` multiplies the shear, translation and rotation ranges. Operated-on
    images come out clamped to [0, 1]."""
    n = images.shape[0]
    op = torch.randint(0, len(OPERATIONS), (n,), generator=gen)
    strength = torch.rand(n, generator=gen)
    sign = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    out = images.clone()
    for k, name in enumerate(OPERATIONS):
        chosen = (op == k).nonzero().flatten()
        if name == "identity" or not len(chosen):
            continue
        s, m = strength[chosen], sign[chosen]
        x = images[chosen]
        out[chosen] = (_geometric(x, name, s * m * geometric_scale) if name in GEOMETRIC
                       else _colour(x, name, s, m)).clamp(0.0, 1.0)
    return out


class AugmentConfig(Protocol):
    """The fields ``augment`` reads (``TrainConfig`` and ``PretrainConfig`` both have them)."""

    trivial_augment: bool
    trivial_augment_scale: float
    crop_pad: int
    cutout: int


_MEAN, _STD = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)


def augment(batch: torch.Tensor, config: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """(TrivialAugment,) random crop (reflect pad), horizontal flip and cutout on a normalized
    float batch (N, 3, S, S)."""
    n, _, size, _ = batch.shape
    if config.trivial_augment:  # its operations work on pixels in [0, 1]
        batch = trivial_augment(batch * _STD + _MEAN, gen, config.trivial_augment_scale)
        batch = (batch - _MEAN) / _STD
    if config.crop_pad:
        pad = config.crop_pad
        padded = F.pad(batch, (pad, pad, pad, pad), mode="reflect")
        dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
        dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
        rows = (dy[:, None] + torch.arange(size)[None, :])[:, None, :, None]
        cols = (dx[:, None] + torch.arange(size)[None, :])[:, None, None, :]
        index = torch.arange(n)[:, None, None, None]
        batch = padded[index, torch.arange(3)[None, :, None, None], rows, cols]
    flip = torch.rand(n, generator=gen) < 0.5
    batch = torch.where(flip[:, None, None, None], batch.flip(3), batch)
    if config.cutout:
        cy = torch.randint(0, size, (n,), generator=gen)
        cx = torch.randint(0, size, (n,), generator=gen)
        grid = torch.arange(size)
        half = config.cutout // 2
        mask_y = (grid[None, :] - cy[:, None]).abs() < half + (config.cutout % 2)
        mask_x = (grid[None, :] - cx[:, None]).abs() < half + (config.cutout % 2)
        mask = mask_y[:, :, None] & mask_x[:, None, :]
        batch = batch.masked_fill(mask[:, None], 0.0)
    return batch


def cutmix(batch: torch.Tensor, targets: torch.Tensor, gen: torch.Generator):
    """Paste a random box from a shuffled partner; returns (batch, partner targets, kept area)."""
    n, _, size, _ = batch.shape
    partner = torch.randperm(n, generator=gen)
    lam = float(torch.rand(1, generator=gen).item())  # Beta(1, 1): uniform share kept
    side = int(size * math.sqrt(1 - lam))
    y0 = int(torch.randint(0, size - side + 1, (1,), generator=gen))
    x0 = int(torch.randint(0, size - side + 1, (1,), generator=gen))
    mixed = batch.clone()
    mixed[:, :, y0 : y0 + side, x0 : x0 + side] = batch[partner, :, y0 : y0 + side, x0 : x0 + side]
    return mixed, targets[partner], 1 - side * side / (size * size)


def _geometric(x: torch.Tensor, name: str, amount: torch.Tensor) -> torch.Tensor:
    """Affine resampling; ``amount`` in [-1, 1] per image. Coordinates are affine_grid's
    normalized [-1, 1], so a translation of t (share of the side) is 2 t."""
    n = x.shape[0]
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0
    if name == "shear_x":
        theta[:, 0, 1] = SHEAR * amount
    elif name == "shear_y":
        theta[:, 1, 0] = SHEAR * amount
    elif name == "translate_x":
        theta[:, 0, 2] = 2 * TRANSLATE * amount
    elif name == "translate_y":
        theta[:, 1, 2] = 2 * TRANSLATE * amount
    else:  # rotate
        angle = amount * math.radians(ROTATE_DEGREES)
        theta[:, 0, 0], theta[:, 0, 1] = torch.cos(angle), -torch.sin(angle)
        theta[:, 1, 0], theta[:, 1, 1] = torch.sin(angle), torch.cos(angle)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    # resample image - FILL with zero padding, so uncovered pixels come out as FILL
    return F.grid_sample(x - FILL, grid, mode="bilinear", padding_mode="zeros",
                         align_corners=False) + FILL


def _blend(x: torch.Tensor, other: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """PIL ImageEnhance: other + factor * (x - other); factor 1 keeps x."""
    return other + factor.view(-1, 1, 1, 1) * (x - other)


def _colour(x: torch.Tensor, name: str, strength: torch.Tensor, sign: torch.Tensor):
    factor = 1.0 + ENHANCE * strength * sign
    grey = (x * _GREY).sum(dim=1, keepdim=True)
    if name == "brightness":
        return _blend(x, torch.zeros_like(x), factor)
    if name == "color":
        return _blend(x, grey.expand_as(x), factor)
    if name == "contrast":
        return _blend(x, grey.mean(dim=(2, 3), keepdim=True).expand_as(x), factor)
    if name == "sharpness":  # PIL's SMOOTH kernel; border pixels keep their value
        kernel = torch.tensor([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]]) / 13
        smooth = F.conv2d(x, kernel.expand(3, 1, 3, 3), padding=1, groups=3)
        smooth[..., 0, :], smooth[..., -1, :] = x[..., 0, :], x[..., -1, :]
        smooth[..., :, 0], smooth[..., :, -1] = x[..., :, 0], x[..., :, -1]
        return _blend(x, smooth, factor)
    if name == "posterize":  # keep 4..8 bits
        bits = 8 - torch.round(strength * 4)
        step = (2.0 ** (8 - bits)).view(-1, 1, 1, 1)
        return torch.floor(torch.round(x * 255) / step) * step / 255
    if name == "solarize":  # invert pixels at or above a threshold in (0, 1]
        threshold = (1.0 - strength).view(-1, 1, 1, 1)
        return torch.where(x >= threshold, 1.0 - x, x)
    if name == "autocontrast":
        low = x.amin(dim=(2, 3), keepdim=True)
        high = x.amax(dim=(2, 3), keepdim=True)
        span = high - low
        return torch.where(span > 0, (x - low) / span.clamp_min(1e-6), x)
    if name == "equalize":  # per channel, 256 levels: value -> share of pixels at or below
        levels = torch.round(x * 255).clamp(0, 255).long().flatten(2)
        counts = torch.zeros(*levels.shape[:2], 256).scatter_add_(
            2, levels, torch.ones(levels.shape))
        below = counts.cumsum(dim=2)
        lowest = below.gather(2, levels.amin(dim=2, keepdim=True))  # pixels at the minimum
        share = (below.gather(2, levels) - lowest) / (levels.shape[2] - lowest).clamp_min(1)
        return share.view_as(x)
    raise ValueError(f"unknown operation {name!r}")

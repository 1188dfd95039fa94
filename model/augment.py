"""TrivialAugment (Müller & Hutter, 2021) on a batch of images, in torch, without torchvision.

Each image gets one operation drawn uniformly from ``OPERATIONS`` at a strength drawn uniformly
from [0, 1] (scaled to the operation's range below, with a random sign where it has one):
geometric ones (shear, translate, rotate) resample the image with bilinear interpolation and
fill uncovered pixels with mid-grey; colour ones (brightness, colour, contrast, sharpness,
posterize, solarize, autocontrast, equalize) act on pixel values in [0, 1]. Ranges are those of
torchvision's ``TrivialAugmentWide`` scaled down for 32x32 images (the "standard" RandAugment
ranges: shear 0.3, translate 10 px of 32, rotate 30 degrees, enhance factors 1 +- 0.9).
Every random draw comes from the generator passed in, so a seed fixes the result.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

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

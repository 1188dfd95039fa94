"""Small pure pieces of training: temperature fitting and augmentation (fast)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model.train import TrainConfig, augment, fit_temperature


def test_temperature_fit_recovers_a_known_temperature():
    # GIVEN logits whose labels were drawn from softmax(logits / 2)
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(4000, 2, generator=gen) * 4
    targets = torch.multinomial(torch.softmax(logits / 2, 1), 1, generator=gen).squeeze(1)
    # THEN the fitted temperature is close to 2
    assert fit_temperature(logits, targets) == pytest.approx(2.0, rel=0.1)


def test_augment_keeps_shape_and_pixels_from_the_image():
    images = torch.rand(8, 3, 32, 32)
    config = TrainConfig(cutout=0)
    out = augment(images, config, torch.Generator().manual_seed(0))
    assert out.shape == images.shape
    # crops of reflect-padded images only contain values present in the original image
    for original, augmented in zip(images, out, strict=True):
        assert np.isin(augmented.numpy(), original.numpy()).all()

"""TrivialAugment operations (model/augment.py): each does what its name says (fast)."""

from __future__ import annotations

import pytest
import torch

from model.augment import OPERATIONS, _colour, _geometric, trivial_augment


def ramp(n: int = 2) -> torch.Tensor:
    """Images whose value grows left to right (0 .. 31/32), the same in every channel."""
    return (torch.arange(32.0) / 32).view(1, 1, 1, 32).expand(n, 3, 32, 32).clone()


def test_trivial_augment_is_seeded_keeps_shape_and_range():
    images = torch.rand(64, 3, 32, 32)
    a = trivial_augment(images, torch.Generator().manual_seed(3))
    b = trivial_augment(images, torch.Generator().manual_seed(3))
    assert a.shape == images.shape and torch.equal(a, b)
    assert a.min() >= 0.0 and a.max() <= 1.0
    # some images are left alone (identity, or strength 0), most are changed
    changed = (a - images).flatten(1).abs().amax(dim=1) > 1e-4
    assert 0.5 < changed.float().mean() < 1.0


def test_translate_moves_the_image_and_fills_the_gap_with_grey():
    out = _geometric(ramp(1), "translate_x", torch.tensor([1.0]))
    # 10 px (TRANSLATE of 32) to the left: column 0 now holds what column 10 held
    assert out[0, 0, 5, 0].item() == pytest.approx(10 / 32, abs=1e-5)
    assert out[0, 0, 5, -1].item() == pytest.approx(0.5, abs=1e-5)  # uncovered: mid-grey


def test_rotate_by_zero_is_the_identity():
    images = torch.rand(3, 3, 32, 32)
    out = _geometric(images, "rotate", torch.zeros(3))
    assert torch.allclose(out, images, atol=1e-5)


@pytest.mark.parametrize("name", [n for n in OPERATIONS if n not in ("identity",)])
def test_every_operation_changes_an_image_at_full_strength(name):
    images = torch.rand(2, 3, 32, 32) * 0.8 + 0.1
    if name in ("shear_x", "shear_y", "translate_x", "translate_y", "rotate"):
        out = _geometric(images, name, torch.tensor([1.0, -1.0]))
    else:
        out = _colour(images, name, torch.ones(2), torch.tensor([1.0, -1.0]))
    assert out.shape == images.shape
    assert (out - images).abs().amax() > 0.05


def test_solarize_inverts_bright_pixels_and_posterize_drops_bits():
    x = torch.tensor([0.2, 0.9]).view(1, 1, 1, 2).expand(1, 3, 1, 2)
    solar = _colour(x, "solarize", torch.tensor([0.5]), torch.ones(1))  # threshold 0.5
    assert solar[0, 0, 0].tolist() == pytest.approx([0.2, 0.1])
    poster = _colour(ramp(1), "posterize", torch.ones(1), torch.ones(1))  # 4 bits: steps of 16
    assert len(torch.unique(torch.round(poster * 255))) <= 16


def test_equalize_spreads_a_narrow_histogram_over_the_whole_range():
    narrow = 0.4 + 0.1 * torch.rand(1, 3, 32, 32)
    out = _colour(narrow, "equalize", torch.ones(1), torch.ones(1))
    assert out.min() == 0.0 and out.max() == pytest.approx(1.0)
    # order of pixels is kept: equalization is monotonic per channel
    flat_in, flat_out = narrow[0, 0].flatten(), out[0, 0].flatten()
    order = flat_in.argsort()
    assert (flat_out[order].diff() >= 0).all()


def test_brightness_and_contrast_blend_like_pil():
    x = torch.full((1, 3, 4, 4), 0.5)
    x[..., 0, 0] = 1.0
    darker = _colour(x, "brightness", torch.ones(1), -torch.ones(1))  # factor 0.1
    assert torch.allclose(darker, x * 0.1)
    flat = _colour(x, "contrast", torch.ones(1), -torch.ones(1))  # towards the grey mean
    assert (flat.amax() - flat.amin()) < (x.amax() - x.amin())


def test_geometric_scale_scales_only_the_geometric_operations():
    images = torch.rand(64, 3, 32, 32)
    plain = trivial_augment(images, torch.Generator().manual_seed(7), geometric_scale=1.0)
    still = trivial_augment(images, torch.Generator().manual_seed(7), geometric_scale=0.0)
    differs = (plain - still).flatten(1).abs().amax(dim=1) > 1e-6
    assert differs.any()  # some images drew a geometric operation...
    # ...and with scale 0 those are left as they were; every other image is the same either way
    assert torch.allclose(still[differs], images[differs], atol=1e-5)


def test_values_outside_the_unit_range_are_clamped_not_a_crash():
    # e.g. normalized noise turned back into pixels: equalize would index its histogram at -2
    images = torch.randn(64, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    out = _colour(images, "equalize", torch.ones(64), torch.ones(64))
    assert out.min() >= 0.0 and out.max() <= 1.0
    out = trivial_augment(images, torch.Generator().manual_seed(1))
    changed = (out - images).flatten(1).abs().amax(dim=1) > 0
    assert out[changed].min() >= 0.0 and out[changed].max() <= 1.0

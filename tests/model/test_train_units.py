"""Small pure pieces of training: temperature fitting, cross-fitting, augmentation, precision
(fast)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model.augment import augment
from model.calibrate import cross_fit_folds, cross_fitted_probabilities, fit_temperature
from model.data import LoadedImages
from model.train import TrainConfig, train, train_member, train_members, training_precision


def test_temperature_fit_recovers_a_known_temperature():
    # GIVEN logits whose labels were drawn from softmax(logits / 2)
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(4000, 2, generator=gen) * 4
    targets = torch.multinomial(torch.softmax(logits / 2, 1), 1, generator=gen).squeeze(1)
    # THEN the fitted temperature is close to 2
    assert fit_temperature(logits, targets) == pytest.approx(2.0, rel=0.1)


def test_augment_keeps_shape_and_pixels_from_the_image():
    images = torch.rand(8, 3, 32, 32)
    config = TrainConfig(cutout=0, trivial_augment=False)
    out = augment(images, config, torch.Generator().manual_seed(0))
    assert out.shape == images.shape
    # crops of reflect-padded images only contain values present in the original image
    for original, augmented in zip(images, out, strict=True):
        assert np.isin(augmented.numpy(), original.numpy()).all()


def test_cross_fit_folds_deal_each_class_out_evenly():
    targets = np.array([0] * 7 + [1] * 5)
    fold = cross_fit_folds(targets, folds=2)
    # every class is split between the folds as evenly as its count allows
    assert sorted(np.bincount(fold[targets == 0])) == [3, 4]
    assert sorted(np.bincount(fold[targets == 1])) == [2, 3]


def test_cross_fitted_probabilities_never_use_an_images_own_fold():
    # GIVEN held-out images whose labels were drawn from softmax(base logits), and observed
    # logits that are the base ones in fold 0 and 4x them in fold 1
    gen = torch.Generator().manual_seed(1)
    base = torch.randn(6000, 2, generator=gen) * 4
    targets = torch.multinomial(torch.softmax(base, 1), 1, generator=gen).squeeze(1)
    fold = torch.from_numpy(cross_fit_folds(targets.numpy()))
    logits = base * torch.where(fold == 1, 4.0, 1.0)[:, None]
    # WHEN they are scored cross-fitted
    probabilities = cross_fitted_probabilities(logits, targets)
    # THEN fold 0 is scored with the temperature fitted on fold 1 (about 4) and vice versa
    t_from_1 = fit_temperature(logits[fold == 1], targets[fold == 1])
    t_from_0 = fit_temperature(logits[fold == 0], targets[fold == 0])
    assert t_from_1 == pytest.approx(4.0, rel=0.15) and t_from_0 == pytest.approx(1.0, rel=0.15)
    expected_0 = torch.softmax(logits[fold == 0] / t_from_1, 1).numpy()
    expected_1 = torch.softmax(logits[fold == 1] / t_from_0, 1).numpy()
    np.testing.assert_allclose(probabilities[(fold == 0).numpy()], expected_0, rtol=1e-5)
    np.testing.assert_allclose(probabilities[(fold == 1).numpy()], expected_1, rtol=1e-5)


def test_training_without_held_out_images_fails_before_training():
    # GIVEN data and a config that holds nothing out (no validation, no calibration split)
    images = np.zeros((20, 32, 32, 3), dtype=np.uint8)
    loaded = LoadedImages(images=images, targets=np.array([0, 1] * 10),
                          labels=["bicycle", "motorcycle"], paths=[], file_bytes=[],
                          widths=[], heights=[], brightness=[], skipped=[])
    config = TrainConfig(validation_fraction=0.0, calibration_fraction=0.0, epochs=1)
    # THEN it refuses: the temperature would have nothing to be fitted on
    with pytest.raises(ValueError, match="fit the temperature"):
        train(None, config, progress=False, loaded=loaded)


@pytest.mark.slow
def test_members_trained_side_by_side_equal_members_trained_in_turn():
    # GIVEN a few images and a 2-member config with one thread per member either way
    gen = torch.Generator().manual_seed(3)
    images = torch.randn(40, 3, 32, 32, generator=gen)
    targets = torch.tensor([0, 1] * 20)
    small = {"members": 2, "epochs": 1, "widths": [8, 8, 16], "batch_size": 16, "backbone": ""}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # what train() sets for threads=1
    try:
        in_turn = train_members(images, targets, 2, TrainConfig(threads=1, **small))
    finally:
        torch.set_num_threads(threads)
    # WHEN the same members train in two worker processes (2 threads in all)
    side_by_side = train_members(images, targets, 2, TrainConfig(threads=2, **small))
    # THEN they are the same networks, in seed order, ready to serve
    assert len(side_by_side) == 2
    for a, b in zip(in_turn, side_by_side, strict=True):
        assert not b.training
        for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
            assert torch.equal(x, y), name
    assert not torch.equal(side_by_side[0].head.weight, side_by_side[1].head.weight)


def test_augment_with_trivial_augment_is_seeded_and_stays_normalized():
    from model.inference import MEAN, STD

    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    images = (torch.rand(16, 3, 32, 32) - mean) / std  # normalized, as train_member sees them
    config = TrainConfig(trivial_augment=True, cutout=0, crop_pad=0)
    a = augment(images, config, torch.Generator().manual_seed(5))
    b = augment(images, config, torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and not torch.equal(a, images)
    # back in pixel space every value is still a valid intensity
    pixels = a * std + mean
    assert pixels.min() >= -1e-5 and pixels.max() <= 1 + 1e-5


@pytest.mark.parametrize("avx512_bf16, amx, expected", [
    (True, False, "bfloat16"), (False, True, "bfloat16"), (False, False, "float32")])
def test_auto_precision_is_bfloat16_only_where_the_cpu_has_it(monkeypatch, avx512_bf16, amx,
                                                               expected):
    # GIVEN a CPU whose capabilities torch reports as below
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    # THEN "auto" picks bfloat16 only for native support; explicit choices are kept
    assert training_precision("auto") == expected
    assert training_precision("float32") == "float32"
    assert training_precision("bfloat16") == "bfloat16"


def test_an_unknown_precision_is_refused_before_training():
    with pytest.raises(ValueError, match="precision 'float16'"):
        training_precision("float16")
    images, targets = torch.randn(8, 3, 32, 32), torch.tensor([0, 1] * 4)
    with pytest.raises(ValueError, match="precision"):
        train_member(images, targets, 2, TrainConfig(precision="fp8", epochs=1), seed=0)


def test_bfloat16_training_keeps_float32_weights_and_is_seeded():
    # GIVEN a tiny member trained twice with bfloat16 autocast and once in float32
    gen = torch.Generator().manual_seed(4)
    images, targets = torch.randn(32, 3, 32, 32, generator=gen), torch.tensor([0, 1] * 16)
    small = {"epochs": 2, "widths": [8, 8, 16], "batch_size": 16, "backbone": ""}
    runs = [train_member(images, targets, 2, TrainConfig(precision=p, **small), seed=7)
            for p in ("bfloat16", "bfloat16", "float32")]
    # THEN the served weights stay float32, the same seed gives the same weights,
    # and the precision really changed the arithmetic
    for net in runs:
        assert all(t.dtype == torch.float32 for t in net.state_dict().values()
                   if t.is_floating_point())
    first, again, full = (r.state_dict() for r in runs)
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not all(torch.equal(first[k], full[k]) for k in first)
    with torch.inference_mode():
        assert torch.isfinite(runs[0](images)).all()

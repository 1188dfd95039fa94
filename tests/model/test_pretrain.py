"""`scones pretrain` on a tiny synthetic corpus (seeded, resumable, checked), fine-tuning from a
backbone file, and the backbone committed to the repository (its checksum and provenance)."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from model.pretrain import (
    PretrainConfig,
    load_corpus,
    nt_xent,
    pretrain,
    sha256_file,
    write_npz,
)
from model.train import backbone_widths, load_backbone

REPO = Path(__file__).resolve().parents[2]
TINY = PretrainConfig(epochs=2, widths=[8, 8, 16], batch_size=8, holdout_fraction=0.2,
                      precision="float32", threads=1)


def write_corpus(path: Path, per_class: int = 10, classes=("cat", "dog", "ship")) -> Path:
    """A CIFAR-10-style archive: cifar10/train/<class>/NNNN.jpg, one easy pattern per class."""
    rng = np.random.default_rng(3)
    with tarfile.open(path, "w:gz") as tar:
        for k, name in enumerate(classes):
            for i in range(per_class):
                image = rng.integers(0, 60, (32, 32, 3), dtype=np.uint8)
                image[:, k * 10 : k * 10 + 10] += 150
                buffer = io.BytesIO()
                Image.fromarray(image).save(buffer, format="JPEG", quality=95)
                info = tarfile.TarInfo(f"cifar10/train/{name}/{i:04d}.jpg")
                info.size = len(buffer.getvalue())
                tar.addfile(info, io.BytesIO(buffer.getvalue()))
    return path


@pytest.fixture
def corpus(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("SCONES_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "corpus"
    folder.mkdir()
    archive = write_corpus(folder / "cifar10-train.tar.gz")
    (folder / "SHA256SUMS").write_text(f"{sha256_file(archive)}  {archive.name}\n")
    return folder


def test_corpus_is_decoded_once_and_checked_against_its_sums(corpus, tmp_path):
    # WHEN the corpus folder is loaded twice
    first = load_corpus(corpus, progress=False)
    second = load_corpus(corpus, progress=False)
    # THEN labels are the sorted class folders and the second load comes from the cache
    assert first.labels == ["cat", "dog", "ship"] and first.images.shape == (30, 32, 32, 3)
    assert np.array_equal(first.images, second.images)
    assert first.sha256 == sha256_file(corpus / "cifar10-train.tar.gz")
    assert len(list((tmp_path / "cache").glob("corpus-*.npz"))) == 1
    # AND a SHA256SUMS that disagrees is refused
    from model.data import ChecksumMismatchError

    (corpus / "SHA256SUMS").write_text(f"{'0' * 64}  cifar10-train.tar.gz\n")
    with pytest.raises(ChecksumMismatchError):
        load_corpus(corpus, progress=False)


@pytest.mark.slow
def test_pretraining_is_seeded_and_resumes_to_the_same_weights(corpus, tmp_path):
    # GIVEN two uninterrupted runs with the same seed
    one = pretrain(corpus, tmp_path / "one", TINY, progress=False)
    two = pretrain(corpus, tmp_path / "two", TINY, progress=False)
    # THEN the backbone files are byte for byte the same
    assert one["sha256"] == two["sha256"] == sha256_file(tmp_path / "one" / "backbone.npz")
    # WHEN a third run stops after one epoch and is started again
    assert pretrain(corpus, tmp_path / "three", TINY, progress=False,
                    stop_after_epochs=1) == {"stopped_after_epoch": 1}
    assert not (tmp_path / "three" / "backbone.npz").exists()
    resumed = pretrain(corpus, tmp_path / "three", TINY, progress=False)
    # THEN it ends with the same weights as the uninterrupted runs
    assert resumed["sha256"] == one["sha256"]
    assert [h["epoch"] for h in resumed["history"]] == [1, 2]
    # AND the provenance says what made it
    record = json.loads((tmp_path / "one" / "backbone.json").read_text())
    assert record["seed"] == 0 and record["torch"] == torch.__version__
    assert record["corpus"]["sha256"] == sha256_file(corpus / "cifar10-train.tar.gz")
    assert record["corpus"]["held_out"] == 6 and record["widths"] == [8, 8, 16]
    assert 0 <= record["metrics"]["holdout_accuracy"] <= 1
    # AND a different seed gives different weights
    other = pretrain(corpus, tmp_path / "other", replace(TINY, seed=1), progress=False)
    assert other["sha256"] != one["sha256"]
    # AND a checkpoint of another config is not resumed silently
    with pytest.raises(ValueError, match="another config"):
        pretrain(corpus, tmp_path / "one", replace(TINY, lr=0.05), progress=False)


def test_nt_xent_rewards_views_that_find_their_partner():
    # GIVEN eight images whose two views are projected to nearly the same direction
    seeded = torch.Generator().manual_seed(0)
    z1 = torch.nn.functional.normalize(torch.randn(8, 16, generator=seeded))
    z2 = z1 + 0.01 * torch.randn(8, 16, generator=torch.Generator().manual_seed(1))
    # THEN the loss is lower than with the partners shuffled, and lower at a lower temperature
    shuffled = z2[torch.tensor([1, 2, 3, 4, 5, 6, 7, 0])]
    assert nt_xent(z1, z2, 0.2) < nt_xent(z1, shuffled, 0.2)
    assert nt_xent(z1, z2, 0.1) < nt_xent(z1, z2, 0.5)
    # AND with every view the same, each partner is one of 2N - 1 equals: log(2N - 1)
    same = torch.ones(8, 16)
    assert nt_xent(same, same, 0.2).item() == pytest.approx(np.log(15), rel=1e-5)


@pytest.mark.slow
def test_contrastive_pretraining_resumes_to_the_same_weights_and_can_drop_the_labels(corpus,
                                                                                    tmp_path):
    both = replace(TINY, contrastive=1.0, projection_dim=8)
    # GIVEN a run with the SimCLR loss beside the supervised one, and the same run interrupted
    one = pretrain(corpus, tmp_path / "one", both, progress=False)
    pretrain(corpus, tmp_path / "two", both, progress=False, stop_after_epochs=1)
    resumed = pretrain(corpus, tmp_path / "two", both, progress=False)
    # THEN the resumed run (projector and all) ends with the same weights
    assert resumed["sha256"] == one["sha256"]
    # AND the second objective changes what is learned
    assert pretrain(corpus, tmp_path / "plain", TINY, progress=False)["sha256"] != one["sha256"]
    # WHEN the labels are dropped (self-supervised only)
    alone = pretrain(corpus, tmp_path / "alone", replace(both, supervised=0.0), progress=False)
    # THEN the held-out accuracy is the class-mean probe's (no loss: the head never learned)
    assert 0 <= alone["metrics"]["holdout_accuracy"] <= 1
    assert alone["metrics"]["holdout_loss"] is None
    assert alone["config"]["supervised"] == 0.0 and alone["config"]["contrastive"] == 1.0


def test_scones_pretrain_refuses_to_learn_from_nothing(corpus, tmp_path):
    from scones.cli import main

    with pytest.raises(SystemExit, match="--contrastive"):
        main(["pretrain", "--data", str(corpus), "--out", str(tmp_path / "x"),
              "--supervised", "0"])
    with pytest.raises(SystemExit):  # argparse: a negative weight is not a weight
        main(["pretrain", "--data", str(corpus), "--out", str(tmp_path / "x"),
              "--contrastive", "-1"])


@pytest.mark.slow
def test_scones_pretrain_cli_writes_backbone_and_provenance(corpus, tmp_path, capsys):
    from scones.cli import main

    out = tmp_path / "cli"
    assert main(["pretrain", "--data", str(corpus), "--out", str(out), "--epochs", "1",
                 "--batch-size", "8", "--precision", "float32"]) == 0
    assert "backbone.npz" in capsys.readouterr().out
    record = json.loads((out / "backbone.json").read_text())
    assert record["sha256"] == sha256_file(out / "backbone.npz")
    assert backbone_widths(out / "backbone.npz") == PretrainConfig().widths


@pytest.mark.slow
def test_a_backbone_of_other_widths_is_pretrained_and_fine_tuned_at_them(corpus, image_folder,
                                                                          tmp_path):
    from model.package import LoadedArtifact
    from scones.cli import main

    # GIVEN a backbone pretrained at other widths than the default
    pre = tmp_path / "narrow"
    assert main(["pretrain", "--data", str(corpus), "--out", str(pre), "--epochs", "1",
                 "--batch-size", "8", "--precision", "float32", "--widths", "8,8,16"]) == 0
    assert backbone_widths(pre / "backbone.npz") == [8, 8, 16]
    assert json.loads((pre / "backbone.json").read_text())["widths"] == [8, 8, 16]
    # WHEN `scones train` fine-tunes from it
    assert main(["train", "--data", str(image_folder), "--out", str(tmp_path / "model"),
                 "--epochs", "1", "--members", "1", "--backbone",
                 str(pre / "backbone.npz")]) == 0
    # THEN the served network has the backbone's widths and started from its weights
    with LoadedArtifact(tmp_path / "model" / "model.tar.gz") as artifact:
        assert artifact.metadata["network"]["widths"] == [8, 8, 16]
        assert artifact.metadata["config"]["backbone"] == str(pre / "backbone.npz")
    # AND widths that are not three channel counts are refused while parsing
    with pytest.raises(SystemExit) as refused:
        main(["pretrain", "--data", str(corpus), "--out", str(pre), "--widths", "8,16"])
    assert refused.value.code == 2


def test_npz_writer_is_byte_stable_and_loadable(tmp_path):
    arrays = {"features.0.weight": np.arange(6, dtype=np.float32).reshape(2, 3),
              "features.1.num_batches_tracked": np.array(3, dtype=np.int64)}
    first = write_npz(tmp_path / "a.npz", arrays)
    second = write_npz(tmp_path / "b.npz", arrays)
    assert first == second == hashlib.sha256((tmp_path / "a.npz").read_bytes()).hexdigest()
    loaded = load_backbone(tmp_path / "a.npz")
    assert torch.equal(loaded["features.0.weight"], torch.arange(6.0).reshape(2, 3))


@pytest.mark.slow
def test_fine_tuning_starts_from_the_backbone(corpus, tmp_path, image_folder):
    from model.data import find_samples, load_images
    from model.inference import CalibratedEnsemble, to_tensor
    from model.train import TrainConfig, normalize, train_member

    pretrain(corpus, tmp_path / "pre", replace(TINY, epochs=1), progress=False)
    path = str(tmp_path / "pre" / "backbone.npz")
    loaded = load_images(find_samples(image_folder))
    x = normalize(to_tensor(loaded.images), CalibratedEnsemble([], 1.0))
    y = torch.from_numpy(loaded.targets)
    start = load_backbone(path)
    base = TrainConfig(epochs=2, members=1, widths=[8, 8, 16], backbone=path, threads=1,
                       precision="float32")
    # WHEN only the head is trained (a linear probe)
    probe = train_member(x, y, 2, replace(base, freeze_backbone=True), seed=0)
    # THEN every backbone tensor, BatchNorm statistics included, is the pretrained one
    state = probe.state_dict()
    assert all(bool((state[k].double() == v.double()).all()) for k, v in start.items())
    # WHEN the whole network is fine-tuned
    tuned = train_member(x, y, 2, base, seed=0).state_dict()
    # THEN the backbone moved from where it started
    assert not torch.equal(tuned["features.0.weight"], start["features.0.weight"])
    # WHEN a strong weight decay pulls towards zero, or towards the pretrained weights (L2-SP)
    def drift(config: TrainConfig) -> float:
        state = train_member(x, y, 2, replace(config, weight_decay=0.5), seed=0).state_dict()
        return sum(float((state[k] - start[k]).norm()) for k in start if start[k].ndim > 1)

    # THEN the pull towards the pretrained weights keeps the backbone nearer to them
    assert drift(replace(base, decay_to_backbone=True)) < 0.5 * drift(base)
    # AND a backbone of other widths is refused with a clear error
    with pytest.raises(ValueError, match="does not fit"):
        train_member(x, y, 2, replace(base, widths=[8, 16, 16]), seed=0)


def committed_backbones() -> list[Path]:
    return sorted((REPO / "model" / "backbones").glob("*.npz"))


@pytest.mark.parametrize("path", committed_backbones(), ids=lambda p: p.name)
def test_committed_backbone_matches_its_provenance(path):
    # GIVEN a committed backbone and the provenance next to it
    record = json.loads(path.with_suffix(".json").read_text())
    # THEN its checksum is the recorded one, and the record says how it was made
    assert sha256_file(path) == record["sha256"]
    assert path.stat().st_size <= 10 * 1024 * 1024
    assert record["command"].startswith("scones pretrain ") and isinstance(record["seed"], int)
    assert len(record["corpus"]["sha256"]) == 64 and record["torch"]
    assert record["metrics"]["holdout_accuracy"] > 0.5
    shared = REPO.parent / "shared" / "data" / "cifar10-train" / "SHA256SUMS"
    if shared.exists():
        assert record["corpus"]["sha256"] in shared.read_text()
    # AND it loads into the served network of the recorded widths
    from model.inference import build_network

    net = build_network(2, record["widths"], record["arch"])
    missing, unexpected = net.load_state_dict(load_backbone(path), strict=False)
    assert not unexpected and sorted(missing) == ["head.bias", "head.weight"]


@pytest.mark.slow
def test_scones_train_fine_tunes_the_committed_backbone_unless_from_scratch(image_folder,
                                                                             tmp_path):
    from model.package import LoadedArtifact
    from model.train import BACKBONE, FROM_SCRATCH, PRETRAINED, TrainConfig
    from scones.cli import main

    # GIVEN the defaults: the pretrained recipe with the committed backbone
    assert {k: getattr(TrainConfig(), k) for k in PRETRAINED} == PRETRAINED
    assert (REPO / BACKBONE).exists()
    # WHEN `scones train` runs with and without --from-scratch
    for name, extra in (("pretrained", []), ("scratch", ["--from-scratch"])):
        assert main(["train", "--data", str(image_folder), "--out", str(tmp_path / name),
                     "--epochs", "1", "--members", "1", *extra]) == 0
    # THEN each artifact records its recipe and serves through its own code
    for name, recipe in (("pretrained", PRETRAINED), ("scratch", FROM_SCRATCH)):
        with LoadedArtifact(tmp_path / name / "model.tar.gz") as artifact:
            config = artifact.metadata["config"]
            assert config["backbone"] == recipe["backbone"]
            assert artifact.metadata["network"]["widths"] == recipe["widths"]
            body = (image_folder / "bicycle" / "bicycle_000.png").read_bytes()
            probs = artifact.module.predict_fn(artifact.module.input_fn(body, "image/png"),
                                               artifact.model)
            assert probs.shape == (1, 2)

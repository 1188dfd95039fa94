"""The serving contract of code/inference.py, loaded by path from a real model.tar.gz."""

from __future__ import annotations

import ast
import io
import json
import struct
import tarfile
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from model.package import LoadedArtifact


@pytest.fixture(scope="module")
def served(untrained_artifact):
    with LoadedArtifact(untrained_artifact) as artifact:
        yield artifact


def encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def photo(size=(32, 32), mode="RGB") -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).convert(
        mode)


def test_artifact_has_the_sagemaker_layout(untrained_artifact):
    with tarfile.open(untrained_artifact) as tar:
        names = set(tar.getnames())
    assert {"weights.npz", "metadata.json", "baseline.json", "code/inference.py"} <= names
    # AND no requirements.txt: the toolkit would pip-install it at every container start
    assert "code/requirements.txt" not in names and "weights.pt" not in names


def test_weights_are_plain_arrays_one_state_dict_per_member(untrained_artifact, served):
    # GIVEN the artifact's weights.npz, read without pickle
    with np.load(served.model_dir / "weights.npz", allow_pickle=False) as arrays:
        keys = set(arrays.files)
    # THEN it holds both members' state_dicts under "<member>.<key>"
    from model.inference import build_network

    expected = set(build_network(2, served.metadata["network"]["widths"]).state_dict())
    assert keys == {f"{m}.{k}" for m in (0, 1) for k in expected}


def torch_load_calls(source: str) -> list[str]:
    """Every call of torch.load / torch.serialization.load / torch.jit.load in the source."""
    calls = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            name = ast.unparse(node.func)
            if name.endswith(".load") and name.startswith("torch"):
                calls.append(name)
    return calls


def test_weights_are_never_read_with_torch_load(untrained_artifact, monkeypatch):
    # GIVEN the artifact's own inference code
    with tarfile.open(untrained_artifact) as tar:
        source = tar.extractfile("code/inference.py").read().decode()
    # THEN it calls no torch loader (a torch-version-specific pickle format)
    assert torch_load_calls(source) == []
    assert torch_load_calls("state = torch.load(path)\nx = torch.jit.load(p)") == [
        "torch.load", "torch.jit.load"]  # the check itself sees such calls
    # AND the artifact loads and predicts with every torch loader refusing to run

    def refuse(*args, **kwargs):
        raise AssertionError("torch.load called while serving")

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(torch.serialization, "load", refuse)
    monkeypatch.setattr(torch.jit, "load", refuse)
    with LoadedArtifact(untrained_artifact) as artifact:
        tensor = artifact.module.input_fn(encode(photo(), "PNG"), "image/png")
        assert artifact.module.predict_fn(tensor, artifact.model).shape == (1, 2)


def test_inference_code_is_self_contained(served):
    # GIVEN the copy of inference.py inside the artifact
    source = (served.model_dir / "code" / "inference.py").read_text()
    # THEN it imports nothing of our own package
    imports = [line.split()[1] for line in source.splitlines()
               if line.lstrip().startswith(("import ", "from "))]
    assert {name.split(".")[0] for name in imports} <= {
        "__future__", "io", "json", "os", "pathlib", "warnings", "numpy", "torch", "PIL",
        "sagemaker_inference"}  # the serving toolkit's error type, imported when present


@pytest.mark.parametrize(("fmt", "content_type", "mode"), [
    ("PNG", "image/png", "RGBA"),
    ("JPEG", "image/jpeg", "RGB"),
    ("PNG", "application/x-image", "L"),
    ("JPEG", "application/x-image", "CMYK"),
])
def test_images_of_every_accepted_type_give_a_json_probability_list(served, fmt, content_type,
                                                                     mode):
    # GIVEN an image in an accepted format and any mode
    body = encode(photo(mode=mode), fmt)
    # WHEN it goes through input_fn -> predict_fn -> output_fn
    tensor = served.module.input_fn(body, content_type)
    prediction = served.module.predict_fn(tensor, served.model)
    text = served.module.output_fn(prediction, "application/json")
    # THEN the response is ONE JSON list of C floats summing to 1, in label order
    assert tensor.shape == (1, 3, 32, 32) and tensor.dtype == torch.float32
    assert 0.0 <= tensor.min() and tensor.max() <= 1.0
    values = json.loads(text)
    assert isinstance(values, list) and len(values) == len(served.labels)
    assert sum(values) == pytest.approx(1.0, abs=1e-6)


def test_output_is_in_metadata_label_order(served):
    # GIVEN the model's probabilities for one image
    tensor = served.module.input_fn(encode(photo(), "PNG"), "image/png")
    probabilities = served.module.predict_fn(tensor, served.model)
    # THEN output_fn keeps that order, accepting (1, C) and (C,) and */* or empty accept
    expected = probabilities[0].tolist()
    for accept in ("application/json", "*/*", ""):
        assert json.loads(served.module.output_fn(probabilities, accept)) == pytest.approx(
            expected)
    assert json.loads(served.module.output_fn(probabilities[0], None)) == pytest.approx(expected)


def test_batch_prediction_matches_single_predictions(served):
    # GIVEN three requests concatenated into one batch (the local endpoint's micro-batching)
    bodies = [encode(photo(size=(32 + 8 * i, 32)), "PNG") for i in range(3)]
    tensors = [served.module.input_fn(b, "image/png") for b in bodies]
    batch = served.module.predict_fn(torch.cat(tensors), served.model)
    # THEN the batch result is (N, C) and equals the one-by-one results
    assert batch.shape == (3, 2)
    for i, tensor in enumerate(tensors):
        single = served.module.predict_fn(tensor, served.model)
        assert torch.allclose(batch[i], single[0], atol=1e-5)


def test_huge_image_is_resized_to_the_model_input(served):
    body = encode(photo(size=(3000, 2000)), "JPEG")
    assert served.module.input_fn(body, "image/jpeg").shape == (1, 3, 32, 32)


def test_wrong_content_type_is_415(served):
    with pytest.raises(served.module.UnsupportedContentTypeError) as caught:
        served.module.input_fn(b"{}", "application/json")
    assert caught.value.status_code == 415


@pytest.mark.parametrize("body", [b"", b"junk bytes", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40])
def test_junk_bytes_are_400(served, body):
    with pytest.raises(served.module.InvalidImageError) as caught:
        served.module.input_fn(body, "image/png")
    assert caught.value.status_code == 400


def bomb_png(width: int, height: int) -> bytes:
    """A tiny PNG file whose header declares width x height pixels (a decompression bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    rows = zlib.compress(b"\x00" * (width + 1) * 16)  # a few rows only
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows)
            + chunk(b"IEND", b""))


@pytest.mark.parametrize(("width", "height"), [(8000, 8000), (30000, 30000)])
def test_decompression_bomb_is_rejected_before_decoding(served, width, height):
    # GIVEN a PNG of a few hundred bytes that claims 64 or 900 megapixels
    body = bomb_png(width, height)
    assert len(body) < 100_000
    # THEN input_fn refuses it with a 400 without decoding the pixels
    with pytest.raises(served.module.InvalidImageError) as caught:
        served.module.input_fn(body, "image/png")
    assert caught.value.status_code == 400


def test_other_accept_is_406(served):
    prediction = torch.tensor([[0.25, 0.75]])
    with pytest.raises(served.module.UnsupportedAcceptError) as caught:
        served.module.output_fn(prediction, "text/csv")
    assert caught.value.status_code == 406


def test_content_type_parameters_are_ignored(served):
    body = encode(photo(), "PNG")
    assert served.module.input_fn(body, "image/png; charset=binary").shape == (1, 3, 32, 32)


def test_folded_batchnorm_matches_the_training_network(untrained_artifact, served):
    # GIVEN the raw network rebuilt from the artifact's state_dicts (BatchNorm not folded)
    from model.inference import CalibratedEnsemble, build_network

    states = served.module.read_weights(served.model_dir / "weights.npz")
    members = []
    for state in states:
        net = build_network(2, served.metadata["network"]["widths"])
        net.load_state_dict(state)
        members.append(net.eval())
    reference = CalibratedEnsemble(members, served.metadata["temperature"]).eval()
    x = torch.rand(4, 3, 32, 32)
    # THEN the served (folded) model gives the same probabilities
    with torch.inference_mode():
        assert torch.allclose(reference(x), served.module.predict_fn(x, served.model), atol=1e-5)


def test_members_are_served_as_one_stacked_network_with_the_same_probabilities(served):
    # GIVEN the artifact's members folded and run one by one, as the ensemble is defined
    from model.inference import CalibratedEnsemble, build_network, fold_batchnorm

    members = []
    for state in served.module.read_weights(served.model_dir / "weights.npz"):
        net = build_network(2, served.metadata["network"]["widths"])
        net.load_state_dict(state)
        members.append(fold_batchnorm(net.eval()))
    one_by_one = CalibratedEnsemble(members, served.metadata["temperature"]).eval()
    # THEN model_fn serves them as one network (grouped convolutions, the head averaging)
    assert [type(m).__name__ for m in served.model.members] == ["StackedResNet8"]
    # AND its probabilities are the members' average, for one image and for a batch
    for n in (1, 5):
        x = torch.rand(n, 3, 32, 32)
        with torch.inference_mode():
            assert torch.allclose(one_by_one(x), served.module.predict_fn(x, served.model),
                                  atol=1e-6)


def legacy_copy(artifact, out):
    """The same model packaged as before weights.npz: weights.pt (torch.save of the member
    state_dicts) and a code/requirements.txt."""
    from model.inference import read_weights

    with tarfile.open(artifact) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
        tar.extract("weights.npz", out.parent, filter="data")
    weights = io.BytesIO()
    torch.save(read_weights(out.parent / "weights.npz"), weights)
    members.pop("weights.npz")
    members.update({"weights.pt": weights.getvalue(), "code/requirements.txt": b"numpy\n"})
    with tarfile.open(out, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out


def test_an_artifact_from_before_weights_npz_is_named_then_upgraded(untrained_artifact, served,
                                                                    tmp_path, capsys):
    from model.package import ArtifactError, main

    # GIVEN the same model packaged the old way (weights.pt + code/requirements.txt)
    legacy = legacy_copy(untrained_artifact, tmp_path / "old" / "model.tar.gz")
    # WHEN it is loaded  THEN a named error says how to upgrade it
    with pytest.raises(ArtifactError, match="python -m model.package upgrade"):
        LoadedArtifact(legacy)
    # WHEN it is upgraded (twice: the second time there is nothing to do)
    assert main(["upgrade", str(legacy)]) == 0
    assert main(["upgrade", str(legacy)]) == 0
    assert capsys.readouterr().out.splitlines()[-1].endswith("already current")
    # THEN today's layout, and the same probabilities as the original artifact
    with tarfile.open(legacy) as tar:
        names = set(tar.getnames())
    assert "weights.npz" in names and not names & {"weights.pt", "code/requirements.txt"}
    x = torch.rand(3, 3, 32, 32)
    with LoadedArtifact(legacy) as upgraded:
        assert torch.allclose(upgraded.module.predict_fn(x, upgraded.model),
                              served.module.predict_fn(x, served.model), atol=1e-6)

"""SageMaker PyTorch serving handlers for the Scones Unlimited vehicle classifier.

This file is copied verbatim into ``model.tar.gz`` as ``code/inference.py`` and loaded by path,
both by the SageMaker PyTorch inference container and by the project's local endpoint. It must
stay SELF-CONTAINED: it imports only the standard library, numpy, PIL and torch (never the
``model`` package). The training code imports the network and the image preprocessing from
here, so training and serving cannot drift apart.

Independent of the torch version: the container's torch is older than the one we train with,
so the weights are a numpy ``.npz`` (read with ``np.load``, never ``torch.load``) and the
network uses only long-stable torch modules (Conv2d, BatchNorm2d, Linear, ReLU, pooling).

Errors carry their HTTP status: under the SageMaker inference toolkit (sagemaker-inference,
used by the PyTorch container) they subclass its ``BaseInferenceToolkitError``, the one
exception type it answers with the exception's own status code (any other becomes HTTP 500);
elsewhere a stand-in of the same name and fields (the local endpoint answers it the same way).

Contract (kept exactly; other components rely on it):

``model_fn(model_dir) -> model``
    Reads ``metadata.json`` and ``weights.npz`` (every member's ``state_dict``, keyed
    ``"<member>.<state_dict key>"``, read with ``np.load(allow_pickle=False)``) from
    ``model_dir``; sets torch threads sensibly.
``input_fn(request_body: bytes, content_type: str) -> torch.Tensor``
    Accepts ``image/png``, ``image/jpeg``, ``application/x-image`` (any size, any mode; converted
    to RGB and resized to S x S). Returns a float tensor in [0, 1] of shape (1, 3, S, S).
    Raises ``UnsupportedContentTypeError`` (status_code 415) for other content types and
    ``InvalidImageError`` (status_code 400) for bytes that do not decode or that declare more
    than ``MAX_IMAGE_PIXELS`` pixels (checked from the header, before decoding).
``predict_fn(data, model) -> torch.Tensor``
    Calibrated class probabilities, shape (N, C), for a batch of shape (N, 3, S, S)
    (the local endpoint may concatenate several requests' ``input_fn`` outputs).
``output_fn(prediction, accept) -> str``
    JSON text of ONE list of C floats (a prediction of shape (1, C) or (C,)) in the label order
    of ``metadata.json``. Accepts ``application/json``, ``*/*`` or an empty accept; anything
    else raises ``UnsupportedAcceptError`` (status_code 406).
"""

from __future__ import annotations

import io
import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import nn

WEIGHTS_FILE = "weights.npz"  # member state_dicts as arrays, keyed "<member>.<key>"
INPUT_SIZE = 32  # default model input (pixels per side); model_fn updates it from metadata
MAX_IMAGE_PIXELS = 40_000_000  # refuse larger images before decoding (decompression bombs)
IMAGE_CONTENT_TYPES = ("image/png", "image/jpeg", "application/x-image")
JSON_ACCEPTS = ("application/json", "*/*", "")
# per-channel mean / std of CIFAR-100 training images (RGB, [0, 1] scale)
MEAN = (0.5071, 0.4865, 0.4409)
STD = (0.2673, 0.2564, 0.2762)

Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS


try:  # inside the SageMaker inference container: the toolkit's status-carrying error
    from sagemaker_inference.errors import BaseInferenceToolkitError
except ImportError:  # training, tests, the local endpoint: a stand-in of the same name and fields

    class BaseInferenceToolkitError(Exception):
        """``status_code``, ``message`` and ``phrase``, as the toolkit's own error carries them."""

        def __init__(self, status_code: int, message: str, phrase: str):
            self.status_code, self.message, self.phrase = status_code, message, phrase
            super().__init__(status_code, message, phrase)


class RequestError(BaseInferenceToolkitError, ValueError):
    """A request this model refuses, answered with the class's ``status_code``."""

    status_code = 400

    def __init__(self, message: str):
        super().__init__(type(self).status_code, message, message)

    def __str__(self) -> str:
        return self.message


class UnsupportedContentTypeError(RequestError):
    """The request's content type is not an image type this model reads."""

    status_code = 415


class InvalidImageError(RequestError):
    """The request body is not a decodable image (or is too large to decode safely)."""

    status_code = 400


class UnsupportedAcceptError(RequestError):
    """The client asked for a response type other than JSON."""

    status_code = 406


# --------------------------------------------------------------------------- network


class CalibratedEnsemble(nn.Module):
    """Averages member logits over members and (optionally) a horizontal flip, divides by the
    fitted temperature and returns probabilities. Input: images in [0, 1], (N, 3, S, S)."""

    def __init__(self, members: list[nn.Module], temperature: float = 1.0, tta_flip: bool = True):
        super().__init__()
        self.members = nn.ModuleList(members)
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1))
        self.temperature = float(temperature)
        self.tta_flip = tta_flip

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Mean logits (before temperature) over members and views."""
        x = ((x - self.mean) / self.std).contiguous(memory_format=torch.channels_last)
        n = x.shape[0]
        if self.tta_flip:
            x = torch.cat([x, torch.flip(x, dims=[3])])
        total = sum(member(x) for member in self.members) / len(self.members)
        if self.tta_flip:
            total = (total[:n] + total[n:]) / 2
        return total

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logits(x) / self.temperature, dim=1)


class BasicBlock(nn.Module):
    """ResNet basic block with a strided 1x1 shortcut when shapes change."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet8(nn.Module):
    """stem conv + three basic blocks (strides 1, 2, 2) + global average pool + linear."""

    def __init__(self, num_classes: int = 2, widths: tuple[int, ...] = (32, 64, 128)):
        super().__init__()
        w1, w2, w3 = widths
        self.features = nn.Sequential(
            nn.Conv2d(3, w1, 3, 1, 1, bias=False), nn.BatchNorm2d(w1), nn.ReLU(inplace=True),
            BasicBlock(w1, w1, 1), BasicBlock(w1, w2, 2), BasicBlock(w2, w3, 2),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.head = nn.Linear(w3, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


ARCHITECTURES = {"resnet8": ResNet8}


def fold_batchnorm(module: nn.Module) -> nn.Module:
    """Fold every eval-mode BatchNorm into the convolution before it (same outputs, fewer ops:
    single-image latency on CPU is dominated by per-op overhead)."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    for child in module.children():
        fold_batchnorm(child)
    if isinstance(module, nn.Sequential):
        for i in range(len(module) - 1):
            if isinstance(module[i], nn.Conv2d) and isinstance(module[i + 1], nn.BatchNorm2d):
                module[i] = fuse_conv_bn_eval(module[i], module[i + 1])
                module[i + 1] = nn.Identity()
    if isinstance(module, BasicBlock):
        module.conv1 = fuse_conv_bn_eval(module.conv1, module.bn1)
        module.conv2 = fuse_conv_bn_eval(module.conv2, module.bn2)
        module.bn1, module.bn2 = nn.Identity(), nn.Identity()
    return module


def _stacked_conv(convs: list[nn.Conv2d], shared_input: bool) -> nn.Conv2d:
    """Several members' (BatchNorm-folded) convolutions as one: their outputs side by side, each
    member's channels reading only its own inputs (groups) unless all read the same (the image)."""
    first, count = convs[0], len(convs)
    conv = nn.Conv2d(first.in_channels * (1 if shared_input else count),
                     first.out_channels * count, first.kernel_size, first.stride, first.padding,
                     groups=1 if shared_input else count, bias=True)
    with torch.no_grad():
        conv.weight.copy_(torch.cat([c.weight for c in convs]))
        conv.bias.copy_(torch.cat([c.bias if c.bias is not None
                                   else torch.zeros(c.out_channels) for c in convs]))
    return conv


class StackedResNet8(nn.Module):
    """Several BatchNorm-folded ResNet-8 members run as ONE network of grouped convolutions whose
    linear head averages the members' logits: the same arithmetic as running them one by one
    (probabilities equal to about 1e-7), with a third of the operator calls, which is what a
    single image's latency on CPU is made of (docs/model.md, Inference latency)."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        features = [member.features for member in members]
        self.stem = _stacked_conv([f[0] for f in features], shared_input=True)
        self.blocks = nn.ModuleList()
        for index in (3, 4, 5):  # the BasicBlocks of ResNet8.features
            blocks = [f[index] for f in features]
            block = nn.Module()
            block.conv1 = _stacked_conv([b.conv1 for b in blocks], shared_input=False)
            block.conv2 = _stacked_conv([b.conv2 for b in blocks], shared_input=False)
            block.shortcut = (_stacked_conv([b.shortcut[0] for b in blocks], shared_input=False)
                              if len(blocks[0].shortcut) else nn.Identity())
            self.blocks.append(block)
        heads = [member.head for member in members]
        self.head = nn.Linear(heads[0].in_features * len(heads), heads[0].out_features)
        with torch.no_grad():
            self.head.weight.copy_(torch.cat([h.weight for h in heads], dim=1) / len(heads))
            self.head.bias.copy_(torch.stack([h.bias for h in heads]).mean(0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.stem(x))
        for block in self.blocks:
            x = torch.relu(block.conv2(torch.relu(block.conv1(x))) + block.shortcut(x))
        return self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def build_network(
    num_classes: int, widths: list[int] | tuple[int, ...], arch: str = "resnet8"
) -> nn.Module:
    return ARCHITECTURES[arch](num_classes, tuple(widths))


# --------------------------------------------------------------------------- images


def decode_image(data: bytes, size: int = INPUT_SIZE) -> np.ndarray:
    """Image bytes -> uint8 RGB array (size, size, 3). Raises InvalidImageError."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
        width, height = image.size
        if width * height > MAX_IMAGE_PIXELS:
            raise InvalidImageError(
                f"image is {width}x{height} pixels, more than the {MAX_IMAGE_PIXELS} allowed"
            )
        if image.format == "JPEG":
            image.draft("RGB", (size, size))  # decode big JPEGs at a reduced scale
        image = image.convert("RGB")
        if image.size != (size, size):
            image = image.resize((size, size), Image.BILINEAR, reducing_gap=2.0)
        return np.array(image, dtype=np.uint8)
    except InvalidImageError:
        raise
    except UnidentifiedImageError as exc:  # its message holds the repr of our BytesIO
        raise InvalidImageError("cannot decode image: not an image format Pillow reads "
                                "(send PNG or JPEG)") from exc
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as exc:
        raise InvalidImageError(f"cannot decode image: {exc}") from exc


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, S, S, 3) or (S, S, 3) -> float tensor in [0, 1], (N, 3, S, S)."""
    array = images[None] if images.ndim == 3 else images
    return torch.from_numpy(np.ascontiguousarray(array)).permute(0, 3, 1, 2).float().div_(255.0)


# --------------------------------------------------------------------------- handlers


def read_weights(path: Path) -> list[dict[str, torch.Tensor]]:
    """weights.npz -> one state_dict per member, in member order (no pickle, no torch.load)."""
    members: dict[int, dict[str, torch.Tensor]] = {}
    with np.load(path, allow_pickle=False) as arrays:
        for name in arrays.files:
            member, _, key = name.partition(".")
            members.setdefault(int(member), {})[key] = torch.from_numpy(arrays[name].copy())
    return [members[i] for i in sorted(members)]


def model_fn(model_dir: str) -> CalibratedEnsemble:
    global INPUT_SIZE
    torch.set_num_threads(int(os.environ.get("SCONES_TORCH_THREADS", min(2, os.cpu_count() or 1))))
    directory = Path(model_dir)
    metadata = json.loads((directory / "metadata.json").read_text())
    INPUT_SIZE = int(metadata["input_size"])
    states = read_weights(directory / WEIGHTS_FILE)
    members = []
    for state in states:
        net = build_network(
            len(metadata["labels"]), metadata["network"]["widths"], metadata["network"]["arch"]
        )
        net.load_state_dict(state)
        members.append(fold_batchnorm(net.eval()))
    if len(members) > 1 and metadata["network"]["arch"] == "resnet8":
        members = [StackedResNet8(members)]  # one network that averages the members' logits
    model = CalibratedEnsemble(
        members, metadata["temperature"], metadata.get("tta_flip", True)
    ).eval()
    model.labels = list(metadata["labels"])
    model.input_size = INPUT_SIZE
    return model.to(memory_format=torch.channels_last)


def input_fn(request_body: bytes, content_type: str) -> torch.Tensor:
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type not in IMAGE_CONTENT_TYPES:
        raise UnsupportedContentTypeError(
            f"content type {content_type!r} is not supported; use one of {IMAGE_CONTENT_TYPES}"
        )
    if isinstance(request_body, str):
        request_body = request_body.encode("latin-1")
    return to_tensor(decode_image(bytes(request_body), INPUT_SIZE))


def predict_fn(data: torch.Tensor, model: CalibratedEnsemble) -> torch.Tensor:
    with torch.inference_mode():
        return model(data)


def output_fn(prediction, accept: str) -> str:
    media_type = (accept or "").split(";")[0].strip().lower()
    if media_type not in JSON_ACCEPTS:
        raise UnsupportedAcceptError(f"accept {accept!r} is not supported; use application/json")
    values = prediction.detach().cpu().numpy() if torch.is_tensor(prediction) else prediction
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 2:
        if values.shape[0] != 1:
            raise ValueError(f"output_fn takes one prediction, got shape {values.shape}")
        values = values[0]
    return json.dumps([float(v) for v in values])

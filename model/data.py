"""Labeled images on disk: ImageFolder directories, SageMaker ``.lst`` files, CIFAR-100.

Public functions:

- ``find_samples(data) -> Samples``: list (path, label) pairs from an ImageFolder directory, a
  ``.lst`` file, or a directory holding exactly one ``.lst`` file.
- ``load_images(samples, size) -> LoadedImages``: decode every image (RGB, size x size), skipping
  and counting corrupt or truncated files.
- ``stratified_split(labels, fractions, seed)``: index lists per part, stratified by class.
- ``download_cifar100(dest, labels=("bicycle", "motorcycle"), *, split="train", url=CIFAR100_URL,
  md5=CIFAR100_MD5, cache_dir=None) -> Path``: download (cached, checksum verified) the canonical
  CIFAR-100 archive and write the named fine labels as PNGs into an ImageFolder directory
  ``dest/<label>/<cifar file name>``; returns ``dest``.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import shutil
import tarfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from model.inference import INPUT_SIZE, InvalidImageError, decode_image

# the CIFAR-100 bicycle/motorcycle images beside the checkout, the data every command defaults
# to ($SCONES_SHARED_DATA overrides it)
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared/data/cifar100-bicycle-motorcycle"
CIFAR100_URL = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
CIFAR100_MD5 = "eb9058c3a382ffc7106e4002c42a8d85"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}


class DataError(ValueError):
    """Base class of the data errors below."""


class DataNotFoundError(DataError, FileNotFoundError):
    """The data path (directory or .lst file, or a path listed in it) does not exist."""


class AmbiguousListFileError(DataError):
    """A data directory holds more than one .lst file."""


class MalformedListFileError(DataError):
    """A .lst line is not `index <TAB> label <TAB> relative path`."""


class EmptyClassError(DataError):
    """A class has no (readable) images."""


class UnknownLabelError(DataError):
    """A requested CIFAR-100 fine label name does not exist."""


class ChecksumMismatchError(DataError):
    """The downloaded archive's MD5 differs from the expected one."""


@dataclass
class Samples:
    """Image paths with integer labels; ``labels[i]`` names class i; ``root`` is the data root."""

    root: Path
    paths: list[Path]
    targets: list[int]
    labels: list[str]

    def relative_paths(self) -> list[str]:
        return [os.path.relpath(p, self.root) for p in self.paths]


@dataclass
class LoadedImages:
    """Decoded images (uint8, N x S x S x 3) with their targets and raw-file statistics."""

    images: np.ndarray
    targets: np.ndarray
    labels: list[str]
    paths: list[Path]
    file_bytes: list[int]
    widths: list[int]
    heights: list[int]
    brightness: list[float]
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def find_samples(data: str | os.PathLike, labels: list[str] | None = None) -> Samples:
    """Index a dataset without decoding it. ``labels`` fixes the class order (else sorted)."""
    path = Path(data)
    if not path.exists():
        raise DataNotFoundError(f"data path {path} does not exist")
    if path.is_dir():
        list_files = sorted(path.glob("*.lst"))
        if len(list_files) > 1:
            raise AmbiguousListFileError(
                f"{path} holds {len(list_files)} .lst files ({[p.name for p in list_files]}); "
                "pass one of them"
            )
        if list_files:
            return _read_list_file(list_files[0], labels)
        return _read_image_folder(path, labels)
    if path.suffix == ".lst":
        return _read_list_file(path, labels)
    raise DataError(f"{path} is neither a directory nor a .lst file")


def _read_image_folder(root: Path, labels: list[str] | None) -> Samples:
    class_dirs = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    names = list(labels) if labels else class_dirs
    if not names:
        raise EmptyClassError(f"{root} has no class subdirectories")
    paths, targets = [], []
    for index, name in enumerate(names):
        # at any depth below the class folder, as torchvision's ImageFolder reads it: reviewed
        # images keep their S3 key under labels/<class>/
        files = sorted(
            f for f in (root / name).rglob("*") if f.is_file()
            and f.suffix.lower() in IMAGE_SUFFIXES
        ) if (root / name).is_dir() else []
        if not files:
            raise EmptyClassError(f"class {name!r} has no images in {root / name}")
        paths += files
        targets += [index] * len(files)
    return Samples(root, paths, targets, names)


def _read_list_file(list_file: Path, labels: list[str] | None) -> Samples:
    root = list_file.parent
    rows = []
    for number, line in enumerate(list_file.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) < 3:
            raise MalformedListFileError(f"{list_file}:{number}: expected 3 tab-separated fields")
        try:
            label = int(float(parts[1]))
        except ValueError as exc:
            raise MalformedListFileError(f"{list_file}:{number}: bad label {parts[1]!r}") from exc
        rows.append((label, parts[-1].strip()))
    # SageMaker convention: paths are relative to the image channel; `train.lst` pairs with the
    # folder `train/` beside it. Paths relative to the list's own folder work too.
    image_dir = root / list_file.stem
    base = image_dir if rows and (image_dir / rows[0][1]).exists() else root
    rows = [(label, base / relative) for label, relative in rows]
    missing = [p for _, p in rows if not p.exists()]
    if missing:
        raise DataNotFoundError(
            f"{len(missing)} paths listed in {list_file} do not exist (first: {missing[0]})"
        )
    present = sorted({label for label, _ in rows})
    n_classes = max(len(labels or []), (present[-1] + 1) if present else 0)
    names = list(labels) if labels else _names_from_paths(rows, n_classes)
    for index in range(len(names)):
        if index not in present:
            raise EmptyClassError(f"class {index} ({names[index]!r}) has no images in {list_file}")
    return Samples(root, [p for _, p in rows], [label for label, _ in rows], names)


def _names_from_paths(rows: list[tuple[int, Path]], n_classes: int) -> list[str]:
    """Class names for a .lst file: the common parent folder name per label when the images sit
    in per-class folders, the project's default names for the 2-class CIFAR list, else 'class_i'.
    """
    names = []
    for index in range(n_classes):
        parents = {p.parent.name for label, p in rows if label == index}
        names.append(parents.pop() if len(parents) == 1 else None)
    if None not in names and len(set(names)) == n_classes:
        return names
    if n_classes == 2:
        return ["bicycle", "motorcycle"]  # the SageMaker list this project ships: 0 / 1
    return [f"class_{i}" for i in range(n_classes)]


def load_images(samples: Samples, size: int = INPUT_SIZE, progress: bool = False) -> LoadedImages:
    """Decode all images; corrupt or truncated files are skipped and listed in ``skipped``."""
    from PIL import Image
    from tqdm import tqdm

    images, targets, paths, sizes, widths, heights, bright, skipped = ([] for _ in range(8))
    pairs = list(zip(samples.paths, samples.targets, strict=True))
    for path, target in tqdm(pairs, desc="loading images", unit="img", disable=not progress):
        raw = path.read_bytes()
        try:
            array = decode_image(raw, size)
            with Image.open(io.BytesIO(raw)) as original:
                width, height = original.size
                luminance = np.asarray(original.convert("L"), dtype=np.float64).mean() / 255.0
        except (InvalidImageError, OSError) as exc:
            skipped.append((path, str(exc)))
            continue
        images.append(array)
        targets.append(target)
        paths.append(path)
        sizes.append(len(raw))
        widths.append(width)
        heights.append(height)
        bright.append(float(luminance))
    counts = np.bincount(np.asarray(targets, dtype=np.int64), minlength=len(samples.labels))
    for index, count in enumerate(counts):
        if count == 0:
            raise EmptyClassError(f"class {samples.labels[index]!r} has no readable images")
    return LoadedImages(
        np.stack(images), np.asarray(targets, dtype=np.int64), list(samples.labels), paths,
        sizes, widths, heights, bright, skipped,
    )


def select_images(loaded: LoadedImages, indices) -> LoadedImages:
    """The images at ``indices`` (same class list; ``skipped`` kept)."""
    indices = [int(i) for i in indices]
    return LoadedImages(
        loaded.images[indices], loaded.targets[indices], list(loaded.labels),
        *([values[i] for i in indices] for values in (
            loaded.paths, loaded.file_bytes, loaded.widths, loaded.heights, loaded.brightness)),
        list(loaded.skipped),
    )


def merge_images(parts: list[LoadedImages]) -> LoadedImages:
    """Several loaded datasets as one; the class list is the sorted union of theirs, so a class
    only one part holds is a new class of the whole."""
    labels = sorted({label for part in parts for label in part.labels})
    targets = [np.asarray([labels.index(part.labels[t]) for t in part.targets], dtype=np.int64)
               for part in parts]
    return LoadedImages(
        np.concatenate([part.images for part in parts]), np.concatenate(targets), labels,
        *([value for part in parts for value in getattr(part, name)] for name in (
            "paths", "file_bytes", "widths", "heights", "brightness", "skipped")),
    )


def stratified_split(
    targets: np.ndarray | list[int], fractions: list[float], seed: int
) -> list[np.ndarray]:
    """Split indices into len(fractions)+1 parts: one per fraction, the rest last. Each class is
    shuffled with ``seed`` and cut in the same proportions; parts are returned sorted."""
    parts: list[list[int]] = [[] for _ in range(len(fractions) + 1)]
    for idx in _shuffled_classes(targets, seed):
        start = 0
        for part, fraction in enumerate(fractions):
            count = int(round(fraction * len(idx)))
            parts[part] += idx[start : start + count].tolist()
            start += count
        parts[-1] += idx[start:].tolist()
    return [np.asarray(sorted(p), dtype=np.int64) for p in parts]


def _shuffled_classes(targets: np.ndarray | list[int], seed: int):
    """Each class's indices (classes in sorted order), shuffled by one generator seeded with
    ``seed``: the shared first step of ``stratified_split`` and ``stratified_folds``."""
    targets = np.asarray(targets)
    rng = np.random.default_rng(seed)
    for cls in np.unique(targets):
        yield rng.permutation(np.flatnonzero(targets == cls))


def stratified_folds(targets: np.ndarray | list[int], folds: int, seed: int) -> list[np.ndarray]:
    """Validation indices of ``folds`` disjoint stratified folds (k-fold cross-validation).
    Classes are shuffled exactly as in ``stratified_split``, so fold 0 is the part that
    ``stratified_split(targets, [1 / folds], seed)`` holds out."""
    parts: list[list[int]] = [[] for _ in range(folds)]
    for idx in _shuffled_classes(targets, seed):
        count = int(round(len(idx) / folds))
        for k in range(folds):
            parts[k] += idx[k * count : (k + 1) * count if k < folds - 1 else None].tolist()
    return [np.asarray(sorted(p), dtype=np.int64) for p in parts]


# --------------------------------------------------------------------------- CIFAR-100


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def shared_data_dir() -> Path:
    return Path(os.environ.get("SCONES_SHARED_DATA", SHARED_DATA))


def default_cache_dir() -> Path:
    return Path(os.environ.get("SCONES_CACHE", Path.home() / ".cache" / "scones"))


def fetch_archive(url: str, md5: str, cache_dir: Path) -> Path:
    """Return a local copy of ``url`` (a URL, file:// URL or local path) with MD5 ``md5``,
    downloading into ``cache_dir`` once."""
    if "://" not in url:
        source = Path(url)
        if not source.exists():
            raise DataNotFoundError(f"archive {source} does not exist")
        if _md5(source) != md5:
            raise ChecksumMismatchError(f"{source}: MD5 {_md5(source)} != expected {md5}")
        return source
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / Path(url.split("?")[0]).name
    if target.exists() and _md5(target) == md5:
        return target
    partial = target.with_suffix(target.suffix + ".part")
    with urllib.request.urlopen(url, timeout=60) as response, partial.open("wb") as out:
        shutil.copyfileobj(response, out)
    actual = _md5(partial)
    if actual != md5:
        partial.unlink()
        raise ChecksumMismatchError(f"{url}: MD5 {actual} != expected {md5}")
    partial.replace(target)
    return target


def download_cifar100(
    dest: str | os.PathLike,
    labels: tuple[str, ...] | list[str] = ("bicycle", "motorcycle"),
    *,
    split: str = "train",
    url: str = CIFAR100_URL,
    md5: str = CIFAR100_MD5,
    cache_dir: str | os.PathLike | None = None,
) -> Path:
    """Extract CIFAR-100 fine labels ``labels`` (split "train" or "test") as PNG files into the
    ImageFolder directory ``dest/<label>/<name>.png``; the archive is downloaded from ``url``
    (or read from a local path / file:// URL), MD5-checked against ``md5`` and cached in
    ``cache_dir`` (default ``$SCONES_CACHE`` or ``~/.cache/scones``). Returns ``dest``.
    Raises UnknownLabelError for a name not among CIFAR-100's fine labels (before writing)."""
    from PIL import Image

    if split not in ("train", "test"):
        raise DataError(f"split must be 'train' or 'test', not {split!r}")
    archive = fetch_archive(url, md5, Path(cache_dir) if cache_dir else default_cache_dir())
    with tarfile.open(archive, "r:gz") as tar:
        meta = _unpickle(tar, "meta")
        batch = _unpickle(tar, split)
    fine_names = [_text(n) for n in meta[b"fine_label_names"]]
    unknown = [name for name in labels if name not in fine_names]
    if unknown:
        raise UnknownLabelError(f"not CIFAR-100 fine labels: {unknown}")
    data = np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    fine = np.asarray(batch[b"fine_labels"])
    filenames = [_text(n) for n in batch[b"filenames"]]
    out = Path(dest)
    for name in labels:
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        for index in np.flatnonzero(fine == fine_names.index(name)):
            Image.fromarray(data[index]).save(folder / Path(filenames[index]).with_suffix(".png"))
    return out


def _unpickle(tar: tarfile.TarFile, name: str) -> dict:
    member = next((m for m in tar.getmembers() if m.name.endswith(f"/{name}")), None)
    if member is None:
        raise DataError(f"archive has no cifar-100-python/{name} member")
    handle = tar.extractfile(member)
    return pickle.load(handle, encoding="bytes")  # noqa: S301 (checksum-verified archive)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value

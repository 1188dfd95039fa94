"""Loaders: ImageFolder, SageMaker .lst, the CIFAR-100 archive; bad data gets named errors."""

from __future__ import annotations

import numpy as np
import pytest

from model.data import (
    AmbiguousListFileError,
    ChecksumMismatchError,
    DataNotFoundError,
    EmptyClassError,
    UnknownLabelError,
    download_cifar100,
    find_samples,
    load_images,
    stratified_split,
)


def test_image_folder_labels_are_sorted_class_names(image_folder):
    # GIVEN an ImageFolder with bicycle/ and motorcycle/ (RGBA PNGs)
    # WHEN it is indexed and decoded
    samples = find_samples(image_folder)
    loaded = load_images(samples)
    # THEN bicycle = 0, motorcycle = 1 and every image is RGB 32x32
    assert samples.labels == ["bicycle", "motorcycle"]
    assert loaded.images.shape == (24, 32, 32, 3)
    assert np.bincount(loaded.targets).tolist() == [12, 12]
    assert loaded.skipped == []


def test_list_file_and_directory_holding_one_list(list_dataset):
    # GIVEN the SageMaker layout train.lst + train/
    # WHEN it is read through the .lst path and through its directory
    by_file = find_samples(list_dataset / "train.lst")
    by_dir = find_samples(list_dataset)
    # THEN both give the same samples, images resolved under train/, default names 0/1
    assert by_file.paths == by_dir.paths
    assert all(p.parent.name == "train" and p.exists() for p in by_file.paths)
    assert by_file.labels == ["bicycle", "motorcycle"]
    assert sorted(set(by_file.targets)) == [0, 1]
    assert by_file.relative_paths()[0].startswith("train/")


def test_missing_list_path_is_a_named_error(tmp_path):
    with pytest.raises(DataNotFoundError, match="does not exist"):
        find_samples(tmp_path / "nope.lst")


def test_list_naming_missing_files_is_a_named_error(list_dataset):
    # GIVEN a .lst that lists a file that is not there
    with (list_dataset / "train.lst").open("a") as handle:
        handle.write("99\t1\tghost.png\n")
    # THEN the error names the problem before anything is trained
    with pytest.raises(DataNotFoundError, match="ghost.png"):
        find_samples(list_dataset)


def test_two_list_files_are_ambiguous(list_dataset):
    (list_dataset / "other.lst").write_text((list_dataset / "train.lst").read_text())
    with pytest.raises(AmbiguousListFileError):
        find_samples(list_dataset)


def test_empty_class_is_a_named_error(image_folder):
    # GIVEN a class folder without images
    for path in (image_folder / "motorcycle").iterdir():
        path.unlink()
    # THEN indexing fails with EmptyClassError naming the class
    with pytest.raises(EmptyClassError, match="motorcycle"):
        find_samples(image_folder)


def test_corrupt_and_truncated_images_are_skipped_and_counted(image_folder):
    # GIVEN one junk file and one truncated PNG among 24 images
    (image_folder / "bicycle" / "junk.png").write_bytes(b"not an image at all")
    good = (image_folder / "motorcycle" / "motorcycle_000.png").read_bytes()
    (image_folder / "motorcycle" / "cut.png").write_bytes(good[: len(good) // 2])
    # WHEN the images are loaded
    loaded = load_images(find_samples(image_folder))
    # THEN both are reported, the 24 good ones are kept
    assert sorted(p.name for p, _ in loaded.skipped) == ["cut.png", "junk.png"]
    assert len(loaded.images) == 24


def test_a_class_whose_images_are_all_corrupt_is_an_empty_class(image_folder):
    for path in (image_folder / "motorcycle").iterdir():
        path.write_bytes(b"garbage")
    with pytest.raises(EmptyClassError, match="motorcycle"):
        load_images(find_samples(image_folder))


def test_stratified_split_is_disjoint_stratified_and_seeded():
    targets = np.array([0] * 50 + [1] * 30)
    val, cal, train = stratified_split(targets, [0.2, 0.1], seed=3)
    assert len(set(val) | set(cal) | set(train)) == 80
    assert np.bincount(targets[val]).tolist() == [10, 6]
    assert np.bincount(targets[cal]).tolist() == [5, 3]
    again = stratified_split(targets, [0.2, 0.1], seed=3)
    assert all((a == b).all() for a, b in zip(again, (val, cal, train), strict=True))
    assert not (stratified_split(targets, [0.2, 0.1], seed=4)[0] == val).all()


def test_cifar_archive_from_local_path(tmp_path, cifar_archive):
    # GIVEN a CIFAR-format archive and its MD5
    archive, md5 = cifar_archive
    # WHEN two fine labels are extracted
    out = download_cifar100(tmp_path / "out", ["motorcycle", "bicycle"], url=str(archive),
                            md5=md5)
    # THEN an ImageFolder holds exactly those classes as 32x32 PNGs the loader reads
    assert sorted(p.name for p in out.iterdir()) == ["bicycle", "motorcycle"]
    assert len(list((out / "bicycle").glob("*.png"))) == 3
    loaded = load_images(find_samples(out))
    assert loaded.labels == ["bicycle", "motorcycle"] and len(loaded.images) == 6


def test_cifar_archive_from_file_url_is_cached(tmp_path, cifar_archive):
    archive, md5 = cifar_archive
    cache = tmp_path / "cache"
    out = download_cifar100(tmp_path / "out", url=archive.as_uri(), md5=md5, cache_dir=cache,
                            split="test")
    assert (cache / "cifar-100-python.tar.gz").exists()
    assert len(list((out / "motorcycle").glob("*.png"))) == 3
    assert all("_test_" in p.name for p in (out / "motorcycle").glob("*.png"))


def test_cifar_checksum_mismatch_is_a_named_error(tmp_path, cifar_archive):
    archive, _ = cifar_archive
    with pytest.raises(ChecksumMismatchError):
        download_cifar100(tmp_path / "out", url=archive.as_uri(), md5="0" * 32,
                          cache_dir=tmp_path / "cache")
    assert not list((tmp_path / "cache").glob("*.tar.gz"))  # nothing half-verified is kept


def test_unknown_cifar_label_is_a_named_error(tmp_path, cifar_archive):
    archive, md5 = cifar_archive
    with pytest.raises(UnknownLabelError, match="skateboard"):
        download_cifar100(tmp_path / "out", ["bicycle", "skateboard"], url=str(archive), md5=md5)
    assert not (tmp_path / "out").exists()


def test_stratified_folds_are_disjoint_cover_everything_and_start_with_the_split():
    from model.data import stratified_folds, stratified_split

    targets = np.array([0] * 53 + [1] * 47)
    folds = stratified_folds(targets, 5, seed=0)
    joined = np.concatenate(folds)
    assert len(joined) == len(targets) == len(np.unique(joined))
    for fold in folds:  # each class spread evenly (the last fold takes the remainder)
        for cls, count in ((0, 53), (1, 47)):
            assert abs(np.sum(targets[fold] == cls) - count / 5) < 2
    validation, _ = stratified_split(targets, [0.2], seed=0)
    assert np.array_equal(folds[0], validation)

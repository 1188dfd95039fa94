"""`scones run --batch DIR` as a user types it (in-process, real stack and batch state machine)."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from scones.cli import main

pytestmark = pytest.mark.integration

RECORD_KEYS = {"image", "status", "error", "cause", "label", "confidence", "inferences"}


def test_scones_run_batch_writes_the_records_scones_run_writes(
        capsys, tmp_path, monkeypatch, brightness_model, batch_images, verdict):
    monkeypatch.chdir(tmp_path)  # runs/batches/ (the kept result files) goes here
    # GIVEN a folder of real images (in a sub-folder too)
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    chosen = batch_images[:4] + batch_images[-4:]
    for i, image in enumerate(chosen):
        shutil.copy(image, (folder / "sub" if i % 2 else folder) / image.name)
    out_json = tmp_path / "records.json"
    # WHEN `scones run --batch` runs the batch state machine over it
    code = main(["run", "--batch", str(folder), "--model", str(brightness_model),
                 "--json", str(out_json), "--capture", str(tmp_path / "cap"),
                 "--lambda-log", str(tmp_path / "lambda.log")])
    out, err = capsys.readouterr()
    # THEN every image got an answer and the summary line counts them
    assert code == 0, f"exit {code}\n{out}\n{err}"
    confident = sum(verdict(p) for p in chosen)
    assert f"batch of {len(chosen)} images: {confident} confident" in out
    # AND the summary and result files printed as s3:// are kept to read after the command
    kept = re.search(r"^summary: s3://\S+ \(kept in (\S+)\)$", out, re.MULTILINE).group(1)
    assert json.loads((tmp_path / kept).read_text())["images"] == len(chosen)
    manifest = re.search(r"^results: s3://\S+ \(kept in (\S+)\)$", out, re.MULTILINE).group(1)
    assert "ResultFiles" in json.loads((tmp_path / manifest).read_text())
    # AND the JSON holds one record per image, with exactly scones run's fields and outcomes
    records = json.loads(out_json.read_text())
    assert len(records) == len(chosen)
    by_name = {r["image"].rsplit("/", 1)[-1]: r for r in records}
    for image in chosen:
        record = by_name[image.name]
        assert set(record) == RECORD_KEYS
        assert record["image"].startswith(str(folder))
        if verdict(image):
            assert (record["status"], record["label"], record["inferences"]) == (
                "SUCCEEDED", "bicycle", [0.99, 0.01])
        else:
            assert (record["status"], record["error"], record["label"]) == (
                "FAILED", "THRESHOLD_CONFIDENCE_NOT_MET", "motorcycle")
            assert record["inferences"] == [0.4, 0.6]


def test_batch_and_paths_together_are_refused(capsys, tmp_path):
    (tmp_path / "x.png").write_bytes(b"")
    assert main(["run", str(tmp_path / "x.png"), "--batch", str(tmp_path)]) == 2
    assert "not both" in capsys.readouterr().err


def test_batch_needs_a_folder(capsys, tmp_path, brightness_model):
    image = tmp_path / "one.png"
    image.write_bytes(b"")
    assert main(["run", "--batch", str(image), "--model", str(brightness_model)]) == 2
    assert "takes a folder" in capsys.readouterr().err

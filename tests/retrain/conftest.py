"""Fixtures of the `scones retrain` tests: colour-coded original data the tiny recipe learns in
seconds, and a working directory of their own (no `scones up` stack of the developer's is
found: its state file is looked up from the working directory)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from retraining_data import TINY, write_color_folder


@pytest.fixture(autouse=True)
def own_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def original(tmp_path) -> Path:
    """30 red bicycles and 30 blue motorcycles (6 of each held out for evaluation)."""
    return write_color_folder(tmp_path / "original", per_class=30)


@pytest.fixture
def retrain_args(original, tmp_path):
    """``scones retrain`` arguments on the original data with the tiny recipe."""

    def make(reviewed: Path, *extra: str) -> list[str]:
        return ["retrain", "--reviewed", str(reviewed), "--out", str(tmp_path / "registry"),
                "--data", str(original), "--hyperparameters", json.dumps(TINY), *extra]

    return make

"""`scones retrain`'s usage errors: one line on stderr that names the mistake, exit 2, before any
training (fast: nothing trains)."""

from __future__ import annotations

import pytest
from retraining_data import write_color_folder

from scones.cli import main


def run_main(capsys, argv: list[str]) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exit:  # argparse refused the arguments
        code = exit.code
    return code, capsys.readouterr().err


@pytest.fixture
def folders(tmp_path) -> dict[str, str]:
    reviewed = write_color_folder(tmp_path / "reviewed", per_class=1)
    loose = write_color_folder(tmp_path / "loose", per_class=1)
    (loose / "stray.png").write_bytes((loose / "bicycle" / "img_bicycle_000.png").read_bytes())
    (tmp_path / "empty").mkdir()
    (tmp_path / "photo.png").write_bytes((reviewed / "bicycle" / "img_bicycle_000.png")
                                         .read_bytes())
    (tmp_path / "corrupt").mkdir()
    (tmp_path / "corrupt" / "registry.json").write_text("{not json")
    return {"reviewed": str(reviewed), "loose": str(loose), "empty": str(tmp_path / "empty"),
            "png": str(tmp_path / "photo.png"), "missing": str(tmp_path / "missing"),
            "out": str(tmp_path / "out"), "corrupt": str(tmp_path / "corrupt"),
            "data": str(reviewed)}


@pytest.mark.parametrize(("argv", "message"), [
    (["--reviewed", "{missing}"], "argument --reviewed: {missing}: no such file or folder"),
    (["--reviewed", "{png}"], "argument --reviewed: {png} is a file, not a folder"),
    (["--reviewed", "{empty}"], "{empty} holds no reviewed image"),
    (["--reviewed", "{loose}"], "holds 1 image(s) outside a class folder (first: stray.png)"),
    (["--reviewed", "{reviewed}", "--model", "{png}"], "{png} is a PNG image, not a model"),
    (["--reviewed", "{reviewed}", "--hyperparameters", "{{epochs"], "--hyperparameters: not JSON"),
    (["--reviewed", "{reviewed}", "--hyperparameters", '{{"epoch": 3}}'],
     "--hyperparameters: not training settings: epoch"),
    (["--reviewed", "{reviewed}", "--threshold", "1.5"], "must be between 0 and 1, got 1.5"),
    (["--reviewed", "{reviewed}", "--out", "{corrupt}"], "registry.json is not JSON"),
    (["--reviewed", "{reviewed}", "--captures", "{missing}"],
     "argument --captures: {missing}: no such folder"),
])
def test_a_mistake_is_one_line_and_exit_2(capsys, folders, argv, message):
    argv = ["retrain", "--out", folders["out"], "--data", folders["data"],
            *[arg.format(**folders) for arg in argv]]
    code, err = run_main(capsys, argv)
    assert code == 2
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert err.startswith("scones retrain: error: ") and message.format(**folders) in err, err


def test_without_original_data_it_says_where_it_looked(capsys, folders, monkeypatch, tmp_path):
    monkeypatch.setenv("SCONES_SHARED_DATA", str(tmp_path / "nowhere"))
    code, err = run_main(capsys, ["retrain", "--reviewed", folders["reviewed"],
                                  "--out", folders["out"]])
    assert code == 2 and f"no original data at {tmp_path / 'nowhere'}: give --data" in err

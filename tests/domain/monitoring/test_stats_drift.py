"""Pure statistics (PSI, KS, chi-square) and the drift checks against a baseline."""

from __future__ import annotations

import io
import json
import math
import random
import tarfile
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from monitor_fixtures import LABELS, T0, make_baseline, traffic, write_tree

from scones.monitor.report import pil_inspector
from scones_domain.monitoring import drift, stats
from scones_domain.monitoring.captures import read_captures

# ----------------------------------------------------------------------------- stats


@pytest.mark.parametrize(
    ("statistic", "dof", "p"),
    # critical values from the chi-square table (p = 0.05 and 0.01)
    [(3.841, 1, 0.05), (5.991, 2, 0.05), (7.815, 3, 0.05), (6.635, 1, 0.01), (9.210, 2, 0.01),
     (18.307, 10, 0.05)],
)
def test_chi2_sf_matches_table_values(statistic, dof, p):
    assert stats.chi2_sf(statistic, dof) == pytest.approx(p, rel=2e-3)


@given(st.floats(min_value=0, max_value=200))
def test_chi2_sf_one_dof_equals_erfc(x):
    # for one degree of freedom P(X > x) = erfc(sqrt(x / 2))
    assert stats.chi2_sf(x, 1) == pytest.approx(math.erfc(math.sqrt(x / 2)), rel=1e-9,
                                                abs=1e-300)


def test_ks_identical_samples_and_disjoint_samples():
    a = [i / 100 for i in range(100)]
    assert stats.ks_2samp(a, a) == (0.0, 1.0)
    d, p = stats.ks_2samp(a, [x + 2 for x in a])
    assert d == 1.0 and p < 1e-20


def test_ks_p_value_matches_reference():
    # GIVEN two samples of 50 whose ECDFs differ by exactly D = 0.3
    a = [float(i) for i in range(50)]
    b = [float(i + 15) for i in range(50)]
    d, p = stats.ks_2samp(a, b)
    assert d == pytest.approx(0.3, abs=1e-9)
    # THEN the asymptotic p with Stephens' correction: Q_KS((sqrt(25)+0.12+0.11/5) * 0.3)
    x = (5 + 0.12 + 0.022) * 0.3
    assert p == pytest.approx(stats.kolmogorov_sf(x))
    assert 0.01 < p < 0.03  # Q_KS(1.5) = 0.022 without the correction


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=1, max_size=60),
       st.lists(st.floats(0, 1), min_size=1, max_size=60))
def test_ks_and_psi_stay_in_range(a, b):
    d, p = stats.ks_2samp(a, b)
    assert 0.0 <= d <= 1.0 and 0.0 <= p <= 1.0
    assert stats.psi(a, b) >= 0.0


def test_psi_zero_for_same_sample_and_large_for_shift():
    rng = random.Random(0)
    base = [rng.uniform(0.5, 1.0) for _ in range(500)]
    assert stats.psi(base, base) == pytest.approx(0.0)
    assert stats.psi(base, [min(1.0, x + 0.3) for x in base]) > 1.0


def test_psi_bins_shrink_for_small_windows():
    assert [stats.psi_bins(n) for n in (10, 30, 60, 100, 250, 10_000)] == [2, 2, 2, 4, 10, 10]


def test_summarize_counts():
    rows = read_rows(traffic(20, T0, rng=random.Random(2)))
    s = stats.summarize(rows, LABELS, 0.93)
    assert s["n_records"] == 20
    assert sum(s["label_counts"].values()) == 20
    assert s["n_above_threshold"] == sum(r.confidence >= 0.93 for r in rows)
    assert s["share_above_threshold"] + s["share_below_threshold"] == pytest.approx(1.0)


# ----------------------------------------------------------------------------- baseline


def test_baseline_loads_from_json_and_from_model_tarball(tmp_path):
    # GIVEN the same baseline as baseline.json and inside a model.tar.gz (code/ beside it)
    doc = make_baseline(n=50)
    (tmp_path / "baseline.json").write_text(json.dumps(doc))
    with tarfile.open(tmp_path / "model.tar.gz", "w:gz") as tar:
        for name, data in (("model.pth", b"weights"), ("code/inference.py", b"# code"),
                           ("baseline.json", json.dumps(doc).encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    # WHEN loaded both ways
    a = drift.load_baseline(tmp_path / "baseline.json")
    b = drift.load_baseline(str(tmp_path / "model.tar.gz"))
    # THEN identical contents
    assert a.labels == b.labels == tuple(LABELS)
    assert a.confidence == b.confidence and len(a.confidence) == 50
    assert a.inputs.keys() == {"brightness", "width", "height", "bytes"}


def test_baseline_errors_are_named(tmp_path):
    with pytest.raises(drift.BaselineNotFound):
        drift.load_baseline(tmp_path / "missing.json")
    with tarfile.open(tmp_path / "model.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo("model.pth")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(drift.BaselineNotFound, match="no baseline.json"):
        drift.load_baseline(tmp_path / "model.tar.gz")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(drift.InvalidBaseline):
        drift.load_baseline(tmp_path / "bad.json")
    (tmp_path / "partial.json").write_text(json.dumps({"labels": ["a", "b"]}))
    with pytest.raises(drift.InvalidBaseline, match="confidence"):
        drift.load_baseline(tmp_path / "partial.json")
    (tmp_path / "nan.json").write_text('{"labels": ["a"], "confidence": [NaN], '
                                       '"label_mix": {"a": 1}}')
    with pytest.raises(drift.InvalidBaseline, match="finite"):
        drift.load_baseline(tmp_path / "nan.json")


# ----------------------------------------------------------------------------- drift


def read_rows(items):
    import tempfile
    from pathlib import Path

    root = Path(tempfile.mkdtemp(prefix="captures-"))
    write_tree(root, items)
    return read_captures(str(root), labels=LABELS, inspect_image=pil_inspector).rows


@pytest.fixture(scope="module")
def baseline():
    return drift.parse_baseline(make_baseline(n=200, seed=1))


def statuses(checks):
    return {c["check"]: c["status"] for c in checks}


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_unshifted_window_passes_every_check(baseline, seed):
    # GIVEN 150 inferences drawn like the validation set (different seed)
    rows = read_rows(traffic(150, T0, rng=random.Random(seed)))
    # WHEN compared with the baseline
    checks = drift.drift_checks(rows, baseline, LABELS)
    # THEN nothing fails
    assert drift.FAIL not in statuses(checks).values(), checks
    assert drift.overall_status(checks) in (drift.PASS, drift.WARN)


def test_confidence_shift_fails_psi_and_ks(baseline):
    # GIVEN traffic where only 20% of answers are confident (baseline: 80%)
    rows = read_rows(traffic(150, T0, rng=random.Random(8), confident=0.2))
    checks = statuses(drift.drift_checks(rows, baseline, LABELS))
    # THEN the confidence checks fail, the label mix and inputs pass
    assert checks["confidence_psi"] == checks["confidence_ks"] == drift.FAIL
    assert checks["label_mix_chi2"] == drift.PASS
    assert checks["input_brightness_ks"] == drift.PASS


def test_label_mix_shift_fails_chi_square(baseline):
    rows = read_rows(traffic(150, T0, rng=random.Random(9), motorcycle_share=0.9))
    by = {c["check"]: c for c in drift.drift_checks(rows, baseline, LABELS)}
    assert by["label_mix_chi2"]["status"] == drift.FAIL
    assert by["label_mix_chi2"]["p_value"] < 0.01 and by["label_mix_chi2"]["dof"] == 1
    assert by["confidence_ks"]["status"] == drift.PASS


def test_darker_and_larger_images_fail_input_checks(baseline):
    # GIVEN darker images (the baseline's were mid-gray, 32x32)
    rows = read_rows(traffic(60, T0, rng=random.Random(10), gray=40))
    checks = statuses(drift.drift_checks(rows, baseline, LABELS))
    assert checks["input_brightness_ks"] == drift.FAIL
    assert checks["input_width_ks"] == drift.PASS


def test_small_window_is_insufficient_data(baseline):
    rows = read_rows(traffic(drift.MIN_WINDOW_N - 1, T0, rng=random.Random(1), confident=0.0))
    checks = drift.drift_checks(rows, baseline, LABELS)
    assert set(statuses(checks).values()) == {drift.INSUFFICIENT}
    assert drift.overall_status(checks) == drift.INSUFFICIENT


def test_split_windows_marks_only_the_shifted_windows(baseline):
    # GIVEN 90 normal inferences then 90 unconfident ones, 10 s apart
    rng = random.Random(12)
    items = traffic(90, T0, rng=rng) + traffic(90, T0 + timedelta(seconds=900), rng=rng,
                                                 confident=0.1)
    rows = read_rows(items)
    # WHEN split into 5-minute windows (30 rows each)
    windows = drift.split_windows(rows, timedelta(minutes=5))
    results = [drift.overall_status(drift.drift_checks(w, baseline, LABELS))
               for _, _, w in windows]
    # THEN the first three windows pass and the last three fail
    assert [len(w) for _, _, w in windows] == [30] * 6
    assert [r == drift.FAIL for r in results] == [False] * 3 + [True] * 3


def test_auto_window_gives_at_most_max_windows():
    rows = read_rows(traffic(400, T0, rng=random.Random(3), step_s=9))
    windows = drift.split_windows(rows, drift.auto_window(rows))
    assert 1 < len(windows) <= drift.MAX_WINDOWS
    assert sum(len(w) for _, _, w in windows) == 400

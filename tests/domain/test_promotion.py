"""The promotion gate on hand-computed metrics: who replaces the model in service, and why."""

from __future__ import annotations

import pytest

from scones_domain.errors import InvalidModelMetrics
from scones_domain.promotion import MAX_ECE, Decision, decide, decide_challenge

LABELS = ["bicycle", "motorcycle"]


def metrics(**changes) -> dict:
    """200 evaluation images: 190 right (0.950), 160 covered (0.800), 158 of them right."""
    base = {"accuracy": 190 / 200, "coverage": 160 / 200, "covered_accuracy": 158 / 160,
            "ece": 0.020, "n": 200, "class_labels": list(LABELS), "threshold": 0.93,
            "evaluation_sha256": "ab" * 32}
    return {**base, **changes}


def test_with_no_champion_the_challenger_is_promoted():
    decision = decide(None, metrics(accuracy=0.5))
    assert decision == Decision(True, "no champion to beat", {})
    assert decision.as_dict() == {"promoted": True, "reason": "no champion to beat",
                                  "checks": {}}


def test_a_challenger_no_worse_on_every_check_is_promoted():
    # GIVEN a champion and a challenger that gets 2 more images right (192/200) and covers
    # 4 more (164/200, 162 of them right)
    champion = metrics()
    challenger = metrics(accuracy=192 / 200, coverage=164 / 200, covered_accuracy=162 / 164,
                         ece=0.030)
    decision = decide(champion, challenger)
    # THEN it is promoted, every check holds, and the reason gives the numbers
    assert decision.promoted is True
    assert set(decision.checks.values()) == {True}
    assert "accuracy 0.960 >= 0.950" in decision.reason
    assert "coverage 0.820 >= 0.800" in decision.reason
    assert "ECE 0.030 <= 0.050" in decision.reason


def test_an_identical_challenger_is_promoted():
    # "not lower" on every measure: a tie passes (a retraining that changes nothing may ship)
    assert decide(metrics(), metrics()).promoted is True


def test_better_accuracy_but_worse_covered_accuracy_is_rejected():
    # GIVEN a challenger right on 194/200 (0.970 > 0.950) that covers 170 images but gets only
    # 163 of those right (0.959 < 158/160 = 0.988): more confident mistakes reach routing
    challenger = metrics(accuracy=194 / 200, coverage=170 / 200, covered_accuracy=163 / 170)
    decision = decide(metrics(), challenger)
    # THEN it is rejected, on covered accuracy alone, with both numbers
    assert decision.promoted is False
    assert decision.checks == {"same_evaluation_set": True, "classes_covered": True,
                               "accuracy": True, "coverage": True, "covered_accuracy": False,
                               "calibration": True}
    assert decision.reason == "covered accuracy 0.959 < champion 0.988"


def test_a_badly_calibrated_challenger_is_rejected():
    # GIVEN a challenger better on everything but with ECE 0.12 (champion 0.02, limit 0.05)
    challenger = metrics(accuracy=0.96, coverage=0.85, covered_accuracy=0.99, ece=0.12)
    decision = decide(metrics(), challenger)
    assert decision.promoted is False and decision.checks["calibration"] is False
    assert decision.reason == "ECE 0.120 > allowed 0.050 (max of 0.050 and champion 0.020)"
    # AND a champion already worse than the limit sets the bar at its own ECE
    assert decide(metrics(ece=0.15), challenger).promoted is True
    assert decide(metrics(), challenger, max_ece=0.2).promoted is True
    assert MAX_ECE == 0.05


def test_every_failed_check_is_named_with_both_numbers():
    challenger = metrics(accuracy=182.4 / 200, coverage=0.75, covered_accuracy=0.98)
    decision = decide(metrics(), challenger)
    assert decision.promoted is False
    assert decision.reason == ("accuracy 0.912 < champion 0.950; coverage 0.750 < champion "
                               "0.800; covered accuracy 0.980 < champion 0.988")


def test_numbers_equal_at_three_decimals_are_printed_with_more():
    decision = decide(metrics(accuracy=0.9504), metrics(accuracy=0.9501))
    assert decision.reason == "accuracy 0.9501 < champion 0.9504"


def test_no_covered_image_is_worse_than_any_covered_accuracy():
    decision = decide(metrics(), metrics(coverage=0.0, covered_accuracy=None))
    assert "covered accuracy n/a (no image covered) < champion 0.988" in decision.reason
    # AND when neither covers an image, that measure does not decide
    none = metrics(coverage=0.0, covered_accuracy=None)
    assert decide(none, none).promoted is True


def test_metrics_of_different_evaluation_sets_are_not_compared():
    other = metrics(evaluation_sha256="cd" * 32, accuracy=1.0)
    decision = decide(metrics(), other)
    assert decision.promoted is False
    assert decision.checks["same_evaluation_set"] is False
    assert decision.reason == ("evaluation set cdcdcdcdcdcd != champion's abababababab: not "
                               "measured on the same images")
    # AND a digest on one side only is not the same set either
    assert decide({**metrics(), "evaluation_sha256": None}, metrics()).promoted is False
    # AND without digests, different image counts are different sets
    assert decide(metrics(evaluation_sha256=None),
                  metrics(evaluation_sha256=None, n=150)).promoted is False


def test_metrics_at_different_thresholds_are_not_compared():
    decision = decide(metrics(), metrics(threshold=0.9))
    assert decision.promoted is False
    assert "threshold 0.9 != champion 0.93" in decision.reason


def test_a_new_class_is_compared_on_an_evaluation_set_that_holds_it():
    three = [*LABELS, "scooter"]
    # GIVEN a challenger that learned a third class, scored on a set holding all three
    challenger = metrics(class_labels=three, evaluation_class_labels=three, accuracy=0.97)
    decision = decide(metrics(evaluation_class_labels=three), challenger)
    # THEN it is compared, and the reason says the class list changed
    assert decision.promoted is True
    assert decision.reason.startswith("class list changed: bicycle,motorcycle -> "
                                      "bicycle,motorcycle,scooter; compared on an evaluation "
                                      "set holding all 3 classes; ")
    # AND on a set without the new class it is not
    missing = decide(metrics(), metrics(class_labels=three, evaluation_class_labels=LABELS))
    assert missing.promoted is False and missing.checks["classes_covered"] is False
    assert "the evaluation set has no images of scooter" in missing.reason
    # AND without the set's classes it cannot tell
    assert decide(metrics(), metrics(class_labels=three)).promoted is False
    # AND a challenger that dropped a class the champion answers is rejected
    dropped = decide(metrics(class_labels=three), metrics(evaluation_class_labels=three))
    assert "the challenger no longer answers scooter" in dropped.reason


def test_the_gate_reads_a_challenge_document():
    assert decide_challenge({"champion": None, "challenger": metrics()}).promoted is True
    assert decide_challenge({"champion": metrics(), "challenger": metrics(ece=0.3)}
                            ).promoted is False
    with pytest.raises(InvalidModelMetrics, match="lacks challenger"):
        decide_challenge({"champion": metrics()})


@pytest.mark.parametrize(("changes", "message"), [
    ({"accuracy": None}, "accuracy must be a number between 0 and 1, got None"),
    ({"coverage": 1.5}, "coverage must be a number between 0 and 1, got 1.5"),
    ({"ece": float("nan")}, "ece must be a number between 0 and 1"),
    ({"covered_accuracy": "high"}, "covered_accuracy must be a number"),
    ({"n": 0}, "n must be a count of at least 1"),
    ({"n": True}, "n must be a count of at least 1"),
    ({"class_labels": ["bicycle"]}, "class_labels must list at least 2 distinct"),
    ({"class_labels": ["a", "a"]}, "class_labels must list at least 2 distinct"),
    ({"threshold": -0.1}, "threshold must be a number between 0 and 1"),
    ({"evaluation_sha256": 7}, "evaluation_sha256 must be a digest string"),
])
def test_malformed_metrics_are_a_named_error(changes, message):
    with pytest.raises(InvalidModelMetrics, match=message):
        decide(None, metrics(**changes))
    with pytest.raises(InvalidModelMetrics, match=f"champion metrics: {message}"):
        decide(metrics(**changes), metrics())


def test_missing_keys_are_named():
    incomplete = {k: v for k, v in metrics().items() if k not in ("ece", "n")}
    with pytest.raises(InvalidModelMetrics, match="challenger metrics lack ece, n"):
        decide(None, incomplete)
    with pytest.raises(InvalidModelMetrics, match="must be a mapping"):
        decide(None, [0.9])

"""scones cost: every line of the cost model against a hand computation.

The prices below are written out by hand and checked against prices.json first
(``test_the_hand_prices_are_the_table's``): a change to the table fails here until the hand
computations are redone. The usage figures are the model's documented defaults, also written
out by hand, and the path lengths are counted from the ASL's states by name.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from scones.scale import cost as costmod
from scones.scale.cost import (
    DAYS_PER_MONTH,
    break_even,
    context,
    cost_report,
    load_prices,
    shape_cost,
)
from scones.scale.usage import (
    CUSTOM_METRICS,
    Usage,
    custom_metric_series,
    load_asl,
    per_photo,
    retraining_metric_series,
    template_facts,
    workflow_model,
)

REPO = Path(__file__).resolve().parents[2]
GB = 1024 ** 3

# us-east-1 prices, by hand (prices.json must hold exactly these)
SFN_TRANSITION = 0.025 / 1000
EXPRESS_REQUEST = 1.00 / 1e6
EXPRESS_GB_S = 0.0000166667
LAMBDA_REQUEST = 0.20 / 1e6
LAMBDA_ARM_GB_S = 0.0000133334
S3_PUT = 0.005 / 1000
S3_GET = 0.0004 / 1000
S3_GB_MONTH = 0.023
DDB_WRU = 0.625 / 1e6
DDB_GB_MONTH = 0.25
DDB_PITR = 0.20
SERVERLESS_2048_S = 0.00004
DATA_GB = 0.016
LOGS_GB = 0.50
LOGS_STORED = 0.03
METRIC = 0.30
ALARM = 0.10
DASHBOARD = 3.00
XRAY = 5.00 / 1e6
M5_LARGE_HOUR = 0.115

# the volume of the worked case: 1000 photos a day
N = 1000 * 730 / 24          # photos a month (AWS's 730-hour month)
P = 0.745                    # confident share of the worked case (pinned: the default is
                             # what make demo measures, and moves with the model)
EXAMPLE = Usage(confident_share=P)
IMAGE = 2851                 # bytes (measured mean of the shared PNGs)
RESPONSE = 41
RUNS = 730 * 60 / 15         # monitor runs a month (schedule 15 min)
# transitions, counted from the ASL by state name: a confident photo enters SerializeImageData,
# ClassifyImage, FilterLowConfidence, RecordResult (4); one below the threshold enters the first
# three, StartReview and the Fail state (5), and its review (always Standard) enters
# ReviewSettings, SendToReview, RecordReview, EnoughNewLabels, Reviewed (5)
PHOTO_TRANSITIONS = P * 4 + (1 - P) * 5
REVIEW_TRANSITIONS = (1 - P) * 5
# Lambda invocations: 4 when confident; 3 + the review's SendToReview and RecordReview below it
INVOCATIONS = P * 4 + (1 - P) * (3 + 2)


@pytest.fixture(scope="module")
def ctx():
    return context("us-east-1", EXAMPLE)


@pytest.fixture(scope="module")
def report(ctx):
    return cost_report(1000, ctx=ctx)


def lines(report, component, key):
    shape = next(s for s in report.components[component] if s.key == key)
    return [ln.cost for ln in shape.lines]


def test_the_hand_prices_are_the_table_s():
    prices = load_prices("us-east-1")
    assert prices.unit_price("sfn_standard_transition") == pytest.approx(SFN_TRANSITION)
    assert prices.unit_price("sfn_express_request") == pytest.approx(EXPRESS_REQUEST)
    assert prices.unit_price("sfn_express_gb_second") == pytest.approx(EXPRESS_GB_S)
    assert prices.unit_price("lambda_request") == pytest.approx(LAMBDA_REQUEST)
    assert prices.unit_price("lambda_arm64_gb_second") == pytest.approx(LAMBDA_ARM_GB_S)
    assert prices.unit_price("s3_put_request") == pytest.approx(S3_PUT)
    assert prices.unit_price("s3_get_request") == pytest.approx(S3_GET)
    assert prices.unit_price("s3_standard_gb_month") == pytest.approx(S3_GB_MONTH)
    assert prices.unit_price("dynamodb_write_request_unit") == pytest.approx(DDB_WRU)
    assert prices.unit_price("dynamodb_storage_gb_month") == pytest.approx(DDB_GB_MONTH)
    assert prices.unit_price("dynamodb_pitr_gb_month") == pytest.approx(DDB_PITR)
    assert prices.serverless_second(2048) == pytest.approx(SERVERLESS_2048_S)
    assert prices.unit_price("sagemaker_data_processed_gb") == pytest.approx(DATA_GB)
    assert prices.unit_price("cloudwatch_logs_ingest_gb") == pytest.approx(LOGS_GB)
    assert prices.unit_price("cloudwatch_logs_storage_gb_month") == pytest.approx(LOGS_STORED)
    assert prices.unit_price("cloudwatch_custom_metric_month") == pytest.approx(METRIC)
    assert prices.unit_price("cloudwatch_alarm_month") == pytest.approx(ALARM)
    assert prices.unit_price("cloudwatch_dashboard_month") == pytest.approx(DASHBOARD)
    assert prices.unit_price("xray_trace_recorded") == pytest.approx(XRAY)
    assert prices.instance_hour("ml.m5.large") == pytest.approx(M5_LARGE_HOUR)


def test_every_price_says_where_it_came_from():
    data = json.loads(costmod.PRICES.read_text())
    assert data["read_on"] == "2026-12-02" and "search corpus" in data["statement"]
    entries = list(data["items"].values()) + list(data["instances"].values())
    assert {e["basis"] for e in entries} <= {"aws", "third-party", "knowledge"}
    assert all(e["source"].startswith(("http", "docs/", "https")) for e in entries)
    assert all(r["basis"] in {"aws", "knowledge"} for r in data["regions"].values())


# ---- the usage model comes from the ASL ----

def test_the_paths_are_walked_from_the_asl():
    model = workflow_model()
    assert model.confident.states == ("SerializeImageData", "ClassifyImage",
                                      "FilterLowConfidence", "RecordResult")
    assert model.review.states == ("SerializeImageData", "ClassifyImage", "FilterLowConfidence",
                                   "StartReview", "ConfidenceThresholdNotMet")
    assert model.review.lambda_states == model.review.states[:3]
    assert model.review.start_states == ("StartReview",) and model.confident.start_states == ()
    # the review workflow's labeled path: the Choice takes its default (no retraining)
    assert model.review_workflow.states == ("ReviewSettings", "SendToReview", "RecordReview",
                                            "EnoughNewLabels", "Reviewed")
    assert model.review_workflow.lambda_states == ("SendToReview", "RecordReview")
    assert model.functions["RecordReview"] == "RecordReviewFunction"
    assert model.retraining_functions == ("PrepareRetrainingFunction",
                                          "RegisterChallengerFunction",
                                          "PromoteChallengerFunction")
    assert model.batch_child_success.transitions == 1
    assert model.batch_child_failure.transitions == 4  # task, Pass, Choice, Pass
    per = per_photo(model, EXAMPLE, template_facts().review_log_level)
    assert per.transitions == pytest.approx(PHOTO_TRANSITIONS)
    assert per.review_transitions == pytest.approx(REVIEW_TRANSITIONS)
    assert per.standard_transitions == pytest.approx(4.255 + 1.275)
    assert per.review_executions == pytest.approx(1 - P)
    assert per.start_executions == pytest.approx(1 + (1 - P))
    assert per.invocations == pytest.approx(INVOCATIONS)
    # Level ALL events of the per-photo workflow (Task 5, Fail 1, + start and end); the review
    # workflow logs at Level ERROR: nothing on its labeled path
    assert template_facts().review_log_level == "ERROR"
    assert per.log_events == pytest.approx(P * (2 + 4 * 5) + (1 - P) * (2 + 4 * 5 + 1))
    at_all = per_photo(model, EXAMPLE, "ALL")  # Pass 2, Task 5 x 2, Choice 2, Succeed 1, + 2
    assert at_all.log_events == pytest.approx(per.log_events + (1 - P) * (2 + 2 + 10 + 2 + 1))


def test_a_state_added_to_the_asl_is_counted(tmp_path):
    # GIVEN the shipped ASL with one more Pass state before RecordResult
    asl = json.loads((REPO / "statemachine/image_classification.asl.json").read_text()
                     .replace("${BatchMaxConcurrency}", "20"))
    asl["States"]["FilterLowConfidence"]["Next"] = "Annotate"
    asl["States"]["Annotate"] = {"Type": "Pass", "Next": "RecordResult"}
    path = tmp_path / "image.asl.json"
    path.write_text(json.dumps(asl))
    # THEN a confident photo costs one transition more, a reviewed one the same
    model = workflow_model(image_asl=path)
    assert model.confident.transitions == 5 and model.review.transitions == 5


def test_load_asl_fills_value_placeholders_and_keeps_names():
    batch = load_asl(REPO / "statemachine/batch_classification.asl.json",
                     {"BatchMaxConcurrency": 7})
    assert batch["States"]["ClassifyEveryImage"]["MaxConcurrency"] == 7
    image = load_asl(REPO / "statemachine/image_classification.asl.json")
    assert (image["States"]["ClassifyImage"]["Parameters"]["FunctionName"]
            == "ClassifyImageFunctionArn")


def test_every_metric_the_functions_publish_is_counted():
    # GIVEN every metric name the handlers spell out: add_metric / single_metric names, the
    # two names of a conditional, the batch summary's f-string, the monitor's value keys
    names, text = set(), ""
    for app in sorted((REPO / "functions").glob("*/app.py")):
        text += app.read_text()
    names |= set(re.findall(r'(?<!add_dimension\()name="([A-Z][A-Za-z]+)"', text))
    for pair in re.findall(r'"([A-Z][A-Za-z]+)" if [^\n]+?\s+else "([A-Z][A-Za-z]+)"', text):
        names |= set(pair)
    batch = re.search(r'for name in \(([^)]*)\):\s*metrics\.add_metric', text).group(1)
    names |= {"Batch" + n.title().replace("_", "") for n in re.findall(r'"(\w+)"', batch)}
    names |= set(re.findall(r'values\["([A-Z][A-Za-z]+)"\]', text))
    names |= set(re.findall(r'"([A-Z][A-Za-z]+)": MetricUnit', text))
    counted = {name for name, _ in CUSTOM_METRICS} - {"ColdStart"}  # Powertools' own
    # THEN the usage model counts exactly those
    assert names == counted
    assert {"ImagesReviewed", "ReviewsExpired", "ChallengersPromotable",
            "ChallengersRejected"} <= names
    facts = template_facts()
    assert facts.functions == 12 and facts.labels == 2
    # priced all month: ColdStart for the 12 - 3 functions outside the retraining; 1 series
    # each for ImagesProcessed, ImageBytes, EndpointLatency, Confidence, ResultsRecorded,
    # ResultsAlreadyRecorded, ReviewsExpired, AlertsPublished, the 4 batch and the 9 monitor
    # metrics (21); 2 (one per label) for High/LowConfidenceInferences, ImagesSentToReview,
    # ImagesReviewed, Predictions (10)
    assert custom_metric_series(facts, 3) == 9 + 21 + 10
    # per retraining: ChallengersPromotable, ChallengersRejected, ColdStart of the 3 functions
    assert retraining_metric_series(facts, 3) == 2 + 3


def test_the_deploy_defaults_are_model_deploys():
    text = (REPO / "model/deploy.py").read_text()
    u = Usage()
    assert f'instance_type: str = "{costmod.DEPLOYED_INSTANCE}"' in text
    assert f"initial_instance_count: int = {u.min_instances}" in text
    assert f"max_instances: int = {u.max_instances}" in text
    assert f"target_invocations: float = {u.target_invocations_per_min}" in text


# ---- 1000 photos a day, line by line ----

def test_orchestration_lines(report):
    assert lines(report, "orchestration", "standard") == pytest.approx(
        [N * PHOTO_TRANSITIONS * SFN_TRANSITION, N * REVIEW_TRANSITIONS * SFN_TRANSITION])
    assert lines(report, "orchestration", "express") == pytest.approx(
        [N * EXPRESS_REQUEST,
         N * 0.2 * (64 / 1024) * EXPRESS_GB_S,   # 176 ms billed as 200 ms, one 64 MB chunk
         N * REVIEW_TRANSITIONS * SFN_TRANSITION])  # the review stays Standard


def test_inference_lines(report):
    data = N * (IMAGE + RESPONSE) / GB * DATA_GB
    # 1000/day peaks at 0.023 photos/s: the 2-instance floor
    assert lines(report, "inference", "realtime:ml.m5.large") == pytest.approx(
        [2 * 730 * M5_LARGE_HOUR, data])
    assert lines(report, "inference", "serverless") == pytest.approx(
        [N * 0.032 * SERVERLESS_2048_S, data, N * S3_PUT])
    assert lines(report, "inference", "async") == pytest.approx(
        [1 * 24 * 730 / 24 * M5_LARGE_HOUR, data, N * S3_PUT, N * S3_GET])


def test_lambda_lines(report):
    # billed ms at 512 MB: serialize 30+5, classify 31+4, filter 0+3, record 12+3; below the
    # threshold the review's SendToReview 67+5 and RecordReview 106+5
    ms = 35 + 35 + 3 + P * 15 + (1 - P) * (72 + 111)
    records = 1000 / 1440 * 60                        # photos in the monitor's 60-min window
    monitor_s = (1000 + records * 0.205) / 1000
    requests = N * INVOCATIONS + RUNS
    gb_s = (N * ms / 1000 + RUNS * monitor_s) * 0.5
    assert lines(report, "lambda", "lambda:arm64:512") == pytest.approx(
        [requests * LAMBDA_REQUEST, gb_s * LAMBDA_ARM_GB_S])


def test_lambda_memory_rows(report):
    shapes = {s.key: s for s in report.components["lambda"]}
    assert shapes["lambda:arm64:512"].deployed
    # at 1024 MB the CPU part halves: serialize 30+2.5 -> 33 ms (rounded up), ...
    ms_1024 = 33 + 33 + 2 + P * 14 + (1 - P) * (70 + 109)  # 69.5 -> 70, 108.5 -> 109
    monitor_s = (1000 + 1000 / 1440 * 60 * 0.205) * 0.5 / 1000
    gb_s = (N * ms_1024 / 1000 + RUNS * monitor_s) * 1.0
    assert shapes["lambda:arm64:1024"].detail["billed_ms_per_photo"] == pytest.approx(ms_1024)
    assert shapes["lambda:arm64:1024"].lines[1].cost == pytest.approx(gb_s * LAMBDA_ARM_GB_S)
    assert not shapes["lambda:arm64:128"].recommended
    assert report.cheapest["lambda"] == "lambda:arm64:256"


def test_s3_capture_and_dynamodb_lines(report):
    below = 1 - P
    assert lines(report, "s3", "s3") == pytest.approx([
        N * S3_PUT, N * S3_GET,
        N * below * 2 * S3_PUT,                       # SendToReview: review copy + sidecar
        N * below * 2 * S3_PUT,                       # RecordReview: labels/ copy + sidecar
        N * below * S3_GET,                           # RecordReview reads the sidecar
        N * 12 * IMAGE / GB * S3_GB_MONTH,
        N * 12 * below * (IMAGE + 600) / GB * S3_GB_MONTH,
        N * 12 * below * IMAGE / GB * S3_GB_MONTH])
    record = 4 * math.ceil(IMAGE / 3) + 386          # base64 image + measured JSON around it
    assert lines(report, "capture", "capture") == pytest.approx([
        2 * 730 * 60 * S3_PUT,                        # a file a minute from each of 2 instances
        N * record * 12 / GB * S3_GB_MONTH,
        RUNS * 2 * 60 * S3_GET,                       # the window's files, each run
        RUNS * 1 * S3_PUT])
    # results: 1 WRU a photo (a confident result, or the reviewer's human result); reviews, per
    # reviewed photo, with the ByStatus index (projection ALL): the 1,500-byte pending put 2 + its
    # index copy 2; the close 2 + the index's old entry deleted 2 + the 700-byte new one put 1;
    # the counter 1 (no status: not in the index)
    review_wru = (2 + 2) + (2 + 2 + 1) + 1
    items_gb = (N * 12 * (500 + 100) + N * below * 12 * 2 * (700 + 100)) / GB
    assert lines(report, "dynamodb", "dynamodb") == pytest.approx([
        N * DDB_WRU, N * below * review_wru * DDB_WRU,
        items_gb * DDB_GB_MONTH, items_gb * DDB_PITR])


def test_cloudwatch_and_eventbridge_lines(report):
    # the measured 3,640 bytes a photo, RecordReview's 950 per review, 370 per invocation
    lambda_gb = (N * (3640 + (1 - P) * 950 + INVOCATIONS * 370) + RUNS * 2000) / GB
    sfn_gb = N * (P * 22 + (1 - P) * 23) * 350 / GB
    stored = (lambda_gb + sfn_gb) * 0.2 * 30 / (730 / 24)
    assert lines(report, "cloudwatch", "cloudwatch") == pytest.approx([
        lambda_gb * LOGS_GB, sfn_gb * LOGS_GB, stored * LOGS_STORED,
        40 * METRIC,                                  # 40 metric series
        (5 + 2 + 2) * ALARM,                          # template + deploy + target tracking
        1 * DASHBOARD,
        N * XRAY])                                    # under 1 photo/s: every one traced
    assert lines(report, "eventbridge", "eventbridge") == [0.0, 0.0, 0.0]


def test_the_free_tier_subtracts_the_allowances(ctx):
    free = cost_report(1000, ctx=replace(ctx, free_tier=True), with_break_evens=False)
    # one allowance of 4,000 transitions for both workflows, shared by the two lines
    billed = (N * (PHOTO_TRANSITIONS + REVIEW_TRANSITIONS) - 4000) * SFN_TRANSITION
    share = PHOTO_TRANSITIONS / (PHOTO_TRANSITIONS + REVIEW_TRANSITIONS)
    assert lines(free, "orchestration", "standard") == pytest.approx(
        [billed * share, billed * (1 - share)])
    assert lines(free, "lambda", "lambda:arm64:512") == [0.0, 0.0]  # < 1 M req, < 400k GB-s
    cw = lines(free, "cloudwatch", "cloudwatch")
    assert cw[:2] == [0.0, 0.0]                       # < 5 GB of logs
    assert cw[3:] == pytest.approx([(40 - 10) * METRIC, 0.0, 0.0, 0.0])


def test_tiers_are_charged_in_order():
    prices = load_prices("us-east-1")
    assert prices.charge("lambda_arm64_gb_second", 8e9) == pytest.approx(
        7.5e9 * 0.0000133334 + 0.5e9 * 0.0000120001)
    assert prices.charge("sfn_express_gb_second", 4e6) == pytest.approx(
        3.6e6 * 0.0000166667 + 0.4e6 * 0.0000083333)


def test_a_region_scales_by_its_multiplier_except_its_overrides():
    us, eu = cost_report(1e5, with_break_evens=False), cost_report(
        1e5, region="eu-west-1", with_break_evens=False)
    assert lines(eu, "orchestration", "standard") == pytest.approx(
        lines(us, "orchestration", "standard"))       # the AWS table: same $0.025 in Ireland
    assert lines(eu, "inference", "realtime:ml.m5.large") == pytest.approx(
        [x * 1.1 for x in lines(us, "inference", "realtime:ml.m5.large")])
    sa = cost_report(1e5, region="sa-east-1", with_break_evens=False)
    assert lines(sa, "orchestration", "standard") == pytest.approx(
        [x * 0.0375 / 0.025 for x in lines(us, "orchestration", "standard")])
    with pytest.raises(ValueError, match="no prices for region"):
        load_prices("mars-north-1")


# ---- cheapest and break-even ----

def test_cheapest_at_a_thousand_and_at_ten_million_a_day(report, ctx):
    assert report.cheapest["orchestration"] == "express"
    assert report.cheapest["inference"] == "serverless"
    assert report.cheapest_deployment.name == ("Step Functions Express + serverless 2048 MB")
    assert report.as_deployed.name == "Step Functions Standard + real-time ml.m5.large x2"
    big = cost_report(1e7, ctx=ctx, with_break_evens=False)
    # peak 1e7/86400 x 2 = 231.5/s; a 2-vCPU instance serves 51/s, at 70%: 35.7 -> 7 instances
    rt = next(s for s in big.components["inference"] if s.key == "realtime:ml.c7g.large")
    assert rt.detail["instances"] == 7
    n = 1e7 * DAYS_PER_MONTH
    serverless = n * (0.032 * SERVERLESS_2048_S + S3_PUT)
    assert rt.lines[0].cost == pytest.approx(7 * 730 * 0.10) and rt.lines[0].cost < serverless
    assert big.cheapest["inference"] == "realtime:ml.c7g.large"


def test_serverless_meets_the_real_time_pair_where_the_hand_says(ctx):
    # the pair is a fixed 2 x 730 h x $0.115; serverless pays per photo 32 ms x $0.00004 plus
    # the capture PUT; both pay the same data processing
    per_photo_extra = 0.032 * SERVERLESS_2048_S + S3_PUT
    by_hand = 2 * 730 * M5_LARGE_HOUR / per_photo_extra / DAYS_PER_MONTH
    found = break_even(ctx, "inference", "serverless", "realtime:ml.m5.large")
    assert found.photos_per_day == pytest.approx(by_hand, abs=1.0)
    assert abs(found.cost_a - found.cost_b) < 0.01 and not found.at_step
    assert found.cheaper_below == "serverless"
    # still two instances there: the crossing is on the flat part of the fleet's cost
    pair = shape_cost(ctx, "inference", "realtime:ml.m5.large", found.photos_per_day)
    assert pair.detail["instances"] == 2


def test_express_meets_standard_only_with_the_free_tier(ctx):
    plain = break_even(ctx, "orchestration", "express", "standard")
    assert plain.photos_per_day is None and plain.cheaper_below == "express"
    free = break_even(replace(ctx, free_tier=True), "orchestration", "express", "standard")
    # Standard: (5.53 n - 4000) x 0.000025; Express: n x (1e-6 + 0.2 x 0.0625 x 0.0000166667)
    # plus the review's 1.275 n transitions, inside the 4,000 free ones at that volume
    express = EXPRESS_REQUEST + 0.2 * 0.0625 * EXPRESS_GB_S
    n = 4000 * SFN_TRANSITION / ((PHOTO_TRANSITIONS + REVIEW_TRANSITIONS) * SFN_TRANSITION
                                 - express)
    assert REVIEW_TRANSITIONS * n < 4000
    assert free.photos_per_day == pytest.approx(n / DAYS_PER_MONTH, rel=1e-6)
    assert abs(free.cost_a - free.cost_b) < 0.01 and free.cheaper_below == "standard"


def test_async_meets_the_pair_where_the_hand_says(ctx):
    found = break_even(ctx, "inference", "async", "realtime:ml.m5.large")
    # one async instance all month + a result PUT and GET per photo = the pair
    n = (2 - 1) * 730 * M5_LARGE_HOUR / (S3_PUT + S3_GET)
    assert found.photos_per_day == pytest.approx(n / DAYS_PER_MONTH, abs=1.0)
    assert abs(found.cost_a - found.cost_b) < 0.01


def _fake_component(a_cost, b_cost):
    def build(ctx, v):
        return [costmod.ShapeCost("fake", "a", "a", (costmod.Line("a", 1, "x", a_cost(v)),)),
                costmod.ShapeCost("fake", "b", "b", (costmod.Line("b", 1, "x", b_cost(v)),))]
    return build


def test_break_even_finds_a_smooth_crossing_and_flags_a_step(ctx, monkeypatch):
    # a smooth crossing: 10 + 0.01 v = 0.02 v at v = 1000
    monkeypatch.setitem(costmod.BUILDERS, "fake",
                        _fake_component(lambda v: 10 + 0.01 * v, lambda v: 0.02 * v))
    smooth = break_even(ctx, "fake", "a", "b")
    assert smooth.photos_per_day == pytest.approx(1000, abs=1e-3) and not smooth.at_step
    assert smooth.cheaper_below == "b"
    # a fleet that adds $100 every 1000 photos against about $150: a is cheaper up to 1000,
    # then jumps to 200 over b's 151: the crossing is the step itself
    monkeypatch.setitem(costmod.BUILDERS, "fake",
                        _fake_component(lambda v: 100 * math.ceil(v / 1000),
                                        lambda v: 150 + 0.001 * v))
    step = break_even(ctx, "fake", "a", "b")
    assert step.photos_per_day == pytest.approx(1000, rel=1e-6) and step.at_step
    assert step.cheaper_below == "a"
    # never equal: no break-even, and the one always cheaper is named
    monkeypatch.setitem(costmod.BUILDERS, "fake",
                        _fake_component(lambda v: 0.01 * v, lambda v: 0.02 * v))
    never = break_even(ctx, "fake", "a", "b")
    assert never.photos_per_day is None and never.cheaper_below == "a"


def test_the_deployed_autoscaling_target_sizes_the_fleet(ctx):
    # 200 invocations per instance per minute: 1e5/day peaks at 2.31/s = 139/min -> 1 -> floor 2;
    # 1e6/day peaks at 23.1/s = 1389/min -> 7 instances
    deployed = replace(ctx, target_invocations_per_min=200.0)
    assert shape_cost(deployed, "inference", "realtime:ml.m5.large", 1e5).detail[
        "instances"] == 2
    assert shape_cost(deployed, "inference", "realtime:ml.m5.large", 1e6).detail[
        "instances"] == 7


# ---- the command ----

def _parser():
    from scones.scale.cli import register
    parser = argparse.ArgumentParser(prog="scones")
    register(parser.add_subparsers(dest="command", required=True))
    return parser


def test_the_cost_command_prints_a_table_and_writes_json(tmp_path, capsys):
    out = tmp_path / "cost.json"
    args = _parser().parse_args(["cost", "--photos-per-day", "1,000", "--confident-share",
                                 str(P), "--json", str(out)])
    assert args.func(args) == 0
    text = capsys.readouterr().out
    assert "CHEAPEST" in text and "break-even volumes" in text and "search corpus" in text
    assert "Step Functions Standard + real-time ml.m5.large x2" in text
    data = json.loads(out.read_text())
    assert data["photos_per_day"] == 1000
    assert data["cheapest_overall"]["name"] == "Step Functions Express + serverless 2048 MB"
    standard = data["components"]["orchestration"][0]
    assert standard["lines"][0]["monthly"] == pytest.approx(
        N * PHOTO_TRANSITIONS * SFN_TRANSITION, abs=1e-6)
    assert standard["lines"][0]["basis"] == "aws"


def test_the_cost_command_json_to_stdout_is_only_json(capsys):
    args = _parser().parse_args(["cost", "--photos-per-day", "1e5", "--json", "-"])
    assert args.func(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["photos_per_day"] == 1e5
    # AND the default share is the measured one, with where it was measured
    assert data["usage"]["confident_share"]["basis"] == "measured"
    assert "make demo" in data["usage"]["confident_share"]["where"]


def test_a_share_given_on_the_command_line_says_so(capsys):
    args = _parser().parse_args(["cost", "--photos-per-day", "1e5", "--confident-share", "0.5",
                                 "--json", "-"])
    assert args.func(args) == 0
    assert json.loads(capsys.readouterr().out)["usage"]["confident_share"] == {
        "value": 0.5, "basis": "given", "where": "the caller (a command-line option)"}
    with pytest.raises(SystemExit):
        _parser().parse_args(["cost", "--photos-per-day", "1", "--confident-share", "1.2"])


def test_the_cost_command_refuses_an_unknown_region(capsys):
    args = _parser().parse_args(["cost", "--photos-per-day", "10", "--region", "mars-north-1"])
    assert args.func(args) == 2
    assert "no prices for mars-north-1" in capsys.readouterr().err


def test_both_commands_are_registered_in_scones_cli():
    text = (REPO / "scones/cli.py").read_text()
    assert '"cost": "scones.scale.cli"' in text and '"capacity": "scones.scale.cli"' in text


def test_the_models_import_nothing_heavy():
    code = ("import sys, scones.scale.cli, scones.scale.cost, scones.scale.capacity; "
            "print(sorted({'torch', 'moto', 'boto3', 'numpy', 'matplotlib', 'yaml'} "
            "& set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"

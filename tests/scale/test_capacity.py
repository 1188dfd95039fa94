"""scones capacity: the token-bucket simulation by hand, the seeded arrivals, and the first limit
flipping as the volume crosses it."""

from __future__ import annotations

import argparse
import json
import statistics

import pytest

from scones.scale.capacity import (
    Fleet,
    Limit,
    _jitter_spread,
    apply_overrides,
    capacity_report,
    load_quotas,
    poisson_arrivals,
    simulate,
)
from scones.scale.cost import context
from scones.scale.usage import RetryPolicy, Usage, workflow_model

P = 0.745  # confident share of the worked cases (pinned: the default is what make demo
# measures, and moves with the model)
EXAMPLE = Usage(confident_share=P)
# StartExecution calls a photo makes: its own execution, and for one below the threshold the
# review's (StartReview): 1.255
STARTS_PER_PHOTO = 1 + (1 - P)
START_EXECUTION_PER_HOUR = 300 * 3600 / STARTS_PER_PHOTO    # us-east-1 refill, quotas.json
# Standard transitions a photo makes: 4 confident, 5 below the threshold + its review's 5
TRANSITIONS_PER_PHOTO = P * 4 + (1 - P) * 5 + (1 - P) * 5
ENDPOINT_PER_HOUR = 4 * 2 * 25.5 * 3600  # 4 x ml.m5.large x 2 vCPU x measured 25.5 img/s


@pytest.fixture(scope="module")
def ctx():
    return context("us-east-1", EXAMPLE)


def limit(**kw) -> Limit:
    base = dict(key="k", name="k", kind="quota", refill_per_s=10.0, bucket=10.0, per_photo=1.0,
                unit="calls", on_throttle="retry", retry=None)
    return Limit(**{**base, **kw})


# ---- the simulation, by hand ----

def test_a_queue_carries_the_excess_to_the_next_second():
    # 15 calls against 10 a second: 10 now, 5 wait one second
    sim = simulate(limit(on_throttle="delay"), [15, 0, 0])
    assert (sim.offered, sim.queued, sim.refused, sim.failed) == (15, 5, 0, 0)
    assert sim.max_wait_s == 0.5 and sim.drained_s == 1 and sim.first_refused_s == 0


def test_a_queue_refuses_what_would_wait_past_its_timeout():
    # 40 calls, 10 served, 30 left; the queue holds 1 s of work (10): 20 are refused, no retry
    sim = simulate(limit(on_throttle="delay", queue_timeout_s=1.0), [40])
    assert (sim.queued, sim.refused, sim.failed) == (10, 20, 20)


def test_refused_calls_are_retried_then_fail_after_the_last_attempt():
    # one retry, 1 s later, no jitter. t0: 15 offered, 10 served, 5 -> t1 (attempt 1).
    # t1: 15 new + 5 retries = 20, 10 served, half refused: 7.5 new -> t2, 2.5 retries fail.
    # t2: 7.5, served.
    policy = RetryPolicy(interval_s=1, max_attempts=1, backoff_rate=2, full_jitter=False)
    sim = simulate(limit(retry=policy), [15, 15, 0])
    assert sim.refused == pytest.approx(5 + 10)
    assert sim.failed == pytest.approx(2.5)
    assert sim.drained_s == 2 and sim.peak_demand_per_s == 20


def test_full_jitter_spreads_a_retry_over_the_seconds_it_can_land_in():
    # 10 refused with a 2.5 s bound land 40% / 40% / 20% in the 3 seconds after
    policy = RetryPolicy(interval_s=2.5, max_attempts=3, backoff_rate=2, full_jitter=True)
    sim = simulate(limit(refill_per_s=0.0, bucket=10.0, retry=policy), [20])
    # bucket 10 with no refill: the 10 left are refused at t0, then every retry is refused
    # (bounds 2.5, 5, 10 s) until the 3rd retry fails
    assert sim.refused == pytest.approx(10 * 4) and sim.failed == pytest.approx(10)
    assert sim.max_wait_s == 10.0


def test_the_jitter_spread_by_hand():
    assert _jitter_spread(2.5) == [(0, 0.4), (1, 0.4), (2, 0.2)]
    assert _jitter_spread(2.0) == [(0, 0.5), (1, 0.5)]
    assert _jitter_spread(0.0) == [(0, 1.0)]


def test_a_bucket_absorbs_a_burst_then_refills():
    # bucket 30, refill 10: 30 pass at t0, then 10 a second
    sim = simulate(limit(bucket=30.0, on_throttle="delay"), [30, 10, 10])
    assert sim.queued == 0 and sim.refused == 0


def test_the_asl_retry_policies_are_what_the_simulation_replays():
    model = workflow_model()
    assert model.lambda_retry == RetryPolicy(1, 3, 2, 8, True, model.lambda_retry.source)
    assert model.endpoint_retry == RetryPolicy(1, 4, 2, 10, True, model.endpoint_retry.source)
    assert model.start_execution_retry == RetryPolicy(2, 5, 2, 60, True,
                                                      model.start_execution_retry.source)
    assert [model.endpoint_retry.delay_bound(k) for k in range(5)] == [1, 2, 4, 8, 10]


# ---- arrivals ----

def test_arrivals_are_poisson_and_seeded():
    a, b, c = (poisson_arrivals(111.1, 3600, s) for s in (0, 0, 1))
    assert a == b and a != c
    assert statistics.mean(a) == pytest.approx(111.1, rel=0.01)
    assert statistics.variance(a) == pytest.approx(111.1, rel=0.1)   # Poisson: var = mean
    small = poisson_arrivals(0.5, 3600, 0)                           # Knuth's product
    assert statistics.mean(small) == pytest.approx(0.5, rel=0.08)
    assert statistics.variance(small) == pytest.approx(0.5, rel=0.15)


def test_the_same_seed_gives_the_same_report(ctx):
    one = capacity_report(500_000, ctx=ctx, seed=7).to_dict()
    two = capacity_report(500_000, ctx=ctx, seed=7).to_dict()
    assert one == two


# ---- the first limit ----

def test_just_below_the_endpoint_nothing_is_reached_just_above_the_endpoint_is(ctx):
    below = capacity_report(0.97 * ENDPOINT_PER_HOUR, ctx=ctx)
    above = capacity_report(1.03 * ENDPOINT_PER_HOUR, ctx=ctx)
    assert below.first_limit.limit.key == above.first_limit.limit.key == "endpoint_fleet"
    assert below.first_reached is None
    assert above.first_reached.limit.key == "endpoint_fleet"
    assert above.first_reached.status == "FAILS"   # queue past 20 s, then 4 retries run out


def test_just_below_start_execution_nothing_is_reached_just_above_it_is(ctx):
    fleet = Fleet(max_instances=100)                # the endpoint out of the way
    below = capacity_report(0.97 * START_EXECUTION_PER_HOUR, ctx=ctx, fleet=fleet)
    above = capacity_report(1.03 * START_EXECUTION_PER_HOUR, ctx=ctx, fleet=fleet)
    assert below.first_limit.limit.key == "sfn_start_execution"
    assert below.first_reached is None
    assert above.first_reached.limit.key == "sfn_start_execution"
    start = above.first_reached.sim
    assert start.refused > 0 and start.max_wait_s == 128  # EventBridge: 8 tries, 2^7 s bound
    # and the increase to ask for: the peak hour's rate x 1.25
    increase = next(i for i in above.increases if i.key == "sfn_start_execution")
    assert increase.current == 300 and increase.request == pytest.approx(
        1.03 * 300 * 1.25, abs=1)
    assert start.offered == pytest.approx(sum(poisson_arrivals(
        1.03 * START_EXECUTION_PER_HOUR / 3600)) * STARTS_PER_PHOTO)


def test_more_instances_move_the_first_limit_from_the_endpoint_to_start_execution(ctx):
    # StartExecution's 300/s are 300 / 1.255 = 239 photos/s; 4 x 51 = 204/s is below it,
    # 5 x 51 = 255/s above it
    four = capacity_report(800_000, ctx=ctx, fleet=Fleet(max_instances=4))
    five = capacity_report(800_000, ctx=ctx, fleet=Fleet(max_instances=5))
    assert four.first_limit.limit.key == "endpoint_fleet"
    assert five.first_limit.limit.key == "sfn_start_execution"
    assert five.first_quota is five.first_limit
    assert five.first_limit.sustainable_photos_per_hour == pytest.approx(
        START_EXECUTION_PER_HOUR)


def test_a_quota_override_moves_the_first_quota(ctx):
    # transitions at 5.53 a photo: at 1,000/s they allow 650,995 photos/h, below
    # StartExecution's 860,558; at the archived guide's 1,500/s, 976,492: above it
    default = capacity_report(100_000, ctx=ctx)
    low = capacity_report(100_000, ctx=ctx, quota_overrides={
        "sfn_state_transitions.refill_per_s": 1000})
    archived = capacity_report(100_000, ctx=ctx, quota_overrides={
        "sfn_state_transitions.refill_per_s": 1500})
    assert default.first_quota.limit.key == "sfn_start_execution"
    assert low.first_quota.limit.key == "sfn_state_transitions"
    assert low.first_quota.sustainable_photos_per_hour == pytest.approx(
        1000 / TRANSITIONS_PER_PHOTO * 3600)
    assert 1000 / TRANSITIONS_PER_PHOTO * 3600 < START_EXECUTION_PER_HOUR < (
        1500 / TRANSITIONS_PER_PHOTO * 3600)
    assert archived.first_quota.limit.key == "sfn_start_execution"
    with pytest.raises(KeyError):
        apply_overrides(load_quotas(), {"no_such_quota.refill_per_s": 1})


def test_the_endpoint_sizing(ctx):
    # 400,000 photos/h = 111.1/s; at 70% of 51/s: 3.11 -> 4 instances; the deployed target of
    # 200 invocations per instance per minute: 6,667/min -> 34 instances
    report = capacity_report(400_000, ctx=ctx)
    e = report.endpoint
    assert (e.for_capacity, e.at_deploy_target, e.recommended_target_per_min) == (4, 34, 2142)
    assert any("--target-invocations 2142" in n for n in report.notes)


def test_the_batch_path_is_bounded_by_the_maps_max_concurrency(ctx):
    # 20 children at once, each 176 ms: 113.6 photos/s = 409,091 photos/h
    report = capacity_report(400_000, ctx=ctx, path="batch")
    assert report.first_limit.limit.key == "map_max_concurrency"
    assert report.first_limit.sustainable_photos_per_hour == pytest.approx(20 / 0.176 * 3600)
    wider = capacity_report(400_000, ctx=ctx, path="batch", fleet=Fleet(max_concurrency=200))
    assert wider.first_limit.limit.key == "endpoint_fleet"


def test_other_regions_have_the_smaller_buckets(ctx):
    report = capacity_report(100_000, region="eu-central-1")
    start = next(r for r in report.results if r.limit.key == "sfn_start_execution")
    events = next(r for r in report.results if r.limit.key == "eventbridge_invocations")
    assert (start.limit.bucket, start.limit.refill_per_s) == (800, 150)
    assert events.limit.refill_per_s == 4500


def test_each_table_meets_its_own_write_quota(ctx):
    # ResultsTable: 1 WRU a photo (a confident result or a reviewer's); ReviewsTable: 10 WRU a
    # review (put 2 + index 2, close 2 + index 2 + 1, counter 1) for 25.5% of the photos
    report = capacity_report(100_000, ctx=ctx)
    by_key = {r.limit.key: r.limit for r in report.results}
    assert by_key["dynamodb_on_demand_writes"].per_photo == 1
    assert by_key["dynamodb_on_demand_writes_reviews"].per_photo == pytest.approx((1 - P) * 10)
    assert by_key["dynamodb_on_demand_writes_reviews"].name.endswith("ReviewsTable")
    assert by_key["sfn_state_transitions"].per_photo == pytest.approx(TRANSITIONS_PER_PHOTO)


# ---- the command ----

def _parser():
    from scones.scale.cli import register
    parser = argparse.ArgumentParser(prog="scones")
    register(parser.add_subparsers(dest="command", required=True))
    return parser


def test_the_capacity_command_prints_the_first_limit_and_writes_json(tmp_path, capsys):
    out = tmp_path / "capacity.json"
    args = _parser().parse_args(["capacity", "--photos-per-hour", "1,100,000",
                                 "--max-instances", "100", "--confident-share", str(P),
                                 "--json", str(out)])
    assert args.func(args) == 0
    text = capsys.readouterr().out
    assert "first limit: Step Functions StartExecution (Standard)" in text
    assert "quota increases to request" in text and "-> 480 StartExecution/s" in text
    data = json.loads(out.read_text())
    assert data["first_reached"] == "sfn_start_execution" and data["seed"] == 0
    assert data["confident_share"] == P and "74.5% confident" in text
    assert data["increases"][0]["request"] == 480  # 1.1e6 / 3600 x 1.255 x 1.25 = 479.3


def test_the_capacity_command_rejects_a_bad_quota_override(capsys):
    with pytest.raises(SystemExit):
        _parser().parse_args(["capacity", "--photos-per-hour", "10", "--quota", "nodot=1"])
    args = _parser().parse_args(["capacity", "--photos-per-hour", "10",
                                 "--quota", "nope.refill_per_s=1"])
    assert args.func(args) == 2
    assert "no quota 'nope'" in capsys.readouterr().err

"""The capacity model: which limit a given number of photos per hour reaches first.

Every limit is a token bucket (bucket size, refill per second) that a photo draws from
``per_photo`` times: the AWS quotas (``quotas.json``: StartExecution, state transitions, Lambda
concurrency, Distributed Map children, EventBridge invocations, DynamoDB on-demand writes, S3
GETs per prefix) and the endpoint fleet you deploy (instances x measured images per second).
A concurrency limit becomes a rate: 1,000 Lambda executions at once are 1,000 execution-seconds
each second, which photos draw at their summed Lambda seconds.

The simulation draws Poisson arrivals for each second of the hour (rate = photos per hour x
peak factor / 3600, seeded: the same seed gives the same hour) and runs each limit against the
whole offered load on its own. Calls a limit refuses are either retried with the back-off of
whoever retries them (the ASL's ``Retry`` for Lambda, the endpoint and the batch's
StartExecution; the upload rule's retry policy; the SDK's for S3 and DynamoDB), full jitter
spread over the seconds it can land in, and fail after the last attempt; or, where AWS queues
instead of refusing (state transitions, EventBridge invocations, the Map's children), wait for
the next second. Fractions of calls are kept as fractions: the arrivals are the only random
draw.
"""

from __future__ import annotations

import json
import math
import random
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path

from scones.scale.cost import (
    DEPLOYED_INSTANCE,
    Context,
    context,
    instance_capacity,
    review_write_units,
)
from scones.scale.usage import RetryPolicy, per_photo

QUOTAS = Path(__file__).with_name("quotas.json")
HOUR_S = 3600
MARGIN = 1.25  # ask for 25% more than the peak hour needs


@dataclass(frozen=True)
class Limit:
    key: str
    name: str
    kind: str                     # "quota" (AWS's) or "configuration" (yours)
    refill_per_s: float
    bucket: float
    per_photo: float
    unit: str
    on_throttle: str              # "retry" (refused, retried by `retry`) or "delay" (queued)
    retry: RetryPolicy | None
    queue_timeout_s: float | None = None  # "delay": a call queued longer is refused instead
    basis: str = ""
    source: str = ""
    service_quota: str = ""
    adjustable: bool = True

    def sustainable_photos_per_s(self) -> float:
        return self.refill_per_s / self.per_photo if self.per_photo else math.inf


@dataclass(frozen=True)
class SimResult:
    offered: float                # calls offered in the hour (first attempts)
    queued: float                 # calls carried to a later second ("delay" limits)
    refused: float                # refusals, a call counted each time it is refused
    failed: float                 # calls that ran out of attempts
    peak_demand_per_s: float      # the busiest second, queued calls and retries included
    first_refused_s: int | None   # first second with a refusal or a queue
    max_wait_s: float             # the longest queue ("delay") or retry back-off bound
    drained_s: int                # the last second that served a call


def poisson(rng: random.Random, lam: float) -> int:
    """One Poisson draw: Knuth's product for small means, the normal approximation above."""
    if lam <= 0:
        return 0
    if lam < 50:
        limit, k, product = math.exp(-lam), 0, rng.random()
        while product > limit:
            k += 1
            product *= rng.random()
        return k
    return max(0, round(rng.gauss(lam, math.sqrt(lam))))


def poisson_arrivals(rate_per_s: float, seconds: int = HOUR_S, seed: int = 0) -> list[int]:
    rng = random.Random(seed)
    return [poisson(rng, rate_per_s) for _ in range(seconds)]


def _jitter_spread(bound: float) -> list[tuple[int, float]]:
    """(offset in whole seconds after the next one, share) for a wait uniform in [0, bound]."""
    if bound <= 0:
        return [(0, 1.0)]
    whole = int(math.floor(bound))
    spread = [(j, min(1.0, bound - j) / bound) for j in range(whole + 1)]
    return [(j, w) for j, w in spread if w > 0]


def simulate(limit: Limit, arrivals: list[int], tail_s: int = 2 * HOUR_S) -> SimResult:
    """Run ``limit`` over per-second photo ``arrivals`` (then up to ``tail_s`` to drain).

    Each second the bucket refills (up to its size) and serves what it can of the new calls,
    the retries due and the queue. The rest, spread evenly over attempts: a "delay" limit
    carries it to the next second (a queue, up to ``queue_timeout_s`` of work; beyond that it is
    refused); a "retry" limit refuses it. A refused call on attempt k waits up to
    ``retry.delay_bound(k)`` (uniformly, with full jitter) and comes back as attempt k + 1, or
    fails when k has reached ``retry.max_attempts``."""
    pending: dict[int, dict[int, float]] = defaultdict(lambda: defaultdict(float))
    tokens = limit.bucket
    offered = queued = refused = failed = peak = max_wait = 0.0
    first: int | None = None
    drained = 0
    policy = limit.retry

    def refuse(calls: float, attempt: int, now: int) -> None:
        nonlocal refused, failed, max_wait
        refused += calls
        if policy is None or attempt >= policy.max_attempts:
            failed += calls
            return
        bound = policy.delay_bound(attempt)
        max_wait = max(max_wait, bound)
        if policy.full_jitter:
            for offset, share in _jitter_spread(bound):
                pending[now + 1 + offset][attempt + 1] += calls * share
        else:
            pending[now + max(1, math.ceil(bound))][attempt + 1] += calls

    t, end = 0, len(arrivals) + tail_s
    while t < end:
        demand = pending.pop(t, defaultdict(float))
        if t < len(arrivals):
            demand[0] += arrivals[t] * limit.per_photo
            offered += arrivals[t] * limit.per_photo
        total = sum(demand.values())
        if total <= 0 and t >= len(arrivals) and not pending:
            break
        if total > 0:
            peak = max(peak, total)
            admitted = min(tokens, total)
            tokens -= admitted
            drained = t
            left = total - admitted
            if left > 1e-9:
                first = t if first is None else first
                share = left / total
                keep = left
                if limit.on_throttle == "delay":
                    if limit.queue_timeout_s is not None:
                        keep = min(left, limit.refill_per_s * limit.queue_timeout_s)
                    queued += keep
                    max_wait = max(max_wait, keep / limit.refill_per_s if limit.refill_per_s
                                   else math.inf)
                else:
                    keep = 0.0
                for attempt, calls in list(demand.items()):
                    mine = calls * share
                    if keep:
                        pending[t + 1][attempt] += mine * keep / left
                    if left - keep > 1e-12:
                        refuse(mine * (left - keep) / left, attempt, t)
        tokens = min(limit.bucket, tokens + limit.refill_per_s)
        t += 1
    failed += sum(sum(d.values()) for d in pending.values())  # still waiting at the end
    return SimResult(offered=offered, queued=queued, refused=refused, failed=failed,
                     peak_demand_per_s=peak, first_refused_s=first, max_wait_s=max_wait,
                     drained_s=drained)


# ---- the limits this application meets ----

def load_quotas(path: Path | str = QUOTAS) -> dict:
    return json.loads(Path(path).read_text())


def _region_values(entry: dict, region: str, large: list[str]) -> dict:
    if "per_region" in entry:
        rate = entry["per_region"].get(region, entry["other"]["refill_per_s"])
        return {"bucket": rate, "refill_per_s": rate}
    return dict(entry["large"] if region in large else entry["other"])


def apply_overrides(quotas: dict, overrides: dict[str, float]) -> dict:
    """``{"sfn_state_transitions.refill_per_s": 1500}`` sets that value in every region."""
    data = json.loads(json.dumps(quotas))
    for dotted, value in overrides.items():
        key, _, field_name = dotted.partition(".")
        if key not in data["quotas"]:
            raise KeyError(f"no quota {key!r}; known: {', '.join(sorted(data['quotas']))}")
        entry = data["quotas"][key]
        entry.pop("per_region", None)
        for group in ("large", "other"):
            values = entry.setdefault(group, {})
            if field_name in ("limit", "bucket", "refill_per_s"):
                values[field_name] = value
                if field_name == "refill_per_s" and "bucket" not in values:
                    values["bucket"] = value
            else:
                raise KeyError(f"{dotted}: set limit, bucket or refill_per_s")
    return data


@dataclass(frozen=True)
class Fleet:
    instance_type: str = DEPLOYED_INSTANCE
    max_instances: int | None = None        # None: the deploy default
    target_invocations_per_min: float | None = None
    max_concurrency: int | None = None      # batch path: the Map's MaxConcurrency


def limits(ctx: Context, quotas: dict, path: str = "upload", fleet: Fleet = Fleet()) -> list[Limit]:
    u, model = ctx.usage, ctx.model
    per = per_photo(model, u, ctx.facts.review_log_level)
    region = ctx.prices.region
    large = quotas["large_regions"]
    q = quotas["quotas"]
    retries = {k: RetryPolicy.from_data(v) for k, v in quotas["retry_policies"].items()}

    def quota(key: str, per_photo_: float, unit: str, retry: RetryPolicy | None) -> Limit:
        entry = q[key]
        values = _region_values(entry, region, large)
        if entry["kind"] == "concurrency":
            values = {"bucket": values["limit"], "refill_per_s": values["limit"]}
        return Limit(key=key, name=entry["name"], kind="quota",
                     refill_per_s=float(values["refill_per_s"]), bucket=float(values["bucket"]),
                     per_photo=per_photo_, unit=unit, on_throttle=entry["on_throttle"],
                     retry=retry if entry["on_throttle"] == "retry" else None,
                     basis=entry["basis"], source=entry["source"],
                     service_quota=entry["service_quota"], adjustable=entry["adjustable"])

    lambda_seconds = sum(count * u.lambda_ms(state, ctx.facts.memory_mb) / 1000
                         for state, count in per.lambda_invocations.items())
    workflow_s = u.workflow_ms / 1000
    # the per-photo workflow as deployed (Standard) and the review it starts (always Standard)
    transitions = per.standard_transitions + (
        per.batch_child_transitions if path == "batch" else 0.0)
    start_retry = model.start_execution_retry if path == "batch" else replace(
        retries["eventbridge_target"], max_attempts=ctx.facts.upload_rule_max_attempts)
    gets = 1 + (u.image_bytes > ctx.facts.inline_image_max_bytes)
    results_wru = math.ceil(u.result_item_bytes / 1024)  # every photo: result or human result
    reviews_wru = per.review_executions * sum(
        review_write_units(u, ctx.facts.review_indexes).values())
    writes = quota("dynamodb_on_demand_writes", results_wru, "WRU", retries["sdk_standard"])
    out = [
        # the photo's own execution and, below the threshold, its review's (StartReview): one
        # account quota; the photo's retry policy is replayed for both
        quota("sfn_start_execution", per.start_executions, "StartExecution", start_retry),
        quota("sfn_state_transitions", transitions, "transitions", None),
        quota("lambda_concurrency", lambda_seconds, "execution-seconds", model.lambda_retry),
        replace(writes, name=f"{writes.name}: ResultsTable"),
        replace(writes, key="dynamodb_on_demand_writes_reviews",
                name=f"{writes.name}: ReviewsTable", per_photo=reviews_wru),
        quota("s3_get_per_prefix", float(gets), "GET", retries["sdk_standard"]),
    ]
    if path == "upload":
        out.append(quota("eventbridge_invocations", 1.0, "invocations", None))
    else:
        out.append(quota("distributed_map_children", workflow_s, "child-seconds", None))
        concurrency = fleet.max_concurrency or model.map_max_concurrency
        out.append(Limit(
            key="map_max_concurrency",
            name=f"Map MaxConcurrency {concurrency} (BatchMaxConcurrency)",
            kind="configuration", refill_per_s=float(concurrency), bucket=float(concurrency),
            per_photo=workflow_s, unit="child-seconds", on_throttle="delay", retry=None,
            basis="template", source="template.yaml BatchMaxConcurrency"))
    instances = fleet.max_instances or u.max_instances
    capacity = instance_capacity(ctx, fleet.instance_type)
    out.append(Limit(
        key="endpoint_fleet",
        name=f"Endpoint fleet ({instances} x {fleet.instance_type} at most)",
        kind="configuration", refill_per_s=instances * capacity, bucket=instances * capacity,
        per_photo=1.0, unit="invocations", on_throttle="delay", retry=model.endpoint_retry,
        queue_timeout_s=ctx.facts.endpoint_read_timeout_s,
        basis="measured", source=f"{capacity:.1f} img/s per instance (measured per vCPU, "
        f"README); autoscaling MaxCapacity {instances} (scones deploy --max-instances)"))
    return out


# ---- the report ----

QUEUE_OK_S = 1.0  # a queue that never holds more than a second of work is ordinary latency


@dataclass(frozen=True)
class LimitResult:
    limit: Limit
    sustainable_photos_per_hour: float
    headroom: float
    sim: SimResult

    @property
    def reached(self) -> bool:
        """Calls were refused, or queued for longer than :data:`QUEUE_OK_S`."""
        return self.sim.refused > 1e-9 or (self.limit.on_throttle == "delay"
                                           and self.sim.max_wait_s > QUEUE_OK_S)

    @property
    def status(self) -> str:
        if self.sim.failed > 1e-6:
            return "FAILS"
        if self.sim.refused > 1e-9:
            return "throttles"
        return "queues" if self.reached else "ok"


@dataclass(frozen=True)
class EndpointSizing:
    instance_type: str
    capacity_per_instance: float
    for_capacity: int
    at_deploy_target: int
    deploy_target_per_min: float
    recommended_target_per_min: int
    max_instances: int
    utilization: float


@dataclass(frozen=True)
class Increase:
    key: str
    name: str
    current: float
    request: float
    unit: str
    service_quota: str


@dataclass(frozen=True)
class CapacityReport:
    photos_per_hour: float
    peak_factor: float
    rate_per_s: float
    region: str
    path: str
    seed: int
    arrivals_total: int
    arrivals_peak_s: int
    results: list[LimitResult]
    endpoint: EndpointSizing
    increases: list[Increase]
    notes: list[str] = field(default_factory=list)
    confident_share: float = 1.0  # of the usage model: the rest of the photos start a review

    @property
    def first_limit(self) -> LimitResult:
        return self.results[0]

    @property
    def first_quota(self) -> LimitResult:
        return next(r for r in self.results if r.limit.kind == "quota")

    @property
    def first_reached(self) -> LimitResult | None:
        return next((r for r in self.results if r.reached), None)

    def to_dict(self) -> dict:
        def res(r: LimitResult) -> dict:
            lim = r.limit
            return {"key": lim.key, "name": lim.name, "kind": lim.kind,
                    "refill_per_s": lim.refill_per_s, "bucket": lim.bucket,
                    "per_photo": lim.per_photo, "unit": lim.unit,
                    "sustainable_photos_per_hour": r.sustainable_photos_per_hour,
                    "headroom": r.headroom, "status": r.status,
                    "reached": r.reached, "offered_calls": r.sim.offered,
                    "queued_calls": r.sim.queued, "refused_calls": r.sim.refused,
                    "failed_calls": r.sim.failed, "peak_demand_per_s": r.sim.peak_demand_per_s,
                    "first_refused_s": r.sim.first_refused_s,
                    "max_wait_s": r.sim.max_wait_s, "on_throttle": lim.on_throttle,
                    "queue_timeout_s": lim.queue_timeout_s,
                    "retry": None if lim.retry is None else {
                        "interval_s": lim.retry.interval_s, "max_attempts": lim.retry.max_attempts,
                        "backoff_rate": lim.retry.backoff_rate,
                        "max_delay_s": lim.retry.max_delay_s,
                        "full_jitter": lim.retry.full_jitter, "source": lim.retry.source},
                    "basis": lim.basis, "source": lim.source,
                    "service_quota": lim.service_quota}
        e = self.endpoint
        first_reached = self.first_reached
        return {
            "photos_per_hour": self.photos_per_hour, "peak_factor": self.peak_factor,
            "rate_per_s": self.rate_per_s, "region": self.region, "path": self.path,
            "seed": self.seed, "confident_share": self.confident_share,
            "arrivals": {"total": self.arrivals_total, "busiest_second": self.arrivals_peak_s},
            "first_limit": self.first_limit.limit.key, "first_quota": self.first_quota.limit.key,
            "first_reached": first_reached.limit.key if first_reached else None,
            "limits": [res(r) for r in self.results],
            "endpoint": {"instance_type": e.instance_type,
                         "capacity_per_instance_per_s": e.capacity_per_instance,
                         "instances_for_capacity": e.for_capacity,
                         "instances_at_deploy_target": e.at_deploy_target,
                         "deploy_target_per_min": e.deploy_target_per_min,
                         "recommended_target_per_min": e.recommended_target_per_min,
                         "max_instances": e.max_instances},
            "increases": [{"key": i.key, "name": i.name, "current": i.current,
                           "request": i.request, "unit": i.unit,
                           "service_quota": i.service_quota} for i in self.increases],
            "notes": self.notes,
        }


def endpoint_sizing(ctx: Context, rate_per_s: float, fleet: Fleet) -> EndpointSizing:
    u = ctx.usage
    cap = instance_capacity(ctx, fleet.instance_type)
    target = fleet.target_invocations_per_min or u.target_invocations_per_min
    return EndpointSizing(
        instance_type=fleet.instance_type, capacity_per_instance=cap,
        for_capacity=max(u.min_instances,
                         math.ceil(rate_per_s / (cap * u.target_utilization) - 1e-9)),
        at_deploy_target=max(u.min_instances, math.ceil(rate_per_s * 60 / target - 1e-9)),
        deploy_target_per_min=target,
        recommended_target_per_min=round(cap * u.target_utilization * 60),
        max_instances=fleet.max_instances or u.max_instances, utilization=u.target_utilization)


def capacity_report(photos_per_hour: float, peak_factor: float = 1.0, region: str = "us-east-1",
                    path: str = "upload", seed: int = 0, fleet: Fleet = Fleet(),
                    quota_overrides: dict[str, float] | None = None,
                    ctx: Context | None = None) -> CapacityReport:
    if photos_per_hour < 0 or peak_factor <= 0:
        raise ValueError("photos per hour must be >= 0 and the peak factor > 0")
    if path not in ("upload", "batch"):
        raise ValueError("path is upload or batch")
    ctx = ctx or context(region)
    quotas = load_quotas()
    if quota_overrides:
        quotas = apply_overrides(quotas, quota_overrides)
    rate = photos_per_hour * peak_factor / HOUR_S
    arrivals = poisson_arrivals(rate, HOUR_S, seed)
    results = []
    for lim in limits(ctx, quotas, path, fleet):
        sustainable = lim.sustainable_photos_per_s() * HOUR_S / peak_factor
        headroom = sustainable / photos_per_hour if photos_per_hour else math.inf
        results.append(LimitResult(lim, sustainable, headroom, simulate(lim, arrivals)))
    results.sort(key=lambda r: (r.headroom, r.limit.key))
    sizing = endpoint_sizing(ctx, rate, fleet)
    increases = []
    for r in results:
        lim = r.limit
        if lim.kind != "quota" or not lim.adjustable or r.headroom >= MARGIN:
            continue
        needed = rate * lim.per_photo * MARGIN
        current = lim.refill_per_s
        unit = f"{lim.unit}/s" if q_kind(quotas, lim.key) != "concurrency" else "concurrent"
        increases.append(Increase(lim.key, lim.name, current, math.ceil(needed), unit,
                                  lim.service_quota))
    notes = []
    if sizing.for_capacity > sizing.max_instances:
        notes.append(f"the endpoint needs {sizing.for_capacity} x {sizing.instance_type} at "
                     f"{ctx.usage.target_utilization:.0%} of capacity: deploy with "
                     f"--max-instances {sizing.for_capacity} (and ask for that many "
                     f"'{sizing.instance_type} for endpoint usage' in Service Quotas)")
    if sizing.at_deploy_target > sizing.for_capacity:
        notes.append(f"the deployed target ({sizing.deploy_target_per_min:g} invocations per "
                     f"instance per minute) scales to {sizing.at_deploy_target} instances; "
                     f"--target-invocations {sizing.recommended_target_per_min} keeps "
                     f"{sizing.for_capacity}")
    return CapacityReport(
        photos_per_hour=photos_per_hour, peak_factor=peak_factor, rate_per_s=rate,
        region=ctx.prices.region, path=path, seed=seed, arrivals_total=sum(arrivals),
        arrivals_peak_s=max(arrivals) if arrivals else 0, results=results, endpoint=sizing,
        increases=increases, notes=notes, confident_share=ctx.usage.confident_share)


def q_kind(quotas: dict, key: str) -> str:
    return quotas["quotas"].get(key, {}).get("kind", "")

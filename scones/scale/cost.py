"""The cost model: what each deployment shape costs a month at a given number of photos a day.

Pure functions over three inputs: the price table (``prices.json``, data with a source per
item), the usage model (:mod:`scones.scale.usage`: counts read from the ASL and the template,
and parameters that say whether they were measured here or estimated), and the volume. Every
component (orchestration, inference, Lambda, S3, data capture, DynamoDB, CloudWatch,
EventBridge) has one or more *shapes*; each shape is a list of :class:`Line` (quantity x unit
price = cost). A deployment shape is an orchestration shape x an inference shape with the rest
as deployed. :func:`break_even` finds the volume where two shapes cost the same.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from scones.scale.usage import (
    AUTOSCALING_ALARMS,
    DEPLOY_ALARMS,
    PROVENANCE,
    PerPhoto,
    TemplateFacts,
    Usage,
    WorkflowModel,
    custom_metric_series,
    per_photo,
    retraining_metric_series,
    template_facts,
    workflow_model,
)

PRICES = Path(__file__).with_name("prices.json")
HOURS_PER_MONTH = 730.0              # AWS's month for per-hour and per-month prices
DAYS_PER_MONTH = HOURS_PER_MONTH / 24
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600
GB = 1024 ** 3
DEPLOYED_INSTANCE = "ml.m5.large"    # model/deploy.py's default --instance-type
LAMBDA_ROWS = (("arm64", 128), ("arm64", 256), ("arm64", 512), ("arm64", 1024),
               ("arm64", 1769), ("x86_64", 512))
COMPONENTS = ("orchestration", "inference", "lambda", "s3", "capture", "dynamodb",
              "cloudwatch", "eventbridge")


# ---- prices ----

@dataclass(frozen=True)
class Price:
    key: str
    unit: str
    basis: str
    source: str
    note: str = ""
    price: float | None = None
    tiers: tuple[tuple[float | None, float], ...] = ()
    free_per_month: float = 0.0
    by_memory_mb: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Instance:
    name: str
    price_per_hour: float
    vcpus: int
    cpu_share: float
    basis: str
    source: str
    note: str = ""


@dataclass(frozen=True)
class PriceTable:
    region: str
    multiplier: float
    region_basis: str
    overrides: dict[str, float]
    items: dict[str, Price]
    instances: dict[str, Instance]
    read_on: str
    statement: str
    region_note: str = ""

    def _scale(self, key: str, value: float) -> float:
        return value if key in self.overrides else value * self.multiplier

    def unit_price(self, key: str) -> float:
        """The first-tier (or only) price of one unit in this region."""
        item = self.items[key]
        if key in self.overrides:
            return self.overrides[key]
        value = item.price if item.price is not None else item.tiers[0][1]
        return value * self.multiplier

    def charge(self, key: str, quantity: float, free_tier: bool = False) -> float:
        """The cost of ``quantity`` units a month: tiers in order, less the free tier when asked."""
        item = self.items[key]
        if free_tier:
            quantity = max(0.0, quantity - item.free_per_month)
        if key in self.overrides or not item.tiers:
            return quantity * self.unit_price(key)
        cost, below = 0.0, 0.0
        for upto, price in item.tiers:
            band = quantity - below if upto is None else min(quantity, upto) - below
            if band <= 0:
                break
            cost += band * price
            if upto is None:
                break
            below = upto
        return cost * self.multiplier

    def instance_hour(self, name: str) -> float:
        return self.instances[name].price_per_hour * self.multiplier

    def serverless_second(self, memory_mb: int) -> float:
        return self.items["sagemaker_serverless_second"].by_memory_mb[str(memory_mb)] \
            * self.multiplier


def load_prices(region: str = "us-east-1", path: Path | str = PRICES) -> PriceTable:
    data = json.loads(Path(path).read_text())
    if region not in data["regions"]:
        raise ValueError(f"no prices for region {region!r}; known: "
                         f"{', '.join(sorted(data['regions']))}")
    entry = data["regions"][region]
    items = {key: Price(key=key, unit=v["unit"], basis=v["basis"], source=v["source"],
                        note=v.get("note", ""), price=v.get("price"),
                        tiers=tuple((t[0], t[1]) for t in v.get("tiers", ())),
                        free_per_month=float(v.get("free_per_month", 0)),
                        by_memory_mb=dict(v.get("by_memory_mb", {})))
             for key, v in data["items"].items()}
    instances = {name: Instance(name=name, price_per_hour=v["price_per_hour"], vcpus=v["vcpus"],
                                cpu_share=v["cpu_share"], basis=v["basis"], source=v["source"],
                                note=v.get("note", ""))
                 for name, v in data["instances"].items()}
    return PriceTable(region=region, multiplier=float(entry["multiplier"]),
                      region_basis=entry["basis"], overrides=dict(entry.get("overrides", {})),
                      items=items, instances=instances, read_on=data["read_on"],
                      statement=data["statement"], region_note=data.get("region_note", ""))


def regions(path: Path | str = PRICES) -> list[str]:
    return sorted(json.loads(Path(path).read_text())["regions"])


# ---- results ----

@dataclass(frozen=True)
class Line:
    item: str
    quantity: float
    unit: str
    cost: float
    price_key: str = ""

    @property
    def unit_price(self) -> float:
        return self.cost / self.quantity if self.quantity else 0.0


@dataclass(frozen=True)
class ShapeCost:
    component: str
    key: str
    shape: str
    lines: tuple[Line, ...]
    deployed: bool = False
    recommended: bool = True
    notes: tuple[str, ...] = ()
    detail: dict = field(default_factory=dict)

    @property
    def total(self) -> float:
        return sum(line.cost for line in self.lines)


@dataclass(frozen=True)
class Context:
    """Everything a cost depends on except the volume."""

    prices: PriceTable
    usage: Usage
    model: WorkflowModel
    facts: TemplateFacts
    free_tier: bool = False
    target_invocations_per_min: float | None = None  # None: size fleets by measured capacity

    @property
    def per(self) -> PerPhoto:
        return per_photo(self.model, self.usage, self.facts.review_log_level)


def context(region: str = "us-east-1", usage: Usage | None = None, free_tier: bool = False,
            target_invocations_per_min: float | None = None,
            prices_path: Path | str = PRICES) -> Context:
    facts = template_facts()
    return Context(prices=load_prices(region, prices_path), usage=usage or Usage(),
                   model=workflow_model(batch_max_concurrency=facts.batch_max_concurrency),
                   facts=facts, free_tier=free_tier,
                   target_invocations_per_min=target_invocations_per_min)


def photos_per_month(photos_per_day: float) -> float:
    return photos_per_day * DAYS_PER_MONTH


def _line(ctx: Context, item: str, quantity: float, key: str, unit: str | None = None,
          free: bool | None = None) -> Line:
    use_free = ctx.free_tier if free is None else free
    return Line(item=item, quantity=quantity, unit=unit or ctx.prices.items[key].unit,
                cost=ctx.prices.charge(key, quantity, use_free), price_key=key)


# ---- orchestration ----

def _transitions(ctx: Context, parts: list[tuple[str, float]]) -> list[Line]:
    """Standard transition lines that share one monthly free tier (the account's 4,000)."""
    key = "sfn_standard_transition"
    total = sum(q for _, q in parts)
    cost = ctx.prices.charge(key, total, ctx.free_tier)
    unit = ctx.prices.items[key].unit
    return [Line(item, q, unit, cost * q / total if total else 0.0, key) for item, q in parts]


def orchestration(ctx: Context, photos_per_day: float) -> list[ShapeCost]:
    n = photos_per_month(photos_per_day)
    per, u = ctx.per, ctx.usage
    review_path = ctx.model.review_workflow.transitions
    review_item = (f"review workflow transitions, always Standard ({review_path} per review, "
                   f"{per.review_transitions:.3f}/photo from the ASL)")
    standard = ShapeCost(
        "orchestration", "standard", "Step Functions Standard",
        tuple(_transitions(ctx, [
            (f"state transitions ({per.transitions:.3f}/photo from the ASL)",
             n * per.transitions),
            (review_item, n * per.review_transitions)])),
        deployed=True, notes=("the review's StartExecution is its StartReview state's "
                              "transition; the person's wait is not billed",),
        detail={"transitions_per_photo": per.transitions,
                "review_transitions_per_photo": per.review_transitions,
                "review_executions_per_photo": per.review_executions})
    billed_s = math.ceil(u.workflow_ms / 100) / 10
    memory_gb = math.ceil(u.express_memory_mb / 64) * 64 / 1024
    express = ShapeCost(
        "orchestration", "express", "Step Functions Express",
        (_line(ctx, "executions", n, "sfn_express_request"),
         _line(ctx, f"duration {billed_s:.1f} s x {memory_gb * 1024:.0f} MB", n * billed_s
               * memory_gb, "sfn_express_gb_second"),
         *_transitions(ctx, [(review_item, n * per.review_transitions)])),
        notes=("WorkflowType=EXPRESS: the per-photo workflow only; the review stays Standard",
               "no 90-day execution history and no status-change alerts: Level ALL "
               "CloudWatch logs only",
               "at-least-once: every side effect is idempotent"),
        detail={"billed_seconds": billed_s, "memory_gb": memory_gb,
                "review_transitions_per_photo": per.review_transitions})
    batches = n / u.batch_size
    parent_transitions = ctx.model.batch_parent.transitions
    batch = ShapeCost(
        "orchestration", "batch", "Standard + batch Distributed Map",
        (*_transitions(ctx, [
            (f"per-image transitions ({per.transitions:.3f}/photo)", n * per.transitions),
            (f"review workflow transitions ({per.review_transitions:.3f}/photo)",
             n * per.review_transitions)]),
         _line(ctx, f"Map child transitions ({per.batch_child_transitions:.3f}/photo)",
               n * per.batch_child_transitions, "sfn_standard_transition", free=False),
         _line(ctx, f"batch parent transitions ({parent_transitions}/batch of {u.batch_size})",
               batches * parent_transitions, "sfn_standard_transition", free=False),
         _line(ctx, "ListObjectsV2 + result files + summary.json", batches * (
             math.ceil(u.batch_size / 1000) + 4), "s3_put_request")),
        notes=("photos arrive as batches, not uploads: the Map adds a child execution per photo",),
        detail={"child_transitions_per_photo": per.batch_child_transitions})
    return [standard, express, batch]


# ---- inference ----

def instance_capacity(ctx: Context, name: str) -> float:
    """Images a second one instance serves, from the measured throughput per vCPU."""
    inst = ctx.prices.instances[name]
    return inst.vcpus * inst.cpu_share * ctx.usage.img_per_s_per_vcpu


def peak_rate(ctx: Context, photos_per_day: float) -> float:
    return photos_per_day / 86400 * ctx.usage.peak_factor


def realtime_instances(ctx: Context, name: str, rate_per_s: float) -> int:
    """Instances a real-time endpoint runs for ``rate_per_s``: at the autoscaling target when
    one is given (invocations per instance per minute), else at ``target_utilization`` of the
    measured capacity; never fewer than the 2 the project deploys."""
    if ctx.target_invocations_per_min:
        per_instance = ctx.target_invocations_per_min / 60
    else:
        per_instance = instance_capacity(ctx, name) * ctx.usage.target_utilization
    return max(ctx.usage.min_instances, math.ceil(rate_per_s / per_instance - 1e-9))


def _data_processed(ctx: Context, n: float) -> Line:
    u = ctx.usage
    return _line(ctx, "data processed in + out", n * (u.image_bytes + u.response_bytes) / GB,
                 "sagemaker_data_processed_gb", unit="GB")


def inference(ctx: Context, photos_per_day: float) -> list[ShapeCost]:
    n = photos_per_month(photos_per_day)
    u, prices = ctx.usage, ctx.prices
    rate = peak_rate(ctx, photos_per_day)
    shapes = []
    for name, inst in prices.instances.items():
        count = realtime_instances(ctx, name, rate)
        notes = [f"{instance_capacity(ctx, name):.1f} img/s per instance (measured per vCPU)"]
        if count > u.max_instances:
            notes.append(f"{count} instances: above the autoscaling maximum {u.max_instances} "
                         f"(scones deploy --max-instances)")
        if inst.cpu_share < 1:
            notes.append("burstable: sized at its baseline CPU share")
        hours = count * HOURS_PER_MONTH
        shapes.append(ShapeCost(
            "inference", f"realtime:{name}", f"real-time {name} x{count}",
            (Line(f"{count} x {name} x {HOURS_PER_MONTH:.0f} h", hours, "instance-hour",
                  hours * prices.instance_hour(name), f"instance:{name}"),
             _data_processed(ctx, n)),
            deployed=name == DEPLOYED_INSTANCE, notes=tuple(notes),
            detail={"instances": count, "instance_capacity_per_s": instance_capacity(ctx, name),
                    "peak_rate_per_s": rate}))
    seconds = math.ceil(u.serverless_ms) / 1000
    shapes.append(ShapeCost(
        "inference", "serverless", f"serverless {u.serverless_memory_mb} MB",
        (Line(f"{seconds * 1000:.0f} ms x {u.serverless_memory_mb} MB per photo", n * seconds,
              "second", n * seconds * prices.serverless_second(u.serverless_memory_mb),
              "sagemaker_serverless_second"),
         _data_processed(ctx, n),
         _line(ctx, "captures written by ClassifyImage (no data capture on serverless)", n,
               "s3_put_request")),
        notes=("no data capture or Model Monitor on serverless endpoints: ClassifyImage would "
               "write each capture itself (the PUT line)",
               "cold starts; at most 200 concurrent requests per endpoint"),
        detail={"billed_seconds": seconds}))
    active_s = u.async_active_hours_per_day * 3600
    mean_active_rate = photos_per_day / active_s if active_s else 0.0
    name = DEPLOYED_INSTANCE
    count = max(1, math.ceil(mean_active_rate / (instance_capacity(ctx, name)
                                                 * u.target_utilization) - 1e-9))
    hours = count * u.async_active_hours_per_day * DAYS_PER_MONTH
    shapes.append(ShapeCost(
        "inference", "async", f"asynchronous {name} x{count}",
        (Line(f"{count} x {name} x {hours / count:.0f} h", hours, "instance-hour",
              hours * prices.instance_hour(name), f"instance:{name}"),
         _data_processed(ctx, n),
         _line(ctx, "result objects PUT by SageMaker", n, "s3_put_request"),
         _line(ctx, "result objects read by the workflow", n, "s3_get_request")),
        notes=("the workflow would call InvokeEndpointAsync and wait for the result "
               "(a design change)", "queue absorbs an instance loss: no 2-instance floor",
               "sized for the mean rate over its active hours, not the peak"),
        detail={"instances": count}))
    return shapes


# ---- Lambda ----

def lambda_shape(ctx: Context, photos_per_day: float, arch: str, memory_mb: int) -> ShapeCost:
    n = photos_per_month(photos_per_day)
    u, per, facts = ctx.usage, ctx.per, ctx.facts
    gb = memory_mb / 1024
    seconds = sum(count * u.lambda_ms(state, memory_mb) / 1000
                  for state, count in per.lambda_invocations.items())
    runs = HOURS_PER_MONTH * 60 / facts.monitor_schedule_minutes
    records = photos_per_day / 1440 * facts.monitor_window_minutes
    cpu_scale = 512 / min(memory_mb, 1769)
    monitor_s = (u.monitor_base_ms + records * u.monitor_ms_per_record) * cpu_scale / 1000
    requests = n * per.invocations + runs
    gb_seconds = (n * seconds + runs * min(monitor_s, facts.monitor_timeout_s)) * gb
    key = f"lambda_{arch}_gb_second"
    notes = []
    if monitor_s > facts.monitor_timeout_s:
        notes.append(f"the monitor needs {monitor_s:.0f} s per run, over its "
                     f"{facts.monitor_timeout_s} s timeout: shorten MonitorWindowMinutes")
    recommended = memory_mb - u.handler_rss_mb >= 128
    if not recommended:
        notes.append(f"handlers measured at {u.handler_rss_mb:.0f} MB RSS after import: "
                     f"{memory_mb} MB leaves too little for a 5 MiB image and its base64")
    deployed = arch == facts.architecture and memory_mb == facts.memory_mb
    return ShapeCost(
        "lambda", f"lambda:{arch}:{memory_mb}", f"Lambda {arch} {memory_mb} MB",
        (_line(ctx, f"requests ({per.invocations:.3f}/photo + {runs:.0f} monitor runs)",
               requests, "lambda_request"),
         _line(ctx, f"duration ({seconds * 1000:.0f} ms/photo billed, monitor "
               f"{min(monitor_s, facts.monitor_timeout_s):.1f} s/run)", gb_seconds, key)),
        deployed=deployed, recommended=recommended, notes=tuple(notes),
        detail={"billed_ms_per_photo": seconds * 1000, "monitor_seconds_per_run": monitor_s})


def lambdas(ctx: Context, photos_per_day: float) -> list[ShapeCost]:
    return [lambda_shape(ctx, photos_per_day, arch, mb) for arch, mb in LAMBDA_ROWS]


# ---- S3, capture, DynamoDB ----

def s3(ctx: Context, photos_per_day: float) -> list[ShapeCost]:
    n = photos_per_month(photos_per_day)
    u, below = ctx.usage, 1 - ctx.usage.confident_share
    gets = 1 + (u.image_bytes > ctx.facts.inline_image_max_bytes)  # ClassifyImage reads it too
    stored = n * u.months_kept
    return [ShapeCost("s3", "s3", "S3 Standard (image bucket)", (
        _line(ctx, "uploads (PUT)", n, "s3_put_request"),
        _line(ctx, f"SerializeImageData reads ({gets} GET/photo)", n * gets, "s3_get_request"),
        _line(ctx, f"review copies + sidecars (COPY + PUT for {below:.1%})", n * below * 2,
              "s3_put_request"),
        _line(ctx, "labeled copies + sidecar rewrites (RecordReview: COPY + PUT)",
              n * below * 2, "s3_put_request"),
        _line(ctx, "sidecar reads (RecordReview: GET)", n * below, "s3_get_request"),
        _line(ctx, f"uploads stored ({u.months_kept:.0f} months)", stored * u.image_bytes / GB,
              "s3_standard_gb_month"),
        _line(ctx, "review copies + sidecars stored",
              stored * below * (u.image_bytes + u.review_sidecar_bytes) / GB,
              "s3_standard_gb_month"),
        _line(ctx, "labeled copies stored (training data)", stored * below * u.image_bytes / GB,
              "s3_standard_gb_month")), deployed=True)]


def capture(ctx: Context, photos_per_day: float) -> list[ShapeCost]:
    n = photos_per_month(photos_per_day)
    u, facts = ctx.usage, ctx.facts
    instances = realtime_instances(ctx, DEPLOYED_INSTANCE, peak_rate(ctx, photos_per_day))
    files = instances * HOURS_PER_MONTH * 60 * u.capture_files_per_instance_minute
    runs = HOURS_PER_MONTH * 60 / facts.monitor_schedule_minutes
    window_files = instances * facts.monitor_window_minutes * u.capture_files_per_instance_minute
    record = u.capture_record_bytes()
    return [ShapeCost("capture", "capture", "data capture to S3 + monitor reads", (
        _line(ctx, f"capture files written ({instances} instances)", files, "s3_put_request"),
        _line(ctx, f"captures stored ({record:.0f} B/photo, {u.months_kept:.0f} months)",
              n * record * u.months_kept / GB, "s3_standard_gb_month"),
        _line(ctx, "monitor: files read", runs * window_files, "s3_get_request"),
        _line(ctx, "monitor: LIST", runs * math.ceil(window_files / 1000), "s3_put_request")),
        deployed=True, detail={"record_bytes": record})]


def review_write_units(usage: Usage, indexes: int) -> dict[str, int]:
    """WRU one labeled review writes to the reviews table. Each index (projection ALL) takes a
    copy of every write to an item it holds: the pending put writes it once more, closing the
    review changes its indexed status (the old index entry deleted, the new one put); the
    counter item has no status, so no index holds it."""
    pending = math.ceil(usage.review_item_bytes / 1024)
    closed = math.ceil(usage.review_closed_item_bytes / 1024)
    return {"put": pending * (1 + indexes),                  # SendToReview PutItem
            "close": pending + indexes * (pending + closed),  # RecordReview UpdateItem
            "counter": 1}                                     # RecordReview ADD labels


def dynamodb(ctx: Context, photos_per_day: float) -> list[ShapeCost]:
    n = photos_per_month(photos_per_day)
    u, indexes = ctx.usage, ctx.facts.review_indexes
    reviews = n * ctx.per.review_executions
    wru = math.ceil(u.result_item_bytes / 1024)
    review_wru = review_write_units(u, indexes)
    results_gb = n * u.months_kept * (u.result_item_bytes + u.dynamodb_item_overhead_bytes) / GB
    reviews_gb = reviews * u.months_kept * (1 + indexes) * (
        u.review_closed_item_bytes + u.dynamodb_item_overhead_bytes) / GB
    size_gb = results_gb + reviews_gb
    return [ShapeCost("dynamodb", "dynamodb", "DynamoDB on demand", (
        _line(ctx, f"results writes ({wru} WRU per photo: a confident result, a reviewed "
              f"photo's human result)", n * wru, "dynamodb_write_request_unit"),
        _line(ctx, f"reviews writes ({sum(review_wru.values())} WRU per review: put "
              f"{review_wru['put']}, close {review_wru['close']}, counter "
              f"{review_wru['counter']}; {indexes} index)", reviews * sum(review_wru.values()),
              "dynamodb_write_request_unit"),
        _line(ctx, f"storage ({u.months_kept:.0f} months of results and reviews)", size_gb,
              "dynamodb_storage_gb_month"),
        _line(ctx, "point-in-time recovery", size_gb, "dynamodb_pitr_gb_month")), deployed=True,
        detail={"review_write_units": review_wru})]


# ---- CloudWatch, X-Ray, EventBridge ----

def xray_traces(photos_per_month_: float, usage: Usage) -> float:
    """Traces the default sampling rule records: 1 a second, then 5% of the rest."""
    rate = photos_per_month_ / SECONDS_PER_MONTH
    sampled = min(rate, usage.xray_reservoir_per_s) + usage.xray_rate * max(
        0.0, rate - usage.xray_reservoir_per_s)
    return sampled * SECONDS_PER_MONTH


def cloudwatch(ctx: Context, photos_per_day: float) -> list[ShapeCost]:
    n = photos_per_month(photos_per_day)
    u, per, facts = ctx.usage, ctx.per, ctx.facts
    runs = HOURS_PER_MONTH * 60 / facts.monitor_schedule_minutes
    lambda_gb = (n * (u.lambda_log_bytes_per_photo + per.review_executions * u.review_log_bytes
                      + per.invocations * u.lambda_platform_log_bytes)
                 + runs * u.monitor_log_bytes_per_run) / GB
    sfn_gb = n * per.log_events * u.sfn_log_bytes_per_event / GB
    stored_gb = (lambda_gb + sfn_gb) * u.log_compression * facts.log_retention_days / DAYS_PER_MONTH
    alarms = facts.alarms + DEPLOY_ALARMS + AUTOSCALING_ALARMS
    retraining = len(ctx.model.retraining_functions)
    series = custom_metric_series(facts, retraining)
    logs_key = "cloudwatch_logs_ingest_gb"
    free = ctx.prices.items[logs_key].free_per_month if ctx.free_tier else 0.0
    lambda_share = lambda_gb / (lambda_gb + sfn_gb) if lambda_gb + sfn_gb else 0.0
    logs = ctx.prices.charge(logs_key, max(0.0, lambda_gb + sfn_gb - free))
    return [ShapeCost("cloudwatch", "cloudwatch", "CloudWatch + X-Ray", (
        Line("Lambda logs ingested (Powertools JSON + EMF + platform)", lambda_gb, "GB",
             logs * lambda_share, logs_key),
        Line(f"Step Functions logs, Level ALL ({per.log_events:.1f} events/photo)", sfn_gb, "GB",
             logs * (1 - lambda_share), logs_key),
        _line(ctx, f"logs stored ({facts.log_retention_days} days, compressed)", stored_gb,
              "cloudwatch_logs_storage_gb_month"),
        _line(ctx, f"custom metrics ({series} series)", series, "cloudwatch_custom_metric_month"),
        _line(ctx, f"alarms ({facts.alarms} template + {DEPLOY_ALARMS} deploy + "
              f"{AUTOSCALING_ALARMS} autoscaling)", alarms, "cloudwatch_alarm_month"),
        _line(ctx, "dashboard", facts.dashboards, "cloudwatch_dashboard_month"),
        _line(ctx, "X-Ray traces recorded (default sampling)", xray_traces(n, u),
              "xray_trace_recorded")), deployed=True,
        notes=(f"the retraining's {retraining_metric_series(facts, retraining)} metric series "
               "are published only in the hours a retraining runs: not priced (docs/scale.md)",
               f"the review workflow logs at Level {facts.review_log_level}"),
        detail={"custom_metric_series": series,
                "retraining_metric_series": retraining_metric_series(facts, retraining)})]


def eventbridge(ctx: Context, photos_per_day: float) -> list[ShapeCost]:
    n = photos_per_month(photos_per_day)
    below = 1 - ctx.usage.confident_share
    reviews = ctx.per.review_executions
    runs = HOURS_PER_MONTH * 60 / ctx.facts.monitor_schedule_minutes
    return [ShapeCost("eventbridge", "eventbridge", "EventBridge default bus", (
        _line(ctx, "S3 Object Created events (uploads, review copies, sidecars, labeled copies, "
              "sidecar rewrites)", n * (1 + 4 * below), "eventbridge_aws_service_event"),
        _line(ctx, "Step Functions status-change events (photos, reviews)", n * (1 + reviews),
              "eventbridge_aws_service_event"),
        _line(ctx, "monitor schedule events", runs, "eventbridge_aws_service_event")),
        deployed=True, notes=("AWS service events on the default bus are free",))]


BUILDERS: dict[str, Callable[[Context, float], list[ShapeCost]]] = {
    "orchestration": orchestration, "inference": inference, "lambda": lambdas, "s3": s3,
    "capture": capture, "dynamodb": dynamodb, "cloudwatch": cloudwatch,
    "eventbridge": eventbridge,
}


def shapes_of(ctx: Context, component: str, photos_per_day: float) -> list[ShapeCost]:
    return BUILDERS[component](ctx, photos_per_day)


def shape_cost(ctx: Context, component: str, key: str, photos_per_day: float) -> ShapeCost:
    for shape in shapes_of(ctx, component, photos_per_day):
        if shape.key == key:
            return shape
    raise KeyError(f"no shape {key!r} in {component}")


def cheapest(shapes: list[ShapeCost]) -> ShapeCost:
    """The cheapest recommended shape (ties: the deployed one, then the first listed)."""
    candidates = [s for s in shapes if s.recommended] or shapes
    return min(candidates, key=lambda s: (round(s.total, 6), not s.deployed))


# ---- deployments and break-even ----

@dataclass(frozen=True)
class Deployment:
    orchestration: str
    inference: str
    name: str
    total: float
    as_deployed: bool = False


def deployments(ctx: Context, photos_per_day: float,
                components: dict[str, list[ShapeCost]] | None = None) -> list[Deployment]:
    """Standard or Express x real-time (deployed type and cheapest type), serverless or async;
    Lambda, S3, capture, DynamoDB, CloudWatch and EventBridge as deployed."""
    comps = components or {c: shapes_of(ctx, c, photos_per_day) for c in COMPONENTS}
    rest = sum(next(s for s in comps[c] if s.deployed).total
               for c in COMPONENTS if c not in ("orchestration", "inference"))
    orch = {s.key: s for s in comps["orchestration"] if s.key in ("standard", "express")}
    inf = {s.key: s for s in comps["inference"]}
    realtime = [s for s in comps["inference"] if s.key.startswith("realtime:")]
    best_rt = cheapest(realtime)
    options = [inf[f"realtime:{DEPLOYED_INSTANCE}"]]
    if best_rt.key != options[0].key:
        options.append(best_rt)
    options += [inf["serverless"], inf["async"]]
    out = []
    for o in orch.values():
        for i in options:
            out.append(Deployment(o.key, i.key, f"{o.shape} + {i.shape}", o.total + i.total + rest,
                                  as_deployed=o.deployed and i.deployed))
    return out


@dataclass(frozen=True)
class BreakEven:
    component: str
    a: str
    b: str
    photos_per_day: float | None
    cost_a: float | None
    cost_b: float | None
    cheaper_below: str | None
    at_step: bool = False
    summary: str = ""


def break_even(ctx: Context, component: str, a: str, b: str, lo: float = 1.0,
               hi: float = 1e9, per_decade: int = 24) -> BreakEven:
    """The smallest volume (photos/day) in [lo, hi] where shape ``a`` and shape ``b`` cost the
    same: a log-spaced scan for the first sign change of cost(a) - cost(b), then bisection. A
    crossing at a jump (a fleet adding an instance) is reported with ``at_step``."""
    def diff(v: float) -> float:
        return shape_cost(ctx, component, a, v).total - shape_cost(ctx, component, b, v).total

    steps = int(round(math.log10(hi / lo) * per_decade))
    grid = [lo * (hi / lo) ** (i / steps) for i in range(steps + 1)]
    prev_v, prev_d = grid[0], diff(grid[0])
    for v in grid[1:]:
        d = diff(v)
        if (prev_d < 0) != (d < 0) or d == 0:
            left, right, dl = prev_v, v, prev_d
            for _ in range(200):
                mid = (left + right) / 2
                dm = diff(mid)
                if (dl < 0) == (dm < 0) and dm != 0:
                    left, dl = mid, dm
                else:
                    right = mid
                if right - left <= 1e-9 * right:
                    break
            sa, sb = shape_cost(ctx, component, a, right), shape_cost(ctx, component, b, right)
            ca, cb = sa.total, sb.total
            below, above = (sa, sb) if prev_d < 0 else (sb, sa)
            at_step = abs(ca - cb) > 0.01
            how = (f"at a step: {money(ca)} vs {money(cb)}" if at_step
                   else f"both {money(ca)}/month")
            return BreakEven(component, a, b, right, ca, cb, below.key, at_step,
                             f"{right:,.0f} photos/day ({how}); below it {below.shape}, "
                             f"above it {above.shape}")
        prev_v, prev_d = v, d
    sa = shape_cost(ctx, component, a, hi)
    sb = shape_cost(ctx, component, b, hi)
    cheaper = sa if prev_d < 0 else sb
    return BreakEven(component, a, b, None, None, None, cheaper.key, False,
                     f"none from {lo:,.0f} to {hi:,.0g} photos/day: "
                     f"{cheaper.shape.split(' x')[0]} is always cheaper")


def money(value: float) -> str:
    return f"${value:,.2f}"


BREAK_EVENS = (
    ("orchestration", "express", "standard"),
    ("inference", "serverless", f"realtime:{DEPLOYED_INSTANCE}"),
    ("inference", "async", f"realtime:{DEPLOYED_INSTANCE}"),
    ("inference", "serverless", "async"),
)


# ---- the report ----

def _provenance(usage: Usage, name: str) -> dict:
    """A usage figure, and where it comes from: ``PROVENANCE``'s, or "given" where the caller
    (``--confident-share``, ``--image-kb``, ...) replaced the default."""
    value = getattr(usage, name)
    if value != getattr(Usage(), name):
        return {"value": value, "basis": "given", "where": "the caller (a command-line option)"}
    basis, where = PROVENANCE[name]
    return {"value": value, "basis": basis, "where": where}


@dataclass(frozen=True)
class CostReport:
    photos_per_day: float
    photos_per_month: float
    region: str
    free_tier: bool
    components: dict[str, list[ShapeCost]]
    cheapest: dict[str, str]
    deployments: list[Deployment]
    break_evens: list[BreakEven]
    prices: PriceTable
    usage: Usage
    target_invocations_per_min: float | None

    @property
    def as_deployed(self) -> Deployment:
        return next(d for d in self.deployments if d.as_deployed)

    @property
    def cheapest_deployment(self) -> Deployment:
        return min(self.deployments, key=lambda d: (round(d.total, 6), not d.as_deployed))

    def per_million(self, monthly: float) -> float:
        return monthly / self.photos_per_month * 1e6 if self.photos_per_month else 0.0

    def to_dict(self) -> dict:
        def shape(s: ShapeCost) -> dict:
            return {"key": s.key, "shape": s.shape, "monthly": round(s.total, 6),
                    "per_million_photos": round(self.per_million(s.total), 6),
                    "deployed": s.deployed, "recommended": s.recommended,
                    "cheapest": self.cheapest[s.component] == s.key, "notes": list(s.notes),
                    "detail": s.detail,
                    "lines": [{"item": ln.item, "quantity": ln.quantity, "unit": ln.unit,
                               "unit_price": ln.unit_price, "monthly": round(ln.cost, 6),
                               "price": ln.price_key,
                               "basis": self._basis(ln.price_key)} for ln in s.lines]}
        best = self.cheapest_deployment
        return {
            "photos_per_day": self.photos_per_day, "photos_per_month": self.photos_per_month,
            "region": self.region, "free_tier": self.free_tier,
            "peak_factor": self.usage.peak_factor,
            "realtime_sizing": (f"{self.target_invocations_per_min:g} invocations/instance/min"
                                if self.target_invocations_per_min else
                                f"{self.usage.target_utilization:.0%} of measured capacity"),
            "components": {c: [shape(s) for s in shapes] for c, shapes in self.components.items()},
            "cheapest_per_component": self.cheapest,
            "deployments": [{"name": d.name, "orchestration": d.orchestration,
                             "inference": d.inference, "monthly": round(d.total, 6),
                             "per_million_photos": round(self.per_million(d.total), 6),
                             "as_deployed": d.as_deployed, "cheapest": d == best}
                            for d in self.deployments],
            "as_deployed": {"name": self.as_deployed.name,
                            "monthly": round(self.as_deployed.total, 6)},
            "cheapest_overall": {"name": best.name, "monthly": round(best.total, 6),
                                 "per_million_photos": round(self.per_million(best.total), 6)},
            "break_evens": [{"component": b.component, "a": b.a, "b": b.b,
                             "photos_per_day": b.photos_per_day, "cost_a": b.cost_a,
                             "cost_b": b.cost_b, "cheaper_below": b.cheaper_below,
                             "at_step": b.at_step, "summary": b.summary}
                            for b in self.break_evens],
            "prices": {"read_on": self.prices.read_on, "statement": self.prices.statement,
                       "region_multiplier": self.prices.multiplier,
                       "region_basis": self.prices.region_basis,
                       "items": {k: {"unit_price": self.prices.unit_price(k) if (
                           p.price is not None or p.tiers) else None, "unit": p.unit,
                           "basis": p.basis, "source": p.source}
                           for k, p in self.prices.items.items()},
                       "instances": {k: {"price_per_hour": self.prices.instance_hour(k),
                                         "basis": i.basis, "source": i.source}
                                     for k, i in self.prices.instances.items()}},
            "usage": {name: _provenance(self.usage, name) for name in PROVENANCE
                      if hasattr(self.usage, name)},
        }

    def _basis(self, price_key: str) -> str:
        if price_key.startswith("instance:"):
            return self.prices.instances[price_key.split(":", 1)[1]].basis
        item = self.prices.items.get(price_key)
        return item.basis if item else ""


def cost_report(photos_per_day: float, region: str = "us-east-1", usage: Usage | None = None,
                free_tier: bool = False, target_invocations_per_min: float | None = None,
                with_break_evens: bool = True, ctx: Context | None = None) -> CostReport:
    if photos_per_day < 0:
        raise ValueError("photos per day must not be negative")
    ctx = ctx or context(region, usage, free_tier, target_invocations_per_min)
    comps = {c: shapes_of(ctx, c, photos_per_day) for c in COMPONENTS}
    return CostReport(
        photos_per_day=photos_per_day, photos_per_month=photos_per_month(photos_per_day),
        region=ctx.prices.region, free_tier=ctx.free_tier, components=comps,
        cheapest={c: cheapest(shapes).key for c, shapes in comps.items()},
        deployments=deployments(ctx, photos_per_day, comps),
        break_evens=[break_even(ctx, *pair) for pair in BREAK_EVENS] if with_break_evens else [],
        prices=ctx.prices, usage=ctx.usage,
        target_invocations_per_min=ctx.target_invocations_per_min)


def with_usage(ctx: Context, **changes) -> Context:
    return replace(ctx, usage=replace(ctx.usage, **changes))

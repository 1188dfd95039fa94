"""``scones cost`` and ``scones capacity``: the cost and capacity models on the command line.

    scones cost --photos-per-day N [--region R] [--free-tier] [--peak-factor F]
                [--image-kb KB] [--confident-share P] [--target-invocations N] [--lines]
                [--json FILE|-]
    scones capacity --photos-per-hour N [--peak-factor F] [--region R] [--path upload|batch]
                    [--seed S] [--instance-type T] [--max-instances N] [--max-concurrency N]
                    [--target-invocations N] [--confident-share P]
                    [--quota KEY.FIELD=VALUE] [--json FILE|-]

Tables for people, ``--json`` for machines (``-`` prints only the JSON). The models import
nothing heavy; this module imports them only when a command runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from scones_domain.arguments import probability


def _count(text: str) -> float:
    """A volume: ``100000``, ``100,000``, ``1e5`` or ``100_000``."""
    try:
        value = float(text.replace(",", "").replace("_", ""))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from exc
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return value


def _positive(text: str) -> float:
    """A volume greater than 0 (the domain's rule, on the volume's separators removed)."""
    from scones_domain.arguments import positive_number

    return positive_number(str(_count(text)))


def _quota(text: str) -> tuple[str, float]:
    key, sep, value = text.partition("=")
    if not sep or "." not in key:
        raise argparse.ArgumentTypeError(f"use KEY.FIELD=VALUE, e.g. "
                                         f"sfn_state_transitions.refill_per_s=1500: {text!r}")
    return key, _count(value)


CONFIDENT_SHARE_HELP = ("share of photos at or above the threshold; the rest start a review "
                        "(default: the share `make demo` measured, Usage.confident_share in "
                        "scones/scale/usage.py)")


def register(subparsers) -> None:
    cost = subparsers.add_parser(
        "cost", help="monthly AWS cost of each deployment shape for N photos a day",
        description="Price every component (Step Functions Standard/Express, SageMaker "
        "real-time/serverless/async, Lambda memory sizes, S3, data capture, DynamoDB, "
        "CloudWatch, EventBridge) from the price table in scones/scale/prices.json and the "
        "usage model read from the ASL and the template; mark the cheapest shape per "
        "component and overall, and the break-even volumes.")
    cost.add_argument("--photos-per-day", type=_count, required=True, metavar="N")
    cost.add_argument("--region", default="us-east-1",
                      help="price region (us-east-1 prices x the region's multiplier, "
                      "see prices.json)")
    cost.add_argument("--free-tier", action="store_true",
                      help="subtract the account's monthly free tiers (as if this app "
                      "were alone in the account)")
    cost.add_argument("--peak-factor", type=_positive, default=None, metavar="F",
                      help="busiest hour / average hour, for sizing fleets (default 2)")
    cost.add_argument("--image-kb", type=_positive, default=None, metavar="KB",
                      help="mean photo size (default: the measured 2.8 KB of the 32x32 PNGs)")
    cost.add_argument("--confident-share", type=probability, default=None, metavar="P",
                      help=CONFIDENT_SHARE_HELP)
    cost.add_argument("--target-invocations", type=_positive, default=None, metavar="N",
                      help="size real-time fleets at this autoscaling target (invocations "
                      "per instance per minute; scones deploy's default is 200) instead of "
                      "70%% of measured capacity")
    cost.add_argument("--lines", action="store_true", help="print every priced line")
    cost.add_argument("--json", default=None, metavar="FILE|-",
                      help="write the full report as JSON (- prints only the JSON)")
    cost.set_defaults(func=run_cost)

    cap = subparsers.add_parser(
        "capacity", help="which AWS quota or limit N photos an hour reach first",
        description="Simulate an hour of Poisson arrivals (seeded) against every limit "
        "(StartExecution, state transitions, Lambda concurrency, Distributed Map, EventBridge, "
        "DynamoDB, S3, the endpoint fleet) with the retries of the ASL; print the first limit, "
        "the endpoint instances needed and the quota increases to request.")
    cap.add_argument("--photos-per-hour", type=_count, required=True, metavar="N")
    cap.add_argument("--peak-factor", type=_positive, default=1.0, metavar="F",
                     help="multiply the hour's rate (default 1: N is the hour simulated)")
    cap.add_argument("--region", default="us-east-1")
    cap.add_argument("--path", choices=("upload", "batch"), default="upload",
                     help="uploads through EventBridge (default) or a batch Distributed Map")
    cap.add_argument("--seed", type=int, default=0)
    cap.add_argument("--instance-type", default=None, help="endpoint instance (ml.m5.large)")
    cap.add_argument("--max-instances", type=int, default=None,
                     help="autoscaling maximum (scones deploy's default 4)")
    cap.add_argument("--target-invocations", type=_positive, default=None, metavar="N",
                     help="the autoscaling target to size against (default 200, as deployed)")
    cap.add_argument("--confident-share", type=probability, default=None, metavar="P",
                     help=CONFIDENT_SHARE_HELP)
    cap.add_argument("--max-concurrency", type=int, default=None,
                     help="batch path: the Map's MaxConcurrency (template default 20)")
    cap.add_argument("--quota", type=_quota, action="append", default=[],
                     metavar="KEY.FIELD=VALUE", help="override a quota in quotas.json, e.g. "
                     "sfn_state_transitions.refill_per_s=1500 (repeatable)")
    cap.add_argument("--json", default=None, metavar="FILE|-")
    cap.set_defaults(func=run_capacity)


BREAK_EVEN_NAMES = {
    ("express", "standard"): "Express vs Standard",
    ("serverless", "realtime:ml.m5.large"): "serverless vs the real-time ml.m5.large pair",
    ("async", "realtime:ml.m5.large"): "async vs the real-time ml.m5.large pair",
    ("serverless", "async"): "serverless vs async",
}


# ---- tables ----

def table(headers: list[str], rows: list[list[str]], right: set[int] | None = None) -> str:
    """Aligned columns: left by default, right for the column indexes in ``right``."""
    right = right or set()
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows, strict=True)]

    def fmt(cells: list[str]) -> str:
        return "  ".join(str(c).rjust(w) if i in right else str(c).ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    return "\n".join([fmt(headers), fmt(["-" * w for w in widths]), *map(fmt, rows)])


def money(value: float) -> str:
    if value >= 100:
        return f"${value:,.0f}"
    if value >= 1:
        return f"${value:,.2f}"
    return f"${value:.4f}" if value else "$0"


def _bases(report, shape) -> str:
    found = {report._basis(line.price_key) for line in shape.lines} - {""}
    return "+".join(b for b in ("aws", "third-party", "knowledge") if b in found)


def _write_json(data: dict, target: str | None) -> None:
    if target is None:
        return
    text = json.dumps(data, indent=2, default=str)
    if target == "-":
        print(text)
    else:
        Path(target).write_text(text + "\n")
        print(f"\nwrote {target}")


def render_cost(report, lines: bool = False) -> str:
    u = report.usage
    sizing = (f"{report.target_invocations_per_min:g} invocations/instance/min"
              if report.target_invocations_per_min else
              f"{u.target_utilization:.0%} of measured capacity")
    out = [f"scones cost: {report.photos_per_day:,.0f} photos/day = "
           f"{report.photos_per_month:,.0f} photos/month, {report.region}; fleets sized for the "
           f"busiest hour at {u.peak_factor:g}x the mean, real-time at {sizing}; free tier "
           f"{'applied' if report.free_tier else 'not applied'}", ""]
    rows = []
    for component, shapes in report.components.items():
        for i, s in enumerate(shapes):
            marks = []
            if s.deployed:
                marks.append("deployed")
            if report.cheapest[component] == s.key:
                marks.append("CHEAPEST")
            if not s.recommended:
                marks.append("not advised")
            rows.append([component if i == 0 else "", s.shape, money(s.total),
                         money(report.per_million(s.total)), " ".join(marks), _bases(report, s)])
            if lines:
                for ln in s.lines:
                    rows.append(["", f"  {ln.item}", money(ln.cost), "",
                                 f"{ln.quantity:,.4g} {ln.unit}", ""])
    out.append(table(["component", "shape", "monthly", "per 1M photos", "", "prices"], rows,
                     right={2, 3}))
    if lines:
        out += ["", "notes:"] + [f"  {s.shape}: {n}" for shapes in report.components.values()
                                 for s in shapes for n in s.notes]
    out += ["", "deployment shapes (Lambda, S3, capture, DynamoDB, CloudWatch, EventBridge as "
            "deployed):"]
    best = report.cheapest_deployment
    rows = [[d.name, money(d.total), money(report.per_million(d.total)),
             " ".join(m for m, on in (("as deployed", d.as_deployed), ("CHEAPEST", d == best))
                      if on)]
            for d in sorted(report.deployments, key=lambda d: d.total)]
    out.append(table(["shape", "monthly", "per 1M photos", ""], rows, right={1, 2}))
    dep = report.as_deployed
    out += ["", f"cheapest overall: {best.name}: {money(best.total)}/month, "
            f"{money(report.per_million(best.total))} per million photos "
            f"(as deployed: {money(dep.total)}/month, {money(report.per_million(dep.total))} "
            f"per million)"]
    if report.break_evens:
        out += ["", "break-even volumes:"]
        out += [f"  {BREAK_EVEN_NAMES.get((b.a, b.b), f'{b.a} vs {b.b}')}: {b.summary}"
                for b in report.break_evens]
    out += ["", f"prices: {report.prices.statement}"]
    if report.prices.multiplier != 1.0 or report.prices.overrides:
        out.append(f"region {report.region}: x{report.prices.multiplier:g} "
                   f"(basis {report.prices.region_basis}); {report.prices.region_note}")
    return "\n".join(out)


def render_capacity(report) -> str:
    from scones.scale.capacity import QUEUE_OK_S

    out = [f"scones capacity: {report.photos_per_hour:,.0f} photos/hour x peak factor "
           f"{report.peak_factor:g} = {report.rate_per_s:,.1f} photos/s, {report.region}, "
           f"{report.path} path; simulated hour (seed {report.seed}): "
           f"{report.arrivals_total:,} photos, busiest second {report.arrivals_peak_s:,}; "
           f"{report.confident_share:.1%} confident (the rest start a review)", ""]
    rows = []
    for r in report.results:
        lim = r.limit
        rate = (f"{lim.refill_per_s:,.0f} at once" if lim.unit.endswith("-seconds")
                else f"{lim.refill_per_s:,.0f}/s")
        rows.append([lim.name, "quota" if lim.kind == "quota" else "config", rate,
                     f"{lim.per_photo:.4g} {lim.unit}",
                     f"{r.sustainable_photos_per_hour:,.0f}", f"{r.headroom:,.2f}x", r.status,
                     f"{r.sim.max_wait_s:,.1f}", f"{r.sim.refused:,.0f}",
                     f"{r.sim.failed:,.0f}"])
    out.append(table(["limit", "kind", "rate", "per photo", "sustainable photos/h", "headroom",
                      "this hour", "max wait s", "refused", "failed"], rows,
                     right={2, 4, 5, 7, 8, 9}))
    first, quota = report.first_limit, report.first_quota
    out += ["", f"first limit: {first.limit.name} at {first.sustainable_photos_per_hour:,.0f} "
            f"photos/h ({first.headroom:,.2f}x this load)"]
    if quota is not first:
        out.append(f"first AWS quota: {quota.limit.name} at "
                   f"{quota.sustainable_photos_per_hour:,.0f} photos/h ({quota.headroom:,.2f}x)")
    reached = [r for r in report.results if r.reached]
    if reached:
        out.append("reached this hour: " + "; ".join(
            f"{r.limit.name}: {r.sim.refused:,.0f} refused, {r.sim.failed:,.0f} failed after "
            f"the retries, waits up to {r.sim.max_wait_s:,.0f} s, first at second "
            f"{r.sim.first_refused_s}" for r in reached))
    else:
        out.append(f"reached this hour: none (no call refused, no queue over "
                   f"{QUEUE_OK_S:g} s)")
    e = report.endpoint
    out.append(f"endpoint: {e.for_capacity} x {e.instance_type} at {e.utilization:.0%} of the "
               f"measured {e.capacity_per_instance:.0f} img/s each; the autoscaling target "
               f"{e.deploy_target_per_min:g}/instance/min runs {e.at_deploy_target} "
               f"(max {e.max_instances}); a target of {e.recommended_target_per_min}/min sizes by "
               f"capacity")
    if report.increases:
        out.append("quota increases to request (peak hour x 1.25):")
        out += [f"  {i.name}: {i.current:,.0f} -> {i.request:,.0f} {i.unit} ({i.service_quota})"
                for i in report.increases]
    else:
        out.append("quota increases to request: none (every quota has 25% headroom)")
    out += [f"note: {n}" for n in report.notes]
    return "\n".join(out)


# ---- commands ----

def run_cost(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from scones.scale.cost import context, cost_report, regions
    from scones.scale.usage import Usage

    if args.region not in regions():
        print(f"error: no prices for {args.region}; known: {', '.join(regions())}",
              file=sys.stderr)
        return 2
    changes = {k: v for k, v in {
        "peak_factor": args.peak_factor,
        "image_bytes": args.image_kb * 1024 if args.image_kb else None,
        "confident_share": args.confident_share}.items() if v is not None}
    usage = replace(Usage(), **changes)
    ctx = context(args.region, usage, args.free_tier, args.target_invocations)
    report = cost_report(args.photos_per_day, ctx=ctx)
    if args.json != "-":
        print(render_cost(report, args.lines))
    _write_json(report.to_dict(), args.json)
    return 0


def run_capacity(args: argparse.Namespace) -> int:
    from scones.scale.capacity import Fleet, capacity_report
    from scones.scale.cost import DEPLOYED_INSTANCE, context, regions
    from scones.scale.usage import Usage

    if args.region not in regions():
        print(f"error: no quotas/prices for {args.region}; known: {', '.join(regions())}",
              file=sys.stderr)
        return 2
    usage = Usage() if args.confident_share is None else Usage(
        confident_share=args.confident_share)
    ctx = context(args.region, usage)
    instance = args.instance_type or DEPLOYED_INSTANCE
    if instance not in ctx.prices.instances:
        print(f"error: unknown instance type {instance}; known: "
              f"{', '.join(ctx.prices.instances)}", file=sys.stderr)
        return 2
    fleet = Fleet(instance_type=instance, max_instances=args.max_instances,
                  target_invocations_per_min=args.target_invocations,
                  max_concurrency=args.max_concurrency)
    try:
        report = capacity_report(args.photos_per_hour, args.peak_factor, args.region, args.path,
                                 args.seed, fleet, dict(args.quota), ctx=ctx)
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2
    if args.json != "-":
        print(render_capacity(report))
    _write_json(report.to_dict(), args.json)
    return 0

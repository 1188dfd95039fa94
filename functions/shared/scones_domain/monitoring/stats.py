"""Statistics over captured inferences, in pure Python (``scones monitor`` and the Lambda).

- :func:`psi`: population stability index with bins at the baseline's quantiles.
- :func:`ks_2samp`: two-sample Kolmogorov-Smirnov statistic D and its asymptotic p-value
  (Kolmogorov distribution with Stephens' small-sample correction, as in Numerical Recipes).
- :func:`chi_square`: Pearson goodness-of-fit of observed counts against expected shares, with
  the p-value from the regularized upper incomplete gamma function.
- :func:`summarize`: counts, share above threshold, mean confidence, per-label counts.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

from scones_domain.predictions import meets_threshold

PSI_EPSILON = 1e-4  # floor for empty bins so that log() stays finite


def _sorted_floats(values: Sequence[float]) -> list[float]:
    return sorted(float(v) for v in values)


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile of already sorted values (numpy's default method)."""
    if not sorted_values:
        raise ValueError("quantile of an empty sample")
    pos = (len(sorted_values) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def psi_bins(n_smaller: int) -> int:
    """Bins for PSI: one per 25 values of the smaller sample, between 2 and 10.

    PSI of two samples of one distribution is biased upwards by about (bins - 1) * (1/n + 1/N);
    ten bins on a 30-inference window would read ~0.3 (over the 0.25 limit) with no drift.
    """
    return max(2, min(10, n_smaller // 25))


def psi(expected: Sequence[float], actual: Sequence[float], bins: int | None = None) -> float:
    """Population stability index of ``actual`` against ``expected``.

    Bin edges are the expected sample's quantiles (duplicates merged, so a sample with many
    ties gets fewer bins); the outer bins are open. PSI = sum((a - e) * ln(a / e)).
    ``bins`` defaults to :func:`psi_bins` of the smaller sample.
    """
    exp_sorted = _sorted_floats(expected)
    act_sorted = _sorted_floats(actual)
    if not exp_sorted or not act_sorted:
        raise ValueError("psi needs two non-empty samples")
    bins = bins or psi_bins(min(len(exp_sorted), len(act_sorted)))
    edges = sorted({quantile(exp_sorted, i / bins) for i in range(1, bins)})

    def shares(sample: list[float]) -> list[float]:
        counts = [0] * (len(edges) + 1)
        for v in sample:
            counts[bisect.bisect_right(edges, v)] += 1
        return [max(c / len(sample), PSI_EPSILON) for c in counts]

    e, a = shares(exp_sorted), shares(act_sorted)
    return sum((ai - ei) * math.log(ai / ei) for ai, ei in zip(a, e, strict=True))


def kolmogorov_sf(x: float) -> float:
    """P(K > x) for the Kolmogorov distribution."""
    if x < 0.2:
        return 1.0
    total = 0.0
    for k in range(1, 101):
        term = 2.0 * (-1) ** (k - 1) * math.exp(-2.0 * k * k * x * x)
        total += term
        if abs(term) < 1e-12:
            break
    return min(max(total, 0.0), 1.0)


def ks_2samp(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """(D, p-value) of the two-sample Kolmogorov-Smirnov test (asymptotic p-value)."""
    xa, xb = _sorted_floats(a), _sorted_floats(b)
    n, m = len(xa), len(xb)
    if not n or not m:
        raise ValueError("ks_2samp needs two non-empty samples")
    d = 0.0
    for v in sorted(set(xa) | set(xb)):
        cdf_a = bisect.bisect_right(xa, v) / n
        cdf_b = bisect.bisect_right(xb, v) / m
        d = max(d, abs(cdf_a - cdf_b))
    en = math.sqrt(n * m / (n + m))
    return d, kolmogorov_sf((en + 0.12 + 0.11 / en) * d)


def _gamma_p_series(s: float, x: float) -> float:
    term = total = 1.0 / s
    ap = s
    for _ in range(1000):
        ap += 1.0
        term *= x / ap
        total += term
        if abs(term) < abs(total) * 1e-15:
            break
    return total * math.exp(-x + s * math.log(x) - math.lgamma(s))


def _gamma_q_fraction(s: float, x: float) -> float:
    # Lentz's continued fraction for Q(s, x), valid for x >= s + 1.
    tiny = 1e-300
    b = x + 1.0 - s
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 1000):
        an = -i * (i - s)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return math.exp(-x + s * math.log(x) - math.lgamma(s)) * h


def gamma_q(s: float, x: float) -> float:
    """Regularized upper incomplete gamma Q(s, x) = 1 - P(s, x)."""
    if x <= 0:
        return 1.0
    if x < s + 1.0:
        return max(0.0, 1.0 - _gamma_p_series(s, x))
    return _gamma_q_fraction(s, x)


def chi2_sf(statistic: float, dof: int) -> float:
    """P(X > statistic) for a chi-square distribution with ``dof`` degrees of freedom."""
    if dof < 1:
        raise ValueError("chi-square needs at least one degree of freedom")
    return gamma_q(dof / 2.0, statistic / 2.0)


def chi_square(
    observed: Sequence[int], expected_shares: Sequence[float]
) -> tuple[float, float, int]:
    """(statistic, p-value, degrees of freedom): observed counts vs expected shares.

    Expected shares are floored at ``PSI_EPSILON`` and renormalized, so a label the baseline
    never predicted still gets a finite (very large) statistic when it appears.
    """
    if len(observed) != len(expected_shares):
        raise ValueError("observed counts and expected shares differ in length")
    n = sum(observed)
    if n == 0:
        raise ValueError("chi-square of an empty window")
    floored = [max(float(s), PSI_EPSILON) for s in expected_shares]
    total = sum(floored)
    expected = [n * s / total for s in floored]
    statistic = sum((o - e) ** 2 / e for o, e in zip(observed, expected, strict=True))
    dof = len(observed) - 1
    return statistic, chi2_sf(statistic, dof), dof


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def summarize(rows: Sequence, labels: Sequence[str], threshold: float) -> dict:
    """Machine summary of inference rows (objects with ``label``, ``confidence``, ``time``)."""
    n = len(rows)
    counts = {label: 0 for label in labels}
    above = {label: 0 for label in labels}
    for row in rows:
        counts[row.label] = counts.get(row.label, 0) + 1
        if meets_threshold(row.confidence, threshold):
            above[row.label] = above.get(row.label, 0) + 1
    n_above = sum(above.values())
    confidences = [row.confidence for row in rows]
    return {
        "n_records": n,
        "threshold": threshold,
        "n_above_threshold": n_above,
        "share_above_threshold": n_above / n if n else None,
        "share_below_threshold": (n - n_above) / n if n else None,
        "mean_confidence": mean(confidences),
        "label_counts": counts,
        "label_counts_above_threshold": above,
        "label_shares": {k: v / n for k, v in counts.items()} if n else {},
        "first_time": min(r.time for r in rows).isoformat() if rows else None,
        "last_time": max(r.time for r in rows).isoformat() if rows else None,
    }

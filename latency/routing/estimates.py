"""Live latency estimates per model and endpoint: the catalog's priors, corrected by the recent
request traces every worker writes to PostgreSQL, read through a per-process copy (~2 s old).

The medians of recent traces scale the priors' whole distribution: a median is barely moved by
hedging (which cuts off only the slowest ~10% of attempts), so the hedge delay cannot drift down
by feeding on its own success. Observed P95s can only raise the prediction, never lower it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from django.utils import timezone

from latency.core.snapshot import Snapshot
from latency.models import RequestTrace
from latency.providers.catalog import Endpoint, LatencyPriors, ModelSpec

REFRESH_S = 2.0
WINDOW = timedelta(minutes=15)
MAX_ROWS = 5000
MAX_SAMPLES = 500  # per model and endpoint: the most recent ones
PRIOR_WEIGHT = 20.0  # a prior counts as this many traces
DEFAULT_RTT_MS = 100.0

# For a model the catalog gives no priors for: its tier's typical figures.
TIER_PRIORS: dict[str, LatencyPriors] = {
    "ultra-fast": LatencyPriors(200, 290, 350, 420, 600),
    "fast": LatencyPriors(400, 580, 700, 760, 1100),
    "standard": LatencyPriors(800, 1150, 1400, 1400, 2100),
    "slow": LatencyPriors(2600, 4400, 5400, 3400, 6200),
}


@dataclass(frozen=True)
class Observed:
    """What recent traces say about one model at one endpoint, in ms."""

    samples: int
    ttft_p50_ms: float
    ttft_p95_ms: float
    total_p50_ms: float
    total_p95_ms: float


@dataclass(frozen=True)
class Estimate:
    """The predicted latency of one model at one endpoint, network included, in ms."""

    ttft_p50_ms: float
    ttft_p90_ms: float
    ttft_p95_ms: float
    total_p95_ms: float
    rtt_ms: float
    samples: int


def observations_summarise(
    *, rows: list[tuple[str, str, float, float]]
) -> dict[tuple[str, str], Observed]:
    """(model, endpoint, TTFT, total) rows of winning attempts, newest first, into percentiles."""
    grouped: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for model, endpoint, ttft_ms, total_ms in rows:
        samples = grouped[(model, endpoint)]
        if len(samples) < MAX_SAMPLES:
            samples.append((ttft_ms, total_ms))
    observed = {}
    for key, samples in grouped.items():
        array = np.asarray(samples, dtype=float)
        ttft = np.percentile(array[:, 0], [50, 95])
        total = np.percentile(array[:, 1], [50, 95])
        observed[key] = Observed(
            samples=len(samples),
            ttft_p50_ms=float(ttft[0]),
            ttft_p95_ms=float(ttft[1]),
            total_p50_ms=float(total[0]),
            total_p95_ms=float(total[1]),
        )
    return observed


async def _observations_load() -> dict[tuple[str, str], Observed]:
    recent = (
        RequestTrace.objects.filter(
            created_at__gte=timezone.now() - WINDOW,
            status=RequestTrace.Status.OK,
            upstream_ttft_ms__isnull=False,
            ttft_ms__isnull=False,
            total_ms__isnull=False,
        )
        .order_by("-id")
        .values_list("model", "endpoint", "upstream_ttft_ms", "ttft_ms", "total_ms")
    )
    # The winning attempt's own total: its first token plus the generation. Time lost before it
    # started (a failed endpoint, the hedge delay, the cache lookup) is not this endpoint's doing.
    rows = [
        (model, endpoint, upstream_ttft, upstream_ttft + total - ttft)
        async for model, endpoint, upstream_ttft, ttft, total in recent[:MAX_ROWS]
    ]
    return observations_summarise(rows=rows)


_observations: Snapshot[dict[tuple[str, str], Observed]] = Snapshot(
    load=_observations_load, refresh_s=REFRESH_S
)


async def observations_get() -> dict[tuple[str, str], Observed]:
    return await _observations.get()


def observations_forget() -> None:
    _observations.forget()


def rtt_estimate(*, endpoint: Endpoint, probed_ms: float | None) -> float:
    """The catalog's round trip for the endpoint's region is a floor: a probe can only show the
    path is worse than the geography implies (a simulator on localhost cannot undercut it)."""
    prior = endpoint.rtt_ms if endpoint.rtt_ms is not None else DEFAULT_RTT_MS
    return max(prior, probed_ms) if probed_ms is not None else prior


def estimate_make(
    *, model: ModelSpec, endpoint: Endpoint, observed: Observed | None, rtt_ms: float
) -> Estimate:
    priors = model.priors or TIER_PRIORS.get(model.tier, TIER_PRIORS["standard"])
    weight = observed.samples / (observed.samples + PRIOR_WEIGHT) if observed else 0.0

    def blend(prior_ms: float, observed_ms: float | None) -> float:
        return prior_ms if observed_ms is None else (1 - weight) * prior_ms + weight * observed_ms

    ttft_p50 = blend(priors.ttft_p50_ms + rtt_ms, observed and observed.ttft_p50_ms)
    ttft_scale = ttft_p50 / (priors.ttft_p50_ms + rtt_ms)
    total_p50 = blend(priors.total_p50_ms + rtt_ms, observed and observed.total_p50_ms)
    total_scale = total_p50 / (priors.total_p50_ms + rtt_ms)
    ttft_p95 = (priors.ttft_p95_ms + rtt_ms) * ttft_scale
    total_p95 = (priors.total_p95_ms + rtt_ms) * total_scale
    if observed is not None:
        ttft_p95 = max(ttft_p95, blend(priors.ttft_p95_ms + rtt_ms, observed.ttft_p95_ms))
        total_p95 = max(total_p95, blend(priors.total_p95_ms + rtt_ms, observed.total_p95_ms))
    return Estimate(
        ttft_p50_ms=round(ttft_p50, 1),
        ttft_p90_ms=round((priors.ttft_p90_ms + rtt_ms) * ttft_scale, 1),
        ttft_p95_ms=round(ttft_p95, 1),
        total_p95_ms=round(total_p95, 1),
        rtt_ms=round(rtt_ms, 1),
        samples=observed.samples if observed else 0,
    )

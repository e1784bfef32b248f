"""The staff dashboard: one window of traces as exact statistics beside each feature's budget,
the recent requests, and one request as a waterfall of its stages."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

from asgiref.sync import sync_to_async
from django.db import close_old_connections, connections
from django.utils import timezone

from latency.dashboard.learning import CacheLearning, cache_learning_summary
from latency.dashboard.queries import WINDOWS, Window, window_samples
from latency.dashboard.stats import (
    Group,
    Grouper,
    HistogramBar,
    SeriesPoint,
    Stats,
    breakdowns_compute,
    histogram_compute,
    paths_compute,
    series_compute,
)
from latency.models import FeatureBudget, RequestTrace

RECENT = 25
RECENT_FIELDS = (
    "id", "created_at", "feature", "model", "region", "endpoint", "cache_outcome", "ttft_ms",
    "total_ms", "status", "fallbacks", "hedged",
)  # fmt: skip
# The pipeline's stages before the model's first token, in the order they run (for traces
# written before each stage's start was recorded).
PRELUDE = (
    "routing", "exact_cache", "embed", "semantic_lookup", "retrieval", "compression",
)  # fmt: skip
SUBSTAGES = {"retrieval": ("retrieval_embed", "retrieval_search")}


@dataclass(frozen=True)
class Row:
    """A breakdown row beside its feature's budget (when the row belongs to one feature)."""

    keys: dict[str, str]
    stats: Stats
    budget: FeatureBudget | None = None

    @property
    def p95_over(self) -> bool | None:
        p95 = self.stats.total_p[1]
        return None if self.budget is None or p95 is None else p95 > self.budget.p95_ms

    @property
    def ttft_over(self) -> bool | None:
        ttft = self.stats.ttft_p[1]
        if self.budget is None or self.budget.ttft_ms is None or ttft is None:
            return None
        return ttft > self.budget.ttft_ms


@dataclass(frozen=True)
class Dashboard:
    window: Window
    start: datetime
    end: datetime
    overall: Stats
    breakdowns: dict[str, list[Row]]
    paths: list[Row]
    series: list[SeriesPoint]
    histogram: list[HistogramBar]
    recent: list[RequestTrace]
    budgets: dict[str, FeatureBudget]
    learning: CacheLearning | None = None
    elapsed_ms: float = 0.0
    windows: dict[str, Window] = field(default_factory=lambda: WINDOWS)


def _rows(groups: list[Group], budgets: dict[str, FeatureBudget]) -> list[Row]:
    return [Row(g.keys, g.stats, budgets.get(g.keys.get("feature", ""))) for g in groups]


def dashboard_build(
    *, window_key: str = "1h", now: datetime | None = None, using: str = "default"
) -> Dashboard:  # fmt: skip
    """Everything the page shows for one window: a few milliseconds of SQL and numpy."""
    began = time.perf_counter()
    window = WINDOWS.get(window_key, WINDOWS["1h"])
    start, end = window.bounds(now=now or timezone.now())
    samples = window_samples(start=start, end=end, bucket_seconds=window.bucket_seconds,
                             using=using)  # fmt: skip
    budgets = {b.feature: b for b in FeatureBudget.objects.using(using).all()}
    grouper = Grouper(samples, window.seconds)  # sorts the latencies once for all below
    breakdowns = {
        name: _rows(groups, budgets)
        for name, groups in breakdowns_compute(
            samples=samples, seconds=window.seconds, grouper=grouper
        ).items()
    }
    recent = list(
        RequestTrace.objects.using(using).only(*RECENT_FIELDS).order_by("-created_at")[:RECENT]
    )
    return Dashboard(
        window=window, start=start, end=end, overall=breakdowns["all"][0].stats,
        breakdowns=breakdowns,
        paths=_rows(paths_compute(samples=samples, seconds=window.seconds, grouper=grouper),
                    budgets),
        series=series_compute(samples=samples, grouper=grouper),
        histogram=histogram_compute(samples=samples), recent=recent, budgets=budgets,
        learning=cache_learning_summary(using=using),
        elapsed_ms=(time.perf_counter() - began) * 1000,
    )  # fmt: skip


def sync_in_own_thread(function):  # noqa: ANN001, ANN202
    """Run a sync ORM function off the event loop in a worker thread of its own, not on the
    one thread that every async ORM call of this process shares: a dashboard query must not
    queue up the chat's database calls. The thread's connection goes back to the pool."""

    def run(*args: object, **kwargs: object) -> object:
        close_old_connections()
        try:
            return function(*args, **kwargs)
        finally:
            connections.close_all()

    return sync_to_async(run, thread_sensitive=False)


dashboard_build_async = sync_in_own_thread(dashboard_build)


@dataclass(frozen=True)
class Bar:
    name: str
    start_ms: float
    ms: float
    depth: int = 0

    def left(self, total_ms: float) -> float:
        return 100 * min(self.start_ms / total_ms, 1) if total_ms else 0

    def width(self, total_ms: float) -> float:
        if not total_ms:
            return 0
        return max(100 * min(self.ms / total_ms, 1 - self.left(total_ms) / 100), 0.3)


def trace_waterfall(*, trace: RequestTrace) -> list[Bar]:
    """The stages of one request where they ran (each from its recorded start), then the wait
    for the first token and the generation; sub-stages (retrieval's embed and search) sit under
    their stage. Older traces without starts are laid end to end in the pipeline's order."""
    stages = dict(trace.stages or {})
    starts = dict(trace.stage_starts or {})
    subs = {s for names in SUBSTAGES.values() for s in names}
    names = [n for n in stages if n not in subs and n != "generation"]
    if all(n in starts for n in names):
        order = sorted(names, key=lambda n: (float(starts[n]), n))
    else:
        order = [*[n for n in PRELUDE if n in stages], *sorted(set(names) - set(PRELUDE))]
    bars, clock = [], 0.0
    for name in order:
        begin = float(starts.get(name, clock))
        bars.append(Bar(name, begin, float(stages[name])))
        offset = begin
        for sub in SUBSTAGES.get(name, ()):
            if sub in stages:
                bars.append(Bar(sub, offset, float(stages[sub]), depth=1))
                offset += float(stages[sub])
        clock = max(clock, begin + float(stages[name]))
    if trace.ttft_ms is not None:
        bars.append(Bar("first token (TTFT)", clock, max(trace.ttft_ms - clock, 0)))
        clock = max(clock, trace.ttft_ms)
    if trace.total_ms is not None and trace.total_ms > clock:
        label = "generation" if trace.ttft_ms is not None else "until the end"
        bars.append(Bar(label, clock, trace.total_ms - clock))
    return bars


async def trace_get(*, trace_id: int) -> RequestTrace | None:
    return await RequestTrace.objects.filter(id=trace_id).afirst()

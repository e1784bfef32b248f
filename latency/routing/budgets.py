"""Latency budgets per feature: FeatureBudget rows that staff edit in the admin, read through a
per-process copy refreshed every ~2 s; the defaults below cover a feature without a row."""

from __future__ import annotations

from dataclasses import dataclass

from latency.core.snapshot import Snapshot
from latency.models import FeatureBudget

REFRESH_S = 2.0


@dataclass(frozen=True)
class Budget:
    feature: str
    p95_ms: float
    ttft_ms: float | None = None  # a P95 time-to-first-token budget, when the feature has one


# The budgets, also seeded as rows by migration 0007.
DEFAULT_BUDGETS: dict[str, Budget] = {
    "chat": Budget("chat", p95_ms=1000.0, ttft_ms=500.0),
    "search": Budget("search", p95_ms=2000.0),
    "background": Budget("background", p95_ms=10000.0),
}


async def _budgets_load() -> dict[str, Budget]:
    budgets = dict(DEFAULT_BUDGETS)
    async for row in FeatureBudget.objects.all():
        budgets[row.feature] = Budget(row.feature, p95_ms=row.p95_ms, ttft_ms=row.ttft_ms)
    return budgets


_budgets: Snapshot[dict[str, Budget]] = Snapshot(load=_budgets_load, refresh_s=REFRESH_S)


async def budgets_get() -> dict[str, Budget]:
    """Every feature's budget (the dashboard shows them beside the measured figures)."""
    return await _budgets.get()


async def budget_get(*, feature: str) -> Budget:
    budgets = await budgets_get()
    return budgets.get(feature) or budgets["chat"]


def budgets_forget() -> None:
    _budgets.forget()


def duration_text(ms: float) -> str:
    """`1.4 s`, `1 s`, `580 ms`: how budgets and predictions read in a decision."""
    if ms >= 1000:
        return f"{ms / 1000:.1f}".removesuffix(".0") + " s"
    return f"{ms:.0f} ms"

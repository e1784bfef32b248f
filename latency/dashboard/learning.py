"""What the cache has learned from people's verdicts (latency.cache.labels): how many entries have
a threshold of their own, the observed error rate of cached answers against δ, and the entries
with the most verdicts. Over the live entries' verdicts and every staff deletion, not the
dashboard's window; each read goes through a partial index of the few rows concerned."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q, Sum

from latency.models import CacheEntry, CacheLabel, StrategySettings

TOP = 8


@dataclass(frozen=True)
class CacheLearning:
    error_bound: float
    gate: float
    labels: int  # verdicts on live entries' semantic hits, and staff deletions
    wrong: int
    staff_deletions: int
    learned_entries: int  # entries with a threshold above the global one
    top: list[CacheEntry]

    @property
    def error_rate(self) -> float | None:
        return self.wrong / self.labels if self.labels else None

    @property
    def over_bound(self) -> bool:
        return self.error_rate is not None and self.error_rate > self.error_bound


def cache_learning_summary(*, using: str = "default") -> CacheLearning:
    row = StrategySettings.objects.using(using).order_by("id").first() or StrategySettings()
    labelled = CacheEntry.objects.using(using).filter(label_count__gt=0)
    counts = labelled.aggregate(
        labels=Sum("label_count", default=0), wrong=Sum("label_wrong", default=0),
        learned=Count("id", filter=Q(learned_threshold__isnull=False)),
    )  # fmt: skip
    staff = CacheLabel.objects.using(using).filter(source=CacheLabel.Source.STAFF).count()
    top = list(
        labelled.only("id", "query", "learned_threshold", "label_count", "label_wrong")
        .order_by("-label_count", "-id")[:TOP]
    )
    return CacheLearning(
        error_bound=row.cache_error_bound, gate=row.semantic_threshold,
        labels=counts["labels"] + staff, wrong=counts["wrong"] + staff, staff_deletions=staff,
        learned_entries=counts["learned"], top=top,
    )  # fmt: skip

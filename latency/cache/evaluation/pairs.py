"""`cache_eval`: store an answer for each pair's `a`, look up its `b` in a fresh scope, through
the real cache (PostgreSQL + pgvector, verification, the current strategy settings)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from latency.cache.evaluation.calibrate import CachePair, CacheRates, pairs_served, rates_measure
from latency.cache.normalize import query_normalize
from latency.cache.scope import cache_scope_build
from latency.cache.service import cache_lookup
from latency.cache.store import cache_store
from latency.embeddings.service import query_embed
from latency.models import CacheEntry, StrategySettings
from latency.observability.tracing import TraceRecorder


@dataclass(frozen=True)
class PairOutcome:
    pair: CachePair
    served: bool
    tier: str
    similarity: float | None
    note: str
    reason: str = ""  # the verdict's code, or "hit" / "exact"

    @property
    def correct(self) -> bool:
        return self.served == self.pair.same


async def pairs_evaluate(
    *, pairs: Sequence[CachePair], settings: StrategySettings, on_progress=None  # noqa: ANN001
) -> list[PairOutcome]:
    run = uuid.uuid4().hex[:12]
    outcomes: list[PairOutcome] = []
    scope_keys: list[str] = []
    try:
        for index, pair in enumerate(pairs):
            scope = cache_scope_build(
                model_scope=f"cache-eval:{run}:{index}", feature="eval",
                messages=[{"role": "user", "content": pair.cached}], owner_id=None,
            )  # fmt: skip
            scope_keys.append(scope.key)
            await cache_store(
                scope=scope, query=pair.cached, normalized=query_normalize(text=pair.cached),
                embedding=await query_embed(text=pair.cached), response=f"answer to {pair.cached}",
                model="cache-eval", source_documents=[], ttl_s=3600,
            )  # fmt: skip
            trace = TraceRecorder(received_at=time.perf_counter(), feature="eval", source="eval")
            lookup = await cache_lookup(
                query=pair.asked, scope=scope, settings=settings, trace=trace
            )
            outcomes.append(
                PairOutcome(
                    pair=pair,
                    served=lookup.hit is not None,
                    tier=lookup.hit.tier if lookup.hit else "miss",
                    similarity=lookup.best_similarity,
                    note=str(trace.values.get("cache_note", "")),
                    reason=_reason_of(lookup, str(trace.values.get("cache_note", ""))),
                )
            )
            if on_progress:
                on_progress(index + 1, len(pairs))
    finally:
        await CacheEntry.objects.filter(scope_key__in=scope_keys).adelete()
    return outcomes


def _reason_of(lookup: object, note: str) -> str:
    if lookup.hit is not None:
        return lookup.hit.tier
    if note.startswith("rejected ("):
        return note[len("rejected (") :].split(")")[0]
    return "similarity"


def rates_by_source(*, outcomes: Sequence[PairOutcome], threshold: float) -> dict[str, CacheRates]:
    sources = sorted({o.pair.source for o in outcomes})
    table = {
        source: rates_of(outcomes=[o for o in outcomes if o.pair.source == source],
                         threshold=threshold)  # fmt: skip
        for source in sources
    }
    table["all"] = rates_of(outcomes=outcomes, threshold=threshold)
    return table


def false_hits_explain(*, outcomes: Sequence[PairOutcome]) -> list[tuple[PairOutcome, str]]:
    """Each false hit with its class: the rules' codes the model overrode, or (none fired)
    the feature that pushed it through."""
    from latency.cache.evaluation.calibrate import pairs_judge

    wrong = [o for o in outcomes if o.served and not o.pair.same]
    judgements = pairs_judge(pairs=[o.pair for o in wrong], explain=True)
    explained = []
    for outcome, judgement in zip(wrong, judgements, strict=True):
        if outcome.tier == "exact":
            explained.append((outcome, "exact repeat (normalised text)"))
            continue
        soft = [code for code in judgement.codes if code != "wording"]
        label = f"model overrode {'+'.join(soft)}" if soft else "no rule fired"
        explained.append((outcome, f"{label}; leading feature {judgement.leading_feature}"))
    return explained


def rates_of(*, outcomes: Sequence[PairOutcome], threshold: float) -> CacheRates:
    return rates_measure(
        pairs=[o.pair for o in outcomes], served=[o.served for o in outcomes], threshold=threshold
    )


def threshold_sweep(
    *, outcomes: Sequence[PairOutcome], thresholds: Sequence[float], verified: bool
) -> list[CacheRates]:
    """What the same pairs would give at other thresholds (similarities as measured here)."""
    from latency.cache.evaluation.calibrate import pairs_judge

    pairs = [o.pair for o in outcomes]
    similarities = [o.similarity if o.similarity is not None else -1.0 for o in outcomes]
    judgements = pairs_judge(pairs=pairs) if verified else None
    return [
        rates_measure(
            pairs=pairs,
            served=pairs_served(
                pairs=pairs, similarities=similarities, threshold=t, verified=verified,
                judgements=judgements,
            ),
            threshold=t,
        )
        for t in thresholds
    ]  # fmt: skip

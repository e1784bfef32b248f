"""CacheEntry rows in PostgreSQL: exact and semantic lookups, storing, hits, invalidation.

The semantic lookup uses the HNSW cosine index with pgvector 0.8's iterative index scan, so a
scope filter that matches few rows still returns its nearest neighbours.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from latency.cache.scope import CacheScope
from latency.core.db_async import async_fetchall
from latency.models import CacheEntry


@dataclass(frozen=True)
class CacheCandidate:
    entry_id: int
    query: str
    response: str
    model: str
    similarity: float
    # The stored question's vector (semantic lookups only), for the verifier's model.
    embedding: np.ndarray | None = field(default=None, compare=False, repr=False)
    # The entry's own threshold, learned from verdicts on its hits (labels.py); semantic only.
    learned_threshold: float | None = None


async def cache_exact_get(*, scope: CacheScope, normalized: str) -> CacheCandidate | None:
    entry = (
        await CacheEntry.objects.filter(
            scope_key=scope.key, query_normalized=normalized, expires_at__gt=timezone.now()
        )
        .order_by("-id")
        .afirst()
    )
    if entry is None:
        return None
    return CacheCandidate(entry.id, entry.query, entry.response, entry.model, 1.0)


# Up to this many entries in a scope, an exact scan of them (through the scope index) is both
# fast and exact; past it, HNSW with iterative scans. A graph search filtered to a few rows
# walks most of the graph and still misses neighbours. `latency_bench cache` measures both.
SEMANTIC_EXACT_MAX = 2000
SEMANTIC_EF_SEARCH = settings.HNSW_EF_SEARCH  # set per connection, with relaxed iterative scans

# One statement, no transaction: the scope's size (counted up to the cut-off through the scope
# index) decides which branch runs; the other is skipped by a one-time filter, kept above each
# branch's LIMIT so that a skipped branch never even starts (a parallel scan would launch its
# workers first). `+ 0` keeps the exact branch off the HNSW index. The vector is sent once.
# The candidates' own vectors (for the verifier) are read after the LIMIT, by id: as text in
# the branches they were converted for every row the exact scan sorted (7x slower at 1,000).
# The entry's learned threshold comes with them, from the same row.
SEMANTIC_SQL = """
WITH asked AS MATERIALIZED (SELECT %(v)s::vector AS v),
scope_size AS (
    SELECT count(*) AS n FROM (
        SELECT 1 FROM latency_cacheentry WHERE scope_key = %(scope)s LIMIT %(cap)s
    ) capped
)
SELECT c.id, c.query, c.response, c.model, c.similarity, e.embedding::text, e.learned_threshold
FROM (
    SELECT * FROM (
        SELECT id, query, response, model, 1 - (embedding <=> (SELECT v FROM asked)) AS similarity
        FROM latency_cacheentry WHERE scope_key = %(scope)s AND expires_at > now()
        ORDER BY (embedding <=> (SELECT v FROM asked)) + 0 LIMIT %(limit)s
    ) exact WHERE (SELECT n FROM scope_size) < %(cap)s
    UNION ALL
    SELECT * FROM (
        SELECT id, query, response, model, 1 - (embedding <=> (SELECT v FROM asked)) AS similarity
        FROM latency_cacheentry WHERE scope_key = %(scope)s AND expires_at > now()
        ORDER BY embedding <=> (SELECT v FROM asked) LIMIT %(limit)s
    ) graph WHERE (SELECT n FROM scope_size) >= %(cap)s
) c JOIN latency_cacheentry e ON e.id = c.id
"""


def semantic_params(
    *, scope_key: str, embedding: np.ndarray, limit: int, exact_max: int = SEMANTIC_EXACT_MAX
) -> dict[str, object]:
    """SEMANTIC_SQL's parameters; a larger `exact_max` makes bigger scopes take the exact scan."""
    vector = CacheEntry._meta.get_field("embedding").get_prep_value(embedding)
    return {"scope": scope_key, "cap": exact_max + 1, "limit": limit, "v": vector}


async def cache_semantic_candidates(
    *, scope: CacheScope, embedding: np.ndarray, limit: int = 3,
    ef_search: int = SEMANTIC_EF_SEARCH, exact_max: int = SEMANTIC_EXACT_MAX,
) -> list[CacheCandidate]:  # fmt: skip
    """The scope's nearest entries, best first. On an asyncio connection rather than the async
    ORM: at a million entries the thread hop and Django's connection set-up were about a fifth
    of the lookup. `ef_search` and `exact_max` are the benchmark's: a wider graph search, and
    an exact scan of larger scopes (its reference for recall)."""
    params = semantic_params(
        scope_key=scope.key, embedding=embedding, limit=limit, exact_max=exact_max
    )
    other = None  # another search width is set for its one statement
    if ef_search != SEMANTIC_EF_SEARCH:
        other = {"hnsw.ef_search": str(ef_search)}
    rows = await async_fetchall(SEMANTIC_SQL, params, settings=other)
    # Relaxed iterative scans may return neighbours slightly out of order.
    rows.sort(key=lambda row: -row[4])
    return [
        CacheCandidate(*row[:4], similarity=float(row[4]), embedding=_vector_parse(row[5]),
                       learned_threshold=row[6])
        for row in rows
    ]


def _vector_parse(text: str) -> np.ndarray:
    """pgvector's text form, '[0.1,0.2,...]': this connection has no vector adapter."""
    return np.array(text[1:-1].split(","), dtype=np.float32)


@database_sync_to_async
def cache_store(
    *,
    scope: CacheScope,
    query: str,
    normalized: str,
    embedding: np.ndarray,
    response: str,
    model: str,
    source_documents: list[int],
    ttl_s: int,
) -> CacheEntry:
    entry = CacheEntry.objects.create(
        scope_key=scope.key,
        owner_id=scope.owner_id,
        query=query,
        query_normalized=normalized,
        embedding=embedding,
        response=response,
        model=model,
        source_documents=source_documents,
        expires_at=timezone.now() + timedelta(seconds=ttl_s),
    )
    return entry


@dataclass(frozen=True)
class EntryNew:
    """A fresh answer to store (cache_store_many)."""

    scope: CacheScope
    query: str
    normalized: str
    embedding: np.ndarray
    response: str
    model: str


@database_sync_to_async
def cache_store_many(*, entries: list[EntryNew], ttl_s: int) -> list[CacheEntry]:
    """Several fresh answers in one INSERT (a batch job's pack): one commit, not one each."""
    expires_at = timezone.now() + timedelta(seconds=ttl_s)
    return CacheEntry.objects.bulk_create(
        CacheEntry(scope_key=e.scope.key, owner_id=e.scope.owner_id, query=e.query,
                   query_normalized=e.normalized, embedding=e.embedding, response=e.response,
                   model=e.model, source_documents=[], expires_at=expires_at)
        for e in entries
    )  # fmt: skip


def cache_evict(*, max_entries: int) -> list[tuple[str, str]]:
    """Drop expired entries, then the least recently used beyond `max_entries`; the (scope key,
    normalised query) of each, so the exact tier can drop its copies too."""
    keys = cache_entries_delete(entries=CacheEntry.objects.filter(expires_at__lte=timezone.now()))
    excess = CacheEntry.objects.count() - max_entries
    if excess > 0:
        oldest = CacheEntry.objects.order_by(F("last_hit_at").asc(nulls_first=True), "id")
        ids = list(oldest.values_list("id", flat=True)[:excess])
        keys += cache_entries_delete(entries=CacheEntry.objects.filter(id__in=ids))
    return keys


async def cache_hit_count(*, entry_id: int) -> None:
    await CacheEntry.objects.filter(id=entry_id).aupdate(
        hits=F("hits") + 1, last_hit_at=timezone.now()
    )


def cache_entries_delete(*, entries: QuerySet[CacheEntry]) -> list[tuple[str, str]]:
    """Delete these entries; returns their (scope key, normalised query) for the exact tier."""
    with transaction.atomic():
        keys = list(entries.values_list("scope_key", "query_normalized"))
        entries.delete()
    return keys

"""The semantic lookup of a scope past the exact-scan cut-off goes through the HNSW index.

A cache grows with every answer. At our `hnsw.ef_search` of 100, PostgreSQL rated a sequential
scan and a sort cheaper than the HNSW index for the lookup's graph branch on a scope of a few
thousand entries: 44 ms of the database's CPU a lookup at 8,000 entries, against 1.8 ms through
the index, which every answer then paid.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from latency.cache.store import SEMANTIC_EXACT_MAX, SEMANTIC_SQL, semantic_params
from latency.core.db_async import async_connection
from latency.models import CacheEntry

pytestmark = pytest.mark.django_db(transaction=True)
SCOPE = "plan-test-scope"
# Just past the cut-off: where a sequential scan and a sort looked cheapest to the planner.
ENTRIES = SEMANTIC_EXACT_MAX + 500


def _entries_make() -> np.ndarray:
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(ENTRIES, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    expires = timezone.now() + timedelta(days=1)
    CacheEntry.objects.bulk_create(
        [CacheEntry(scope_key=SCOPE, query=f"question {i}", query_normalized=f"question {i}",
                    embedding=vector, response=f"answer {i} " * 60, model="gpt-4o-mini",
                    expires_at=expires) for i, vector in enumerate(vectors)],
        batch_size=1000,
    )  # fmt: skip
    return vectors


async def test_a_large_scope_is_searched_through_the_hnsw_index() -> None:
    vectors = await sync_to_async(_entries_make)()
    async with async_connection() as conn:
        await conn.execute("ANALYZE latency_cacheentry")
        params = semantic_params(scope_key=SCOPE, embedding=vectors[11], limit=3)
        explained = await (await conn.execute(f"EXPLAIN {SEMANTIC_SQL}", params)).fetchall()
        plan = "\n".join(row[0] for row in explained)
        rows = await (await conn.execute(SEMANTIC_SQL, params)).fetchall()
    graph = plan.split("One-Time Filter")[2]  # the branch for scopes past the cut-off
    assert "cache_embedding_hnsw" in graph, plan
    assert "Seq Scan" not in graph, plan
    assert rows and rows[0][1] == "question 11"  # the asked vector's own entry comes first

"""Retrieval for the chat: embed the question (through the micro-batcher), search pgvector's
HNSW index within what this user may read, optionally fuse PostgreSQL full-text search by
reciprocal rank, and return the top-k passages with the time each half took."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings

from latency.core.db_async import async_fetchall
from latency.embeddings.service import query_embed
from latency.models import Chunk, Document

RRF_K = 60  # the usual reciprocal-rank-fusion constant
# Up to this many readable chunks an exact scan of them (through the owner index) is both
# faster and exact; past it the HNSW index with iterative scans takes over. Measured with
# `latency_bench rag`'s corpus of 100k chunks: a user holding 1% of them got recall@5 0.72-0.85
# at 10-16 ms p50 through HNSW + filter (ef_search 40-200), and 1.00 at ~3 ms by the exact scan.
EXACT_MAX_CHUNKS = 20_000


@dataclass(frozen=True)
class Passage:
    chunk_id: int
    document_id: int
    title: str
    heading: str
    text: str
    score: float


@dataclass
class Retrieval:
    passages: list[Passage] = field(default_factory=list)
    embed_ms: float = 0.0
    search_ms: float = 0.0

    @property
    def document_ids(self) -> list[int]:
        return sorted({p.document_id for p in self.passages})

    def citations(self) -> list[dict[str, object]]:
        """What the answer shows for each [n]: its document, heading and passage."""
        return [
            {"n": n, "chunk_id": p.chunk_id, "document_id": p.document_id, "title": p.title,
             "heading": p.heading}  # fmt: skip
            for n, p in enumerate(self.passages, start=1)
        ]


# One statement, one round trip, as the cache's lookup: `size` adds up the chunk counts of the
# documents this user may read (a few rows of the document table, not the chunks) and decides
# which branch of `nearest` runs; the other is skipped by a one-time filter before it reads a
# chunk. Up to EXACT_MAX_CHUNKS the user's chunks are ranked exactly (`+ 0` keeps that branch off
# the HNSW index); past it the HNSW index ranks them, the connection's iterative scans walking
# the graph until the filter has yielded `depth` rows. Optionally the best full-text matches,
# and the passages' text.
_SEARCH_SQL = """
WITH size AS (
    SELECT coalesce(sum(chunk_count), 0) AS n FROM latency_document
    WHERE status = %(ready)s AND {scope}
), nearest AS (
    SELECT * FROM (
        SELECT id, 1 - (embedding <=> %(vector)s::vector) AS similarity
        FROM latency_chunk WHERE {readable}
        ORDER BY (embedding <=> %(vector)s::vector) + 0 LIMIT %(depth)s
    ) exact WHERE (SELECT n FROM size) <= %(cap)s
    UNION ALL
    SELECT * FROM (
        SELECT id, 1 - (embedding <=> %(vector)s::vector) AS similarity
        FROM latency_chunk WHERE {readable}
        ORDER BY embedding <=> %(vector)s::vector LIMIT %(depth)s
    ) graph WHERE (SELECT n FROM size) > %(cap)s
), lexical AS (
    {lexical}
), found AS (
    SELECT coalesce(n.id, l.id) AS id, n.similarity, l.rank
    FROM nearest n FULL JOIN lexical l ON l.id = n.id
)
SELECT f.id, f.similarity, f.rank, c.document_id, d.title, c.heading, c.text
FROM found f JOIN latency_chunk c ON c.id = f.id JOIN latency_document d ON d.id = c.document_id
"""
_LEXICAL_SQL = """
    SELECT id, ts_rank(search, query) AS rank
    FROM latency_chunk, websearch_to_tsquery('english', %(text)s) query
    WHERE {readable} AND search @@ query
    ORDER BY rank DESC LIMIT %(depth)s
"""
_NO_LEXICAL_SQL = "SELECT NULL::bigint AS id, NULL::real AS rank WHERE false"


async def chunks_search(
    *, embedding: np.ndarray, query: str, user_id: int | None, k: int, fuse_fts: bool
) -> list[Passage]:
    fuse = fuse_fts and bool(query.strip())
    depth = max(k * 2, 10) if fuse else k
    # Ready chunks of the user's own documents and of documents shared with everyone.
    scope = "(owner_id = %(user)s OR shared)" if user_id else "shared"
    readable = f"searchable AND {scope}"
    lexical = (_LEXICAL_SQL if fuse else _NO_LEXICAL_SQL).format(readable=readable)
    sql = _SEARCH_SQL.format(scope=scope, readable=readable, lexical=lexical)
    params = {"user": user_id, "cap": EXACT_MAX_CHUNKS, "depth": depth, "text": query,
              "ready": Document.Status.READY.value,
              "vector": Chunk._meta.get_field("embedding").get_prep_value(embedding)}  # fmt: skip
    # The connection searches the graph with HNSW_EF_SEARCH; only a deeper search sets its own.
    wider = None
    if depth * 2 > settings.HNSW_EF_SEARCH:
        wider = {"hnsw.ef_search": str(depth * 2)}
    rows = await async_fetchall(sql, params, settings=wider)
    return _fused(rows, k=k)


def _fused(rows: list[tuple], *, k: int) -> list[Passage]:
    """Reciprocal-rank fusion of the vector and full-text rankings (rows: id, similarity or
    None, text rank or None, document id, title, heading, text), best k first."""
    score: dict[int, float] = {}
    by_vector = sorted((r for r in rows if r[1] is not None), key=lambda r: -r[1])
    by_text = sorted((r for r in rows if r[2] is not None), key=lambda r: -r[2])
    for ranking in (by_vector, by_text):
        for index, row in enumerate(ranking):
            score[row[0]] = score.get(row[0], 0.0) + 1 / (RRF_K + index)
    top = sorted(rows, key=lambda r: -score[r[0]])[:k]
    return [
        Passage(chunk_id=cid, document_id=document_id, title=title, heading=heading, text=text,
                score=round(similarity or 0.0, 4))
        for cid, similarity, _, document_id, title, heading, text in top
    ]  # fmt: skip


async def passages_retrieve(
    *, query: str, user_id: int | None, k: int = 5, fuse_fts: bool = True,
    embedding: np.ndarray | None = None,
) -> Retrieval:  # fmt: skip
    """The best k passages the user may read; `embedding` is the question's, when the cache
    lookup has made it already (then no second forward pass, and embed_ms is ~0)."""
    retrieval = Retrieval()
    start = time.perf_counter()
    if embedding is None:
        embedding = await query_embed(text=query)
    retrieval.embed_ms = round((time.perf_counter() - start) * 1000, 3)
    start = time.perf_counter()
    retrieval.passages = await chunks_search(
        embedding=embedding, query=query, user_id=user_id, k=k, fuse_fts=fuse_fts
    )
    retrieval.search_ms = round((time.perf_counter() - start) * 1000, 3)
    return retrieval

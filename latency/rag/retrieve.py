"""Retrieval for the chat: embed the question (through the micro-batcher), search pgvector's
HNSW index within what this user may read, optionally fuse PostgreSQL full-text search by
reciprocal rank, and return the top-k passages with the time each half took."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from channels.db import database_sync_to_async
from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db import connection, transaction
from django.db.models import F, Q
from pgvector.django import CosineDistance

from latency.embeddings.service import query_embed
from latency.models import Chunk

RRF_K = 60  # the usual reciprocal-rank-fusion constant
# Up to this many readable chunks an exact scan of them (through the owner index) is both
# faster and exact; past it the HNSW index with iterative scans takes over. Measured with
# `latency_bench rag`: at 1% of 100k chunks HNSW + filter gave recall@5 0.71 in ~40 ms.
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


def _readable(user_id: int | None) -> Q:
    """Ready chunks of the user's own documents and of documents shared with everyone."""
    visible = Q(owner_id=user_id) | Q(shared=True) if user_id else Q(shared=True)
    return Q(searchable=True) & visible


@database_sync_to_async
def chunks_search(
    *, embedding: np.ndarray, query: str, user_id: int | None, k: int, fuse_fts: bool
) -> list[Passage]:
    depth = max(k * 2, 10) if fuse_fts else k
    with transaction.atomic(), connection.cursor() as cursor:
        readable = Chunk.objects.filter(_readable(user_id))[: EXACT_MAX_CHUNKS + 1].count()
        if readable <= EXACT_MAX_CHUNKS:
            cursor.execute("SET LOCAL enable_indexscan = off")  # exact: no HNSW for a few rows
        else:
            # Iterative scans keep walking the graph until the filter has yielded k rows.
            cursor.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
            cursor.execute("SET LOCAL hnsw.ef_search = %s", [max(100, depth * 2)])
        nearest = list(
            Chunk.objects.filter(_readable(user_id))
            .alias(distance=CosineDistance("embedding", embedding))
            .annotate(similarity=1 - F("distance"))
            .order_by("distance")
            .values_list("id", "similarity")[:depth]
        )
        # relaxed_order may return neighbours slightly out of order: sort them again.
        nearest.sort(key=lambda row: -row[1])
        ranked: dict[int, float] = {cid: 1 / (RRF_K + i) for i, (cid, _) in enumerate(nearest)}
        similarity = dict(nearest)
        if fuse_fts and query.strip():
            search = SearchQuery(query, search_type="websearch", config="english")
            lexical = (
                Chunk.objects.filter(_readable(user_id), search=search)
                .annotate(rank=SearchRank(F("search"), search))
                .order_by("-rank")
                .values_list("id", flat=True)[:depth]
            )
            for index, chunk_id in enumerate(lexical):
                ranked[chunk_id] = ranked.get(chunk_id, 0.0) + 1 / (RRF_K + index)
        top = sorted(ranked, key=lambda cid: -ranked[cid])[:k]
        rows = {
            row["id"]: row
            for row in Chunk.objects.filter(id__in=top).values(
                "id", "document_id", "document__title", "heading", "text"
            )
        }
    return [
        Passage(
            chunk_id=cid,
            document_id=rows[cid]["document_id"],
            title=rows[cid]["document__title"],
            heading=rows[cid]["heading"],
            text=rows[cid]["text"],
            score=round(similarity.get(cid, 0.0), 4),
        )  # fmt: skip
        for cid in top
        if cid in rows
    ]


async def passages_retrieve(
    *, query: str, user_id: int | None, k: int = 5, fuse_fts: bool = True
) -> Retrieval:
    retrieval = Retrieval()
    start = time.perf_counter()
    embedding = await query_embed(text=query)
    retrieval.embed_ms = round((time.perf_counter() - start) * 1000, 3)
    start = time.perf_counter()
    retrieval.passages = await chunks_search(
        embedding=embedding, query=query, user_id=user_id, k=k, fuse_fts=fuse_fts
    )
    retrieval.search_ms = round((time.perf_counter() - start) * 1000, 3)
    return retrieval


def context_message(*, retrieval: Retrieval) -> dict[str, str]:
    """The system message that carries the passages, numbered for citations."""
    if not retrieval.passages:
        body = "(no passage of the user's documents matched)"
    else:
        body = "\n\n".join(
            f"[{n}] {p.title}{' › ' + p.heading if p.heading else ''}: {p.text}"
            for n, p in enumerate(retrieval.passages, start=1)
        )
    return {
        "role": "system",
        "content": "Answer from the context below and cite passages as [n]. If it does not "
        f"hold the answer, say so.\n<context>\n{body}\n</context>",
    }

"""`latency_bench rag`: retrieval (embed + search) at 100k chunks with a per-user filter, and
recall@5 of the HNSW search against exact search on the same filter.

The corpus is synthetic (clustered 384-dim vectors shaped like MiniLM embeddings, 100 owners
holding 1% of the chunks each) and lives in its own database, kept between runs. The query
embedding is real: each timed retrieval embeds a real question through the micro-batcher.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO

from latency.bench.report import Target, percentiles, table_print

ROOT = Path(__file__).resolve().parents[2]
DATABASE = "subsecond_bench_rag"
QUESTIONS = [
    "How do I reset my password?", "What is the refund policy for annual plans?",
    "Which regions does the API run in?", "How many vacation days do new employees get?",
    "What changed in release 4.2?", "How is customer data encrypted at rest?",
    "Who approves travel expenses?", "What is the rate limit of the search endpoint?",
]  # fmt: skip


def rag_run(*, out: TextIO, chunks: int = 100_000, queries: int = 200, rebuild: bool = False,
            **_: Any) -> tuple[dict, dict]:  # fmt: skip
    from chatapp import env

    if env.DATABASE_URL:
        raise RuntimeError("the rag benchmark needs the embedded database (DATABASE_URL is set)")
    child_env = {**os.environ, "EMBEDDED_DB_NAME": DATABASE}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=child_env,
                   check=True)  # fmt: skip
    with tempfile.NamedTemporaryFile(suffix=".json") as result:
        command = [sys.executable, "-m", "latency.bench.rag", "--chunks", str(chunks),
                   "--queries", str(queries), "--result", result.name] + ["--rebuild"] * rebuild
        subprocess.run(command, cwd=ROOT, env=child_env, check=True)
        results = json.loads(Path(result.name).read_text())
    rows = [[name, s["n"], s["p50"], s["p95"], s["p99"]] for name, s in results["timing"].items()]
    table_print(out, f"Retrieval over {chunks:,} chunks, a user holding 1% of them (ms)",
                ["measure", "n", "p50", "p95", "p99"], rows)  # fmt: skip
    table_print(out, "Recall@5 of the HNSW search against exact search (same filter)",
                ["search", "recall@5", "queries with < 5 results"],
                [["hnsw, iterative scan", results["recall_at_5"], results["short_results"]]])
    targets = {
        "retrieval_p95_ms": Target(results["timing"]["embed+search"]["p95"], 20, "ms"),
        "recall_at_5": Target(results["recall_at_5"], 0.95, "ratio", higher_is_better=True),
    }
    return results, targets


def _corpus_load(*, chunks: int, rebuild: bool, err: TextIO) -> None:
    import numpy as np
    from django.contrib.auth import get_user_model
    from django.db import connection

    from latency.bench.cache_load import connection_open, model_index_sql
    from latency.bench.cache_vectors import vectors_rows
    from latency.bench.report import progress
    from latency.models import Chunk, Document

    marker = f"rag bench chunks={chunks}"
    with connection_open() as conn:
        current = conn.execute("SELECT obj_description('latency_chunk'::regclass)").fetchone()[0]
        if current == marker and not rebuild:
            err.write(f"reusing {chunks:,} chunks in {connection.settings_dict['NAME']}\n")
            return
        conn.execute("TRUNCATE latency_chunk, latency_document RESTART IDENTITY CASCADE")
        conn.execute("DROP INDEX IF EXISTS chunk_embedding_hnsw")
    users = get_user_model().objects
    owners = [users.get_or_create(username=f"rag-owner-{i}")[0].id for i in range(100)]
    documents = Document.objects.bulk_create(
        Document(owner_id=owners[i % 100], title=f"Document {i}", filename=f"doc{i}.txt",
                 content_type="text", size=1, sha256=f"{i:064d}", data=b"", status="ready")
        for i in range(1000)
    )  # fmt: skip
    words = np.array(("policy refund password region vacation release encryption travel "
                      "expense limit search customer data plan annual employee api rate "
                      "approval office security backup invoice contract").split())  # fmt: skip
    rng = np.random.default_rng(5)
    sql = ("COPY latency_chunk (document_id, ordinal, heading, text, token_count, embedding, "
           "owner_id, shared, searchable) FROM STDIN WITH (FORMAT BINARY)")  # fmt: skip
    with connection_open() as conn:
        with conn.cursor().copy(sql) as copy:
            copy.set_types(["int8", "int4", "text", "text", "int4", "vector", "int4", "bool",
                            "bool"])  # fmt: skip
            for start in range(0, chunks, 10_000):
                stop = min(chunks, start + 10_000)
                for row, vector in zip(range(start, stop), vectors_rows(start=start, stop=stop),
                                       strict=True):  # fmt: skip
                    document = documents[(row % 100) + 100 * ((row // 100) % 10)]
                    text = " ".join(rng.choice(words, 12))
                    copy.write_row((document.id, row, "Section", text, 60, vector,
                                    document.owner_id, False, True))  # fmt: skip
                progress(err, stop, chunks, "chunks copied")
        err.write("building the HNSW index…\n")
        started = time.perf_counter()
        conn.execute("SET maintenance_work_mem = '2GB'")
        conn.execute("SET max_parallel_maintenance_workers = 2")
        conn.execute(model_index_sql(model=Chunk, name="chunk_embedding_hnsw"))
        err.write(f"HNSW index built in {time.perf_counter() - started:.1f} s\n")
        conn.execute("VACUUM ANALYZE latency_chunk")
        conn.execute(f"COMMENT ON TABLE latency_chunk IS '{marker}'")
    assert Chunk.objects.count() == chunks


def _exact_top(*, embedding: Any, owner_id: int, k: int) -> list[int]:
    from django.db import connection, transaction
    from pgvector.django import CosineDistance

    from latency.models import Chunk

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_indexscan = off")  # a sequential scan: exact
        return list(
            Chunk.objects.filter(owner_id=owner_id, searchable=True)
            .order_by(CosineDistance("embedding", embedding))
            .values_list("id", flat=True)[:k]
        )


async def _measure(*, chunks: int, queries: int, err: TextIO) -> dict[str, Any]:
    from asgiref.sync import sync_to_async

    from latency.bench.cache_vectors import queries_make
    from latency.bench.report import progress
    from latency.embeddings.service import query_embed
    from latency.models import Chunk
    from latency.rag.retrieve import chunks_search

    owners = await sync_to_async(lambda: sorted(set(
        Chunk.objects.values_list("owner_id", flat=True).distinct())))()  # fmt: skip
    owner_of_row = {o: i for i, o in enumerate(owners)}
    rows_by_owner = {o: list(range(owner_of_row[o], chunks, 100)) for o in owners}
    await query_embed(text="warm up the model and the batcher")
    timing: dict[str, list[float]] = {"embed": [], "search": [], "embed+search": [],
                                      "search+fts": []}  # fmt: skip
    recalls, short, answers = [], 0, []
    # Made before the clock starts: generating them is heavy numpy work whose BLAS threads would
    # still be spinning on both cores while the next query is timed.
    made = [queries_make(rows=rows_by_owner[owners[index % len(owners)]], count=1, seed=index)[0]
            for index in range(queries)]  # fmt: skip
    for index, query in enumerate(made):
        owner = owners[index % len(owners)]
        question = QUESTIONS[index % len(QUESTIONS)]
        started = time.perf_counter()
        await query_embed(text=f"{question} ({index})")
        embedded = time.perf_counter()
        found = await chunks_search(embedding=query.vector, query="", user_id=owner, k=5,
                                    fuse_fts=False)  # fmt: skip
        searched = time.perf_counter()
        timing["embed"].append((embedded - started) * 1000)
        timing["search"].append((searched - embedded) * 1000)
        timing["embed+search"].append((searched - started) * 1000)
        started = time.perf_counter()
        await chunks_search(embedding=query.vector, query=question, user_id=owner, k=5,
                            fuse_fts=True)  # fmt: skip
        timing["search+fts"].append((time.perf_counter() - started) * 1000)
        answers.append([p.chunk_id for p in found])
        progress(err, index + 1, queries, "queries")
    # The exact references come after the clock has stopped: a full scan (with its parallel
    # workers) right before a timed embedding slowed that embedding by a few ms.
    for index, (query, got) in enumerate(zip(made, answers, strict=True)):
        owner = owners[index % len(owners)]
        exact = await sync_to_async(_exact_top)(embedding=query.vector, owner_id=owner, k=5)
        short += len(got) < 5
        recalls.append(len(set(got) & set(exact)) / max(len(exact), 1))
        progress(err, index + 1, queries, "exact references")
    return {"chunks": chunks, "owners": len(owners), "queries": queries,
            "timing": {name: percentiles(values) for name, values in timing.items()},
            "recall_at_5": round(sum(recalls) / len(recalls), 4), "short_results": short}


def main() -> None:
    import django

    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--result", type=Path, required=True)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatapp.settings")
    django.setup()
    _corpus_load(chunks=args.chunks, rebuild=args.rebuild, err=sys.stderr)
    result = asyncio.run(_measure(chunks=args.chunks, queries=args.queries, err=sys.stderr))
    args.result.write_text(json.dumps(result))


if __name__ == "__main__":
    main()

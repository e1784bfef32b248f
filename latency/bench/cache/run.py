"""`latency_bench cache`: semantic lookup latency against table size (HNSW, exact scan, the seed
article's Redis scan), cache hits end to end over a websocket, embedding batching, cache quality."""

from __future__ import annotations

import json
import os
import sys
import time
from importlib.util import find_spec
from typing import Any, TextIO

from django.conf import settings

from latency.bench.cache.chart import chart_print, chart_svg_write
from latency.bench.child import child_run
from latency.bench.report import Target, table_print

PARTS = ("lookup", "seed", "e2e", "embed", "quality")
MILLION = 1_000_000
SEED_BUDGET_S = 60.0  # per size: the seed approach takes seconds a lookup at 100k rows
CHART_PATH = settings.DATA_DIR / "bench" / "cache_lookup_latency.svg"
APP_DATABASE = "subsecond_bench_app"
CACHE_SETTINGS = (
    "exact_cache", "semantic_cache", "semantic_threshold", "semantic_verify",
    "cache_ttl_seconds", "cache_share_across_users", "cache_max_temperature",
    "speculative_cache", "streaming", "cache_replay_ms_per_token",
)  # fmt: skip


def _csv_ints(text: str) -> list[int]:
    return sorted({int(value) for value in str(text).split(",") if value.strip()})


def bench_database_name(*, layout: str, size: int) -> str:
    """One database a layout and size, kept between runs (the 1M HNSW build takes a while)."""
    return f"subsecond_bench_{layout}_{size}"


def lookup_run(*, layout: str, size: int, queries: int, rebuild: bool) -> dict[str, Any]:
    arguments = ["--layout", layout, "--size", str(size), "--queries", str(queries)]
    return child_run(
        module="latency.bench.cache.lookup",
        arguments=arguments + ["--rebuild"] * rebuild,
        database=bench_database_name(layout=layout, size=size),
    )


def app_run(*, hits: int, parts: str) -> dict[str, Any]:
    """End-to-end hits and dev-pair quality in their own database, with the app's current
    cache settings copied there, so the app's data and settings stay as they are."""
    from latency.models import StrategySettings

    settings = StrategySettings.objects.filter(id=1).values(*CACHE_SETTINGS).first() or {}
    return child_run(
        module="latency.bench.cache.e2e",
        arguments=["--hits", str(hits), "--parts", parts, "--settings", json.dumps(settings)],
        database=APP_DATABASE,
    )


def cache_run(
    *, out: TextIO, sizes: str = "1000,10000,100000,1000000", spread_sizes: str = "",
    seed_max: int = 100_000, queries: int = 200, hits: int = 120, rebuild: bool = False,
    parts: str = ",".join(PARTS), **_: Any,
) -> tuple[dict[str, Any], dict[str, Target]]:  # fmt: skip
    err, started = sys.stderr, time.perf_counter()
    chosen = {part.strip() for part in parts.split(",")}
    size_list = _csv_ints(sizes)
    spread_list = _csv_ints(spread_sizes) or [size for size in size_list if size >= 10_000]
    if "e2e" in chosen and find_spec("websockets") is None:  # fail before the long parts
        raise RuntimeError("the cache benchmark's websocket client needs: pip install websockets")
    results: dict[str, Any] = {}
    if "lookup" in chosen:
        results["lookup"] = {
            layout: [
                lookup_run(layout=layout, size=s, queries=queries, rebuild=rebuild) for s in group
            ]
            for layout, group in (("one", size_list), ("spread", spread_list))
        }
    if "seed" in chosen:
        from latency.bench.cache.seed import seed_extrapolate, seed_measure

        measured = [
            seed_measure(size=size, queries=queries, budget_s=SEED_BUDGET_S, err=err)
            for size in size_list
            if size <= seed_max
        ]
        results["seed"] = measured + [
            seed_extrapolate(measured=measured[-1], size=size)
            for size in size_list
            if size > seed_max and measured
        ]
    if "embed" in chosen:
        from latency.bench.cache.embed import embedding_throughput_measure

        results["embedding"] = embedding_throughput_measure(rounds=8, err=err)
    if chosen & {"e2e", "quality"}:
        results.update(app_run(hits=hits, parts=",".join(sorted(chosen & {"e2e", "quality"}))))
    results["elapsed_s"] = round(time.perf_counter() - started, 1)
    results["load_average"] = [round(value, 2) for value in os.getloadavg()]
    _tables_print(out, results)
    targets = _targets(results)
    table_print(
        out, "Targets", ["target", "value", "goal", "unit", "met"],
        [[name, t.value, t.target, t.unit, t.as_dict()["met"]] for name, t in targets.items()],
    )  # fmt: skip
    return results, targets


def _by_rows(entries: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {entry["rows"]: entry for entry in entries}


def _targets(results: dict[str, Any]) -> dict[str, Target]:
    targets: dict[str, Target] = {}
    one = _by_rows(results.get("lookup", {}).get("one", []))
    seed = _by_rows(results.get("seed", []))
    if MILLION in one:
        targets["semantic_lookup_p95_1m_ms"] = Target(one[MILLION]["hnsw_ms"]["p95"], 5, "ms")
    if 10_000 in one and 10_000 in seed:
        speedup = seed[10_000]["ms"]["p50"] / one[10_000]["hnsw_ms"]["p50"]
        targets["speedup_vs_seed_10k"] = Target(speedup, 100, "x (p50/p50)", True)
    if "e2e" in results:
        e2e = results["e2e"]
        worst_ws = max(e2e[k].get("p95", float("inf")) for k in ("semantic_hit_ms", "exact_hit_ms"))
        targets["cache_hit_websocket_p95_ms"] = Target(worst_ws, 50, "ms")
        api = e2e.get("api", {})
        worst_api = max(api.get(k, {}).get("p95", float("inf")) for k in ("whole_hit_ms",
                                                                         "stream_hit_ms"))
        targets["cache_hit_api_p95_ms"] = Target(worst_api, 50, "ms")
    if "embedding" in results:
        ratio = results["embedding"]["ratio"]
        targets["embedding_batch_throughput_ratio"] = Target(ratio, 3, "x", True)
    if "quality" in results:
        quality = results["quality"]
        targets["dev_pairs_false_hit_rate"] = Target(quality["false_hit_rate"], 0.02, "rate")
        targets["dev_pairs_hit_rate"] = Target(quality["hit_rate"], 0.60, "rate", True)
    return targets


def _triple(stats: dict[str, Any]) -> list[Any]:
    return [stats.get("p50", "-"), stats.get("p95", "-"), stats.get("p99", "-")]


def _tables_print(out: TextIO, results: dict[str, Any]) -> None:
    lookup, seed = results.get("lookup", {}), _by_rows(results.get("seed", []))
    for layout, entries in ((layout, entries) for layout, entries in lookup.items() if entries):
        table_print(
            out,
            f"Semantic lookup, ms, embedding excluded ({layout}: the query's scope holds "
            f"{'all rows' if layout == 'one' else '1% of the rows'}); HNSW = the app's query",
            ["rows", "HNSW p50", "p95", "p99", "SQL-only p50", "p95", "exact p50", "p95",
             "p99", "n exact", "recall@3", "plan (HNSW query)"],
            [[e["rows"], *_triple(e["hnsw_ms"]), *_triple(e["hnsw_sql_ms"])[:2],
              *_triple(e["exact_ms"]), e["exact_ms"]["n"], e["recall_at_3"], e["hnsw_plan"]]
             for e in entries],
        )  # fmt: skip
        table_print(
            out, f"Load and index build ({layout})",
            ["rows", "reused", "COPY s (first load)", "HNSW build s", "table MB", "index MB"],
            [[e["rows"], e["load"]["reused"], round(e["load"]["copy_s"], 1) or "-",
              round(e["load"]["index_s"], 1) or "-", e["load"]["table_mb"], e["load"]["index_mb"]]
             for e in entries],
        )  # fmt: skip
    if lookup.get("one"):
        table_print(
            out, "HNSW ef_search: latency (app's query, ms) and recall@3 against the exact scan",
            ["rows", "ef_search", "p50", "p95", "p99", "recall@3"],
            [[e["rows"], f"{s['ef_search']}{' (app)' if s.get('app') else ''}",
              *_triple(s["ms"]), s["recall_at_3"]]
             for e in lookup["one"] for s in e["ef_sweep"]],
        )  # fmt: skip
    if seed:
        table_print(
            out, "Seed article's approach (Redis SCAN + pipelined GET + JSON + Python cosine), ms",
            ["rows", "n", "p50", "p95", "p99", "how"],
            [[rows, e["ms"]["n"], *_triple(e["ms"]),
              f"extrapolated from {e['from_rows']:,}" if e["extrapolated"] else "measured"]
             for rows, e in sorted(seed.items())],
        )  # fmt: skip
    if lookup.get("one"):
        one = lookup["one"]
        series = [
            ("HNSW (app)", "#1f77b4", {e["rows"]: e["hnsw_ms"]["p50"] for e in one}, set()),
            ("exact scan", "#ff7f0e", {e["rows"]: e["exact_ms"]["p50"] for e in one}, set()),
        ]  # fmt: skip
        if seed:
            extrapolated = {rows for rows, e in seed.items() if e["extrapolated"]}
            points = {rows: e["ms"]["p50"] for rows, e in seed.items()}
            series.append(("seed (Redis)", "#d62728", points, extrapolated))
        title = "Semantic lookup p50 against rows (one scope)"
        chart_print(out, title=title, series=series)
        results["chart_svg"] = str(chart_svg_write(CHART_PATH, title=title, series=series))
        out.write(f"chart: {results['chart_svg']}\n")
    _tables_print_rest(out, results)


def _tables_print_rest(out: TextIO, results: dict[str, Any]) -> None:
    if "e2e" in results:
        e2e = results["e2e"]
        table_print(
            out, "Cache hits end to end at a websocket client (send -> done fragment; default "
            "settings; exact tier in Redis db 14), ms",
            ["answer", "n", "p50", "p95", "p99", "mean"],
            [[name, e2e[key].get("n", 0), *_triple(e2e[key]), e2e[key].get("mean", "-")]
             for name, key in (("semantic hit", "semantic_hit_ms"), ("exact hit", "exact_hit_ms"),
                               ("miss (simulator, time x0.2)", "seed_miss_ms"))],
        )  # fmt: skip
        api = e2e.get("api", {})
        table_print(
            out, "Cache hits at an API client (openai SDK; exact repeats; default settings), ms",
            ["answer", "n", "p50", "p95", "p99"],
            [[name, api.get(key, {}).get("n", 0), *_triple(api.get(key, {}))]
             for name, key in (("whole body", "whole_hit_ms"),
                               ("stream to [DONE]", "stream_hit_ms"),
                               ("stream, paced on request", "stream_paced_hit_ms"))],
        )  # fmt: skip
        spec = e2e.get("speculation", {})
        table_print(
            out, "Speculative lookup: the model call starts alongside the lookup (websocket)",
            ["speculation", "miss TTFT p50", "p95", "hit p95", "requests", "upstream calls",
             "cancelled by hits"],
            [[arm, s["miss_ttft_ms"].get("p50"), s["miss_ttft_ms"].get("p95"),
              s["hit_ms"].get("p95"), s["requests"], s["upstream_calls"],
              s["upstream_calls_cancelled_by_hits"]] for arm, s in spec.items()],
        )  # fmt: skip
        table_print(
            out, "Where a hit's time goes on the server (its request traces), ms",
            ["tier", "stage", "n", "p50", "p95"],
            [[tier, stage, stats.get("n", 0), stats.get("p50", "-"), stats.get("p95", "-")]
             for tier, by_stage in e2e.get("server_stages_ms", {}).items()
             for stage, stats in by_stage.items()],
        )  # fmt: skip
    if "embedding" in results:
        emb = results["embedding"]
        table_print(
            out, f"Embedding {emb['concurrent']} concurrent queries, {emb['rounds']} rounds "
            f"(batches: {emb['batch_engine']})",
            ["path", "queries/s", "ms/query", "forward passes/round"],
            [["micro-batched (EmbeddingBatcher)", emb["batched_qps"], emb["batched_ms_per_query"],
              emb["forward_passes_per_round"]],
             ["one at a time (batch 1)", emb["single_qps"], emb["single_ms_per_query"], 32],
             ["ratio", emb["ratio"], "", ""]],
        )  # fmt: skip
    if "quality" in results:
        q = results["quality"]
        table_print(
            out, f"Cache quality on {q['pairs']} dev pairs (threshold {q['threshold']}, "
            f"verify {q['verify']})",
            ["hit rate", "false-hit rate", "precision", "hits", "false hits"],
            [[q["hit_rate"], q["false_hit_rate"], q["precision"], q["hits"], q["false_hits"]]],
        )  # fmt: skip

"""`latency_bench edge`: llama.cpp's server over SmolLM2-135M, measured for real. TTFT and
tokens/s at 1 and 4 concurrent requests, the routing split of a mixed workload, stop-to-silence
(the server's CPU), and fallback to the simulated cloud with the edge server killed mid-run."""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path
from typing import Any, TextIO

from django.conf import settings

from latency.bench.benchmarks_md import benchmarks_section_write
from latency.bench.report import Target, percentiles, progress, table_print, targets_print
from latency.models import StrategySettings
from latency.providers.catalog import catalog_load
from latency.providers.clients import clients
from latency.providers.stream import provider_stream
from latency.routing.budgets import Budget
from latency.routing.choice import RouteInputs, route_choose
from latency.routing.policy import policy_build
from latency.routing.resilient import resilient_stream
from latency.testing.processes import cpu_silence_ms, edge_server_start, simulator_start

SIMPLE = [
    "What is the capital of France?",
    "Say hello.",
    "What colour is the sky?",
    "Name a fruit.",
    "How many legs does a cat have?",
    "What is 2 plus 2?",
]
COMPLEX = [
    "Explain step by step why the sky is blue, and compare it with sunsets in detail.",
    "Design an algorithm to merge k sorted lists and analyze its trade-offs.",
]
BUDGET = Budget("chat", p95_ms=30000.0, ttft_ms=5000.0)  # room for a 30 tokens/s model


async def _one(*, model: str, text: str, max_tokens: int) -> tuple[float, int, float]:
    spec = catalog_load().model_get(model)
    start, first, tokens = time.monotonic(), 0.0, 0
    async for delta in provider_stream(
        model=spec,
        endpoint=spec.endpoints[0],
        max_tokens=max_tokens,
        messages=[{"role": "user", "content": text}],
    ):
        if delta.text:
            first = first or time.monotonic()
            tokens += 1
    end = time.monotonic()
    return (first - start) * 1000, tokens, (tokens - 1) / max(end - first, 1e-6)


def _plan(text: str):  # noqa: ANN202
    inputs = RouteInputs(
        catalog=catalog_load(), budget=BUDGET, observed={}, open_until={}, probed_rtt_ms={}
    )
    return route_choose(inputs=inputs, messages=[{"role": "user", "content": text}], feature="chat")


async def _routed(text: str, *, max_tokens: int = 32) -> tuple[str, float | None]:
    plan = _plan(text)
    policy = policy_build(settings=StrategySettings(hedging=False, routing=True), plan=plan)
    start, ttft, where = time.monotonic(), None, ""
    stream = resilient_stream(
        plan=plan,
        messages=[{"role": "user", "content": text}],
        policy=policy,
        max_tokens=max_tokens,
    )
    try:
        async for delta in stream:
            if getattr(delta, "text", "") and ttft is None:
                ttft = (time.monotonic() - start) * 1000
        winner = stream.outcome.winner
        where = winner.endpoint.region if winner else ""
    except Exception:  # noqa: BLE001 — an unanswered request is what this counts
        return "", None
    return where, ttft


async def _stop(pid: int) -> float:
    spec = catalog_load().model_get("smollm2-135m")
    stream = provider_stream(
        model=spec,
        endpoint=spec.endpoints[0],
        max_tokens=400,
        messages=[{"role": "user", "content": "Write a long story."}],
    )
    seen = 0
    async for delta in stream:
        seen += bool(delta.text)
        if seen >= 10:
            break
    await stream.aclose()  # Stop: the response is closed, as the pipeline does
    return await asyncio.to_thread(cpu_silence_ms, pid=pid)


async def _all(out: TextIO, edge: Any, n: int) -> tuple[dict[str, Any], dict[str, Target]]:
    results: dict[str, Any] = {}
    await _one(model="smollm2-135m", text="Hi", max_tokens=4)  # warm the prompt cache
    for concurrency in (1, 4):
        rows = []
        for i in range(n // concurrency or 1):
            rows += await asyncio.gather(
                *(
                    _one(model="smollm2-135m", text=SIMPLE[(i + k) % 6], max_tokens=48)
                    for k in range(concurrency)
                )
            )
            progress(out, i + 1, n // concurrency or 1, f"{concurrency} concurrent")
        results[f"edge_c{concurrency}"] = {
            "ttft_ms": percentiles([r[0] for r in rows]),
            "tokens_per_s": statistics.median(r[2] for r in rows),
        }
    split: dict[str, list[float]] = {"edge": [], "cloud": []}
    simple_ttft: dict[str, list[float]] = {"edge": [], "cloud": []}
    for i, text in enumerate((SIMPLE + COMPLEX) * max(1, n // 6)):
        where, ttft = await _routed(text)
        side = "edge" if where.startswith("edge") else "cloud"
        split[side].append(ttft or 0.0)
        if text in SIMPLE and where == "edge-local":
            simple_ttft["edge"].append(ttft or 0.0)
        progress(out, i + 1, len(SIMPLE + COMPLEX) * max(1, n // 6), "mixed workload")
    for text in SIMPLE * max(1, n // 6):  # the same simple questions, on the simulated cloud
        simple_ttft["cloud"].append((await _one(model="gpt-4o-mini", text=text, max_tokens=32))[0])
    total = sum(len(v) for v in split.values())
    results["split"] = {
        "edge_share": len(split["edge"]) / total,
        "edge_ttft_ms": percentiles(split["edge"]),
        "cloud_ttft_ms": percentiles(split["cloud"]),
    }
    results["simple_ttft_ms"] = {k: percentiles(v) for k, v in simple_ttft.items()}
    stops = []
    for i in range(3 * n):  # a p95 needs more samples than the rest
        stops.append(await _stop(edge.process.pid))
        progress(out, i + 1, 3 * n, "stop to silence")
    results["stop_to_silence_ms"] = percentiles(stops)
    answered = []
    for i in range(n):
        if i == n // 3:
            edge.stop()  # killed mid-run
            catalog_load.cache_clear()
        answered.append((await _routed(SIMPLE[i % 6]))[1] is not None)
    results["answered_with_edge_killed"] = sum(answered) / len(answered)
    targets = {
        "stop_to_silence_p95_ms": Target(results["stop_to_silence_ms"]["p95"], 100.0, "ms"),
        "answered_with_edge_killed": Target(
            100 * results["answered_with_edge_killed"], 100.0, "%", higher_is_better=True
        ),
        "simple_ttft_p50_edge_minus_cloud_ms": Target(
            results["simple_ttft_ms"]["edge"].get("p50", 1e9)
            - results["simple_ttft_ms"]["cloud"].get("p50", 0),
            0.0,
            "ms",
        ),
    }
    return results, targets


def edge_run(
    *, out: TextIO, messages: int = 60, **_: Any
) -> tuple[dict[str, Any], dict[str, Target]]:
    n = max(4, min(messages, 12))
    simulator, edge = simulator_start(), edge_server_start()
    old = settings.CATALOG_VARIABLES
    settings.CATALOG_VARIABLES = {**old, "SIMULATOR_URL": simulator.url, "EDGE_MODEL_URL": edge.url}
    catalog_load.cache_clear()
    clients.forget()
    try:
        results, targets = asyncio.run(_all(out, edge, n))
    finally:
        settings.CATALOG_VARIABLES = old
        catalog_load.cache_clear()
        clients.forget()
        edge.stop()
        simulator.stop()
    rows = [
        [k, v["ttft_ms"]["p50"], v["ttft_ms"]["p95"], round(v["tokens_per_s"], 1)]
        for k, v in results.items()
        if k.startswith("edge_c")
    ]
    table_print(
        out, "llama.cpp SmolLM2-135M (1 thread)", ["run", "TTFT p50", "TTFT p95", "tok/s"], rows
    )
    split = results["split"]
    table_print(
        out,
        "Routing split (mixed workload)",
        ["edge share", "edge TTFT p50", "cloud TTFT p50", "simple@edge p50", "simple@cloud p50"],
        [
            [
                round(split["edge_share"], 2),
                split["edge_ttft_ms"].get("p50"),
                split["cloud_ttft_ms"].get("p50"),
                results["simple_ttft_ms"]["edge"].get("p50"),
                results["simple_ttft_ms"]["cloud"].get("p50"),
            ]
        ],
    )
    targets_print(out, targets)
    rows = [[name, t.value, t.target, t.unit, t.as_dict()["met"]] for name, t in targets.items()]
    speed_rows = [[f"{k[len('edge_c'):]} concurrent", v["ttft_ms"]["p50"], v["ttft_ms"]["p95"],
                   round(v["tokens_per_s"], 1)]
                  for k, v in results.items() if k.startswith("edge_c")]  # fmt: skip
    stop = results["stop_to_silence_ms"]
    lines = [
        "## Edge model: llama.cpp serving SmolLM2-135M on this machine",
        "",
        "`python manage.py latency_bench edge`: llama-cpp-python's OpenAI-compatible server "
        "(1 thread, the command `make run-edge` uses) beside the simulator's cloud models, "
        "the app's default routing. Stop-to-silence is from closing the stream (what Stop "
        "does) to the server's last busy 2 ms (its threads' CPU from the scheduler).",
        "",
        "| requests | TTFT p50 ms | TTFT p95 ms | tokens/s |",
        "|---|---|---|---|",
        *(f"| {r[0]} | {r[1]:.0f} | {r[2]:.0f} | {r[3]} |" for r in speed_rows),
        "",
        f"Mixed workload: {split['edge_share']:.0%} routed to the edge; TTFT p50 edge "
        f"{_p50(split['edge_ttft_ms'])} ms, cloud {_p50(split['cloud_ttft_ms'])} ms; simple "
        f"questions p50 at the edge {_p50(results['simple_ttft_ms']['edge'])} ms against "
        f"{_p50(results['simple_ttft_ms']['cloud'])} ms on the simulated cloud. Stop to "
        f"silence p50 {stop['p50']:.0f} / p95 {stop['p95']:.0f} / p99 {stop['p99']:.0f} ms "
        f"over {stop['n']} stops.",
        "",
        "| target | value | goal | met |",
        "|---|---|---|---|",
        *(f"| {r[0]} | {r[1]:.1f} {r[3]} | {r[2]} | {r[4]} |" for r in rows),
    ]
    written = benchmarks_section_write(name="edge", markdown="\n".join(lines),
                                       path=Path(settings.BASE_DIR) / "BENCHMARKS.md")  # fmt: skip
    out.write(f"BENCHMARKS.md: {written}\n")
    return results, targets


def _p50(figures: dict[str, Any]) -> str:
    return f"{figures['p50']:.0f}" if "p50" in figures else "-"

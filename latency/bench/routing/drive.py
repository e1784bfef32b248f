"""The routing bench's driver: a seeded workload of chat requests, CONCURRENCY in flight, each
routed and streamed through the resilient stream against a fresh simulator, one Sample each.

Every request also leaves a RequestTrace (source "bench"), as the pipeline would, so that the
live estimates learn this machine's latencies during the run; they are deleted afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from latency.bench.report import progress
from latency.errors import UpstreamError
from latency.models import RequestTrace, StrategySettings
from latency.providers.catalog import Catalog, catalog_parse
from latency.providers.clients import ClientRegistry
from latency.routing.choice import route_plan
from latency.routing.estimates import observations_forget
from latency.routing.health import breakers_reset, health_forget, prober
from latency.routing.hedges import HedgeBudget
from latency.routing.policy import policy_build
from latency.routing.resilient import resilient_stream
from latency.testing.processes import SimulatorChild, simulator_start

CONCURRENCY = 12
SEED = 11
TRACE_SOURCE = "bench"
TRACE_BATCH = 50
_TOPICS = (
    "cache responses",
    "measure p99 latency",
    "stream tokens",
    "index vectors",
    "batch background jobs",
    "compress prompts",
    "pick a model",
    "retry a request",
)


@dataclass
class Sample:
    answered: bool
    ttft_ms: float | None
    total_ms: float
    feature: str = "chat"
    text: str = ""
    error: str = ""
    model: str = ""
    upstream_model: str = ""
    endpoint: str = ""
    region: str = ""
    upstream_ttft_ms: float | None = None
    upstream_id: str = ""
    attempts: int = 0
    hedged: bool = False
    fallbacks: int = 0
    lost: bool = False


def question_make(index: int, *, varied: bool = False) -> list[dict[str, str]]:
    topic = _TOPICS[index % len(_TOPICS)]
    text = f"What is a good way to {topic}? ({index})"
    if varied and index % 3 == 0:  # a third of the chat asks for reasoning: routing sees it
        text = f"Explain step by step why teams {topic}, and compare two approaches. ({index})"
    return [{"role": "user", "content": text}]


async def _ask(
    *,
    feature: str,
    messages: list[dict[str, str]],
    settings: StrategySettings,
    catalog: Catalog,
    registry: ClientRegistry,
    hedges: HedgeBudget,
    max_tokens: int | None,
) -> Sample:
    started = time.perf_counter()
    plan = await route_plan(
        feature=feature, messages=messages, settings=settings, catalog=catalog, registry=registry
    )
    stream = resilient_stream(
        plan=plan,
        messages=messages,
        max_tokens=max_tokens,
        registry=registry,
        hedges=hedges,
        policy=policy_build(settings=settings, plan=plan),
    )
    sample = Sample(answered=False, ttft_ms=None, total_ms=0.0, feature=feature)
    parts: list[str] = []
    try:
        async with contextlib.aclosing(stream):
            async for delta in stream:
                if delta.text and sample.ttft_ms is None:
                    sample.ttft_ms = (time.perf_counter() - started) * 1000
                parts.append(delta.text)
                sample.upstream_id = sample.upstream_id or delta.upstream_id
        sample.answered = bool(parts)
    except UpstreamError as error:
        sample.error = error.kind
    sample.total_ms = (time.perf_counter() - started) * 1000
    outcome, sample.text = stream.outcome, "".join(parts)
    if outcome.winner is not None:
        sample.model, sample.endpoint = outcome.winner.model.name, outcome.winner.endpoint.name
        sample.upstream_model = outcome.winner.model.upstream_name
        sample.region, sample.upstream_ttft_ms = (
            outcome.winner.endpoint.region,
            outcome.upstream_ttft_ms,
        )
    sample.attempts, sample.hedged, sample.fallbacks = (
        outcome.attempts,
        outcome.hedged,
        outcome.fallbacks,
    )
    return sample


async def _drive(
    label: str, count: int, one: Callable[[int], Awaitable[Sample]], lost_s: float
) -> list[Sample]:
    """`count` requests, CONCURRENCY in flight; one that never ends counts as lost."""
    samples: list[Sample | None] = [None] * count
    pending: list[RequestTrace] = []
    cursor = done = 0

    async def worker() -> None:
        nonlocal cursor, done
        while cursor < count:
            index, cursor = cursor, cursor + 1
            try:
                samples[index] = await asyncio.wait_for(one(index), timeout=lost_s)
            except TimeoutError:
                samples[index] = Sample(False, None, lost_s * 1000, error="lost", lost=True)
            pending.append(_trace_of(samples[index]))
            if len(pending) >= TRACE_BATCH:
                batch, pending[:] = list(pending), []
                await RequestTrace.objects.abulk_create(batch)
            done += 1
            if done % 25 == 0 or done == count:
                progress(sys.stderr, done, count, label)

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    await RequestTrace.objects.abulk_create(pending)
    return [s for s in samples if s is not None]


def _trace_of(sample: Sample | None) -> RequestTrace:
    assert sample is not None
    return RequestTrace(
        source=TRACE_SOURCE, feature=sample.feature, model=sample.model, endpoint=sample.endpoint,
        region=sample.region, upstream_id=sample.upstream_id, ttft_ms=sample.ttft_ms,
        total_ms=sample.total_ms, upstream_ttft_ms=sample.upstream_ttft_ms,
        hedged=sample.hedged, fallbacks=sample.fallbacks,
        status=RequestTrace.Status.OK if sample.answered else RequestTrace.Status.FAILED,
    )  # fmt: skip


async def bench_traces_delete(*, since_ts: float) -> int:
    """Remove the traces this run left, so that dashboards show the app's own requests."""
    from datetime import UTC, datetime

    since = datetime.fromtimestamp(since_ts, tz=UTC)
    deleted, _ = await RequestTrace.objects.filter(
        source=TRACE_SOURCE, created_at__gte=since
    ).adelete()
    observations_forget()
    return deleted


async def arm_run(
    label: str,
    *,
    count: int,
    settings: StrategySettings,
    work: Path,
    max_tokens: int | None,
    feature: str = "chat",
    varied: bool = False,
    faults: dict[str, float] | None = None,
) -> tuple[list[Sample], HedgeBudget, SimulatorChild, float]:
    """One arm on a fresh simulator with the same seed: the same workload for every arm.
    The simulator is left running for its log; the caller stops it."""
    simulator = await asyncio.to_thread(
        simulator_start, time_scale=1.0, seed=SEED, stderr_path=work / f"{label}.err"
    )
    if faults:
        await asyncio.to_thread(simulator.configure, **faults)
    catalog = catalog_parse(
        text=Path(settings.MODEL_CATALOG).read_text(), environ={"SIMULATOR_URL": simulator.url}
    )
    names = [endpoint.name for endpoint in catalog.endpoints()]
    await breakers_reset(endpoints=names)
    health_forget()
    registry, hedges, started_ts = ClientRegistry(), HedgeBudget(), time.time()
    lost_s = 1.0 + settings.first_token_timeout_s + 30.0

    async def one(index: int) -> Sample:
        return await _ask(
            feature=feature,
            messages=question_make(index, varied=varied),
            settings=settings,
            catalog=catalog,
            registry=registry,
            hedges=hedges,
            max_tokens=max_tokens,
        )

    try:
        samples = await _drive(label, count, one, lost_s)
    finally:
        await prober.probes_cancel()
        await registry.close()
    return samples, hedges, simulator, started_ts

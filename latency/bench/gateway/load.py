"""The load: streamed chat completions through the official `openai` SDK (AsyncOpenAI), closed
loop (N streams, each sends its next request when the last one ends) or open loop (Poisson
arrivals at a fixed rate, whatever is still in flight), timed at the client."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2
from openai import AsyncOpenAI, DefaultAsyncHttpxClient

TOPICS = (
    "glaciers", "compilers", "sourdough", "tidal power", "beekeeping", "violin varnish",
    "satellite orbits", "coral reefs", "medieval maps", "jazz harmony", "soil bacteria",
    "bridge cables", "volcanic glass", "chess openings", "desert lichens", "paper making",
    "radio antennas", "octopus vision", "wind tunnels", "tea fermentation",
)  # fmt: skip


@dataclass(frozen=True)
class Endpoint:
    """Where a load goes: an OpenAI-compatible base URL, a key and the model to ask for."""

    name: str
    base_url: str
    api_key: str
    model: str


@dataclass
class Sample:
    """One streamed request as the client saw it, and what the stream said about itself."""

    sent_at: float  # time.time() when sent
    ttft_ms: float | None = None  # to the first chunk carrying content
    total_ms: float | None = None  # to the end of the stream
    error: str = ""
    x_cache: str = ""  # the app's X-Cache header (exact, semantic, miss, off), "" elsewhere
    chunk_id: str = ""  # the stream's id: the upstream's own when nothing sits in between
    server_ttft_ms: float | None = None  # the app's x_latency, to find its trace
    server_total_ms: float | None = None
    completion_tokens: int | None = None


@dataclass
class ArmLoad:
    samples: list[Sample] = field(default_factory=list)
    wall_s: float = 0.0
    max_in_flight: int = 0
    offered_rps: float | None = None  # open loop: the arrival rate


def client_make(*, endpoint: Endpoint, connections: int) -> AsyncOpenAI:
    limits = httpx2.Limits(max_connections=connections, max_keepalive_connections=connections)
    http_client = DefaultAsyncHttpxClient(limits=limits, timeout=httpx2.Timeout(60.0))
    return AsyncOpenAI(
        base_url=endpoint.base_url, api_key=endpoint.api_key, max_retries=0,
        http_client=http_client,
    )  # fmt: skip


def question_unique(*, index: int) -> str:
    """A question nothing has cached: two topics and a fresh id (the id alone would be close
    to an earlier question for the semantic tier; the topics make it far)."""
    rng = random.Random(uuid.uuid4().int)
    first, second = rng.sample(TOPICS, 2)
    return f"How do {first} relate to {second}? Case {uuid.uuid4().hex[:10]}, question {index}."


def questions_repeated(*, seeds: list[str]) -> Callable[[int], str]:
    return lambda index: seeds[index % len(seeds)]


async def request_stream(*, client: AsyncOpenAI, model: str, question: str) -> Sample:
    sample = Sample(sent_at=time.time())
    sent = time.perf_counter()
    try:
        raw = await client.chat.completions.with_raw_response.create(
            model=model, messages=[{"role": "user", "content": question}], stream=True,
            stream_options={"include_usage": True},
        )  # fmt: skip
        sample.x_cache = raw.headers.get("x-cache", "")
        async for chunk in raw.parse():
            if sample.ttft_ms is None and chunk.choices and chunk.choices[0].delta.content:
                sample.ttft_ms = (time.perf_counter() - sent) * 1000
            sample.chunk_id = sample.chunk_id or chunk.id or ""
            latency = (chunk.model_extra or {}).get("x_latency")
            if latency:
                sample.server_ttft_ms = latency.get("ttft_ms")
                sample.server_total_ms = latency.get("total_ms")
            if chunk.usage is not None:
                sample.completion_tokens = chunk.usage.completion_tokens
        sample.total_ms = (time.perf_counter() - sent) * 1000
        if sample.ttft_ms is None:
            sample.error = "no content"
    except Exception as error:  # noqa: BLE001 - every failure is a counted error, not a crash
        sample.error = f"{type(error).__name__}: {str(error)[:120]}"
    return sample


async def load_closed(
    *, client: AsyncOpenAI, model: str, questions: Callable[[int], str], streams: int,
    seconds: float,
) -> ArmLoad:  # fmt: skip
    """`streams` loops, each sending its next request when its last one ends, until time."""
    load, counter = ArmLoad(), iter(range(10**9))
    started = time.perf_counter()
    deadline = started + seconds

    async def stream_loop() -> None:
        while time.perf_counter() < deadline:
            question = questions(next(counter))
            load.samples.append(await request_stream(client=client, model=model, question=question))

    await asyncio.gather(*(stream_loop() for _ in range(streams)))
    load.wall_s, load.max_in_flight = time.perf_counter() - started, streams
    return load


async def load_open(
    *, client: AsyncOpenAI, model: str, questions: Callable[[int], str], rate: float,
    seconds: float, seed: int = 17,
) -> ArmLoad:  # fmt: skip
    """Poisson arrivals at `rate` a second for `seconds` (see `arrivals_open`)."""
    load = ArmLoad(offered_rps=round(rate, 2))

    async def one(index: int) -> None:
        question = questions(index)
        load.samples.append(await request_stream(client=client, model=model, question=question))

    load.max_in_flight, load.wall_s = await arrivals_open(
        rate=rate, seconds=seconds, one=one, seed=seed
    )
    return load


async def arrivals_open(
    *, rate: float, seconds: float, one: Callable[[int], Awaitable[None]], seed: int = 17
) -> tuple[int, float]:
    """Call `one(index)` at Poisson arrivals of `rate` a second for `seconds`, each run to its
    end however many are in flight (an open loop: a slow server gets more concurrency, not
    less load). Returns the most in flight at once and the wall time to the last one's end."""
    rng, in_flight, most = random.Random(seed), 0, 0

    async def tracked(index: int) -> None:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        try:
            await one(index)
        finally:
            in_flight -= 1

    started = time.perf_counter()
    next_at, tasks = started, []
    while True:
        next_at += rng.expovariate(rate)
        if next_at > started + seconds:
            break
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
        tasks.append(asyncio.create_task(tracked(len(tasks))))
    await asyncio.gather(*tasks)
    return most, time.perf_counter() - started


def samples_summary(samples: list[Any], *, tokens: list[int] | None = None) -> dict[str, Any]:
    """Requests, errors by kind, and the answers' mean length (`tokens` when the caller knows
    them better than the streams' usage, e.g. from the app's traces)."""
    ok = [s for s in samples if not s.error]
    tokens = [t for t in (tokens or [s.completion_tokens for s in ok]) if t]
    errors: dict[str, int] = {}
    for s in samples:
        if s.error:
            errors[s.error] = errors.get(s.error, 0) + 1
    return {
        "requests": len(samples), "ok": len(ok), "errors": len(samples) - len(ok),
        "error_kinds": dict(sorted(errors.items(), key=lambda kv: -kv[1])[:5]),
        "mean_completion_tokens": round(sum(tokens) / len(tokens), 1) if tokens else None,
    }  # fmt: skip

"""Prefill, per-endpoint capacity and rate limits, as a client notices them: a long prompt's
first token comes later, requests beyond capacity wait their turn, and over a limit a 429 says
when to retry. Each test switches what it needs on with `configure(...)` and puts it back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
from openai import AsyncOpenAI

from latency.simulator.__main__ import parser_build, realism_options
from latency.simulator.faults import BARE
from latency.simulator.profiles import ENDPOINT_CAPACITY, ENDPOINT_RPM, ENDPOINT_TPM
from latency.testing.processes import SimulatorChild, simulator_start

SHORT = [{"role": "user", "content": "What is prefill?"}]
LONG = [{"role": "user", "content": "Summarise this. " + "token budget words " * 7000}]


@pytest.fixture
async def configured(simulator: SimulatorChild) -> AsyncIterator[Any]:
    """`await configured(**changes)`; the previous config is put back after the test."""
    previous = await asyncio.to_thread(simulator.config)

    async def change(**changes: Any) -> dict[str, Any]:
        return await asyncio.to_thread(simulator.configure, **changes)

    yield change
    await asyncio.to_thread(simulator.configure, **previous)


async def _ttft(client: AsyncOpenAI, **request: Any) -> tuple[float, str]:
    """Seconds to the first content chunk, as the client sees it, and the completion id."""
    started = time.perf_counter()
    stream = await client.chat.completions.create(stream=True, **request)
    ttft = None
    async for chunk in stream:
        if ttft is None and chunk.choices and chunk.choices[0].delta.content:
            ttft = time.perf_counter() - started
    assert ttft is not None
    return ttft, chunk.id


async def _record(simulator: SimulatorChild, completion_id: str) -> dict[str, Any]:
    return await asyncio.to_thread(simulator.log_record, completion_id=completion_id)


async def test_prefill_makes_a_long_prompt_answer_later(
    simulator: SimulatorChild, client: AsyncOpenAI, configured: Any
) -> None:
    await configured(prefill=True)
    short = [await _ttft(client, model="llama-3.1-8b", messages=SHORT) for _ in range(3)]
    long = [await _ttft(client, model="llama-3.1-8b", messages=LONG) for _ in range(3)]
    # The minimum of three avoids the profile's heavy tail deciding the comparison.
    assert min(t for t, _ in long) > min(t for t, _ in short) + 0.02
    record = await _record(simulator, long[0][1])
    assert record["prompt_tokens"] > 25_000 and record["prefill_ms"] > 40
    assert min(t for t, _ in long) * 1000 >= record["prefill_ms"]
    assert record["planned_ttft_ms"] >= record["prefill_ms"] + record["rtt_ms"]
    assert (await _record(simulator, short[0][1]))["prefill_ms"] < 1
    await configured(prefill=False)
    _, completion_id = await _ttft(client, model="llama-3.1-8b", messages=LONG)
    assert (await _record(simulator, completion_id))["prefill_ms"] == 0


async def test_beyond_capacity_requests_queue_and_ttft_grows(
    simulator: SimulatorChild, client: AsyncOpenAI, configured: Any
) -> None:
    await configured(capacity=2)
    results = await asyncio.gather(
        *(_ttft(client, model="gpt-5", messages=SHORT) for _ in range(6))
    )
    records = [await _record(simulator, completion_id) for _, completion_id in results]
    waits = sorted(record["queue_ms"] for record in records)
    assert waits[1] < 20 and waits[-2] > 100  # two served at once, the last two after two waves
    by_wait = sorted(zip(records, results, strict=True), key=lambda pair: pair[0]["queue_ms"])
    # The client sees the wait (against the faster of the two served at once: one may be a tail).
    assert by_wait[-1][1][0] > min(by_wait[0][1][0], by_wait[1][1][0]) + 0.1
    for record, (ttft, _) in by_wait:
        assert record["planned_ttft_ms"] >= record["queue_ms"] + record["rtt_ms"]
        assert ttft * 1000 >= record["queue_ms"]
    await configured(capacity=0)
    results = await asyncio.gather(
        *(_ttft(client, model="gpt-5", messages=SHORT) for _ in range(6))
    )
    records = [await _record(simulator, completion_id) for _, completion_id in results]
    assert max(record["queue_ms"] for record in records) < 20


async def test_over_the_request_limit_a_429_carries_retry_after(
    client: AsyncOpenAI, configured: Any
) -> None:
    await configured(rpm=3, time_scale=0.01)  # a "minute" of 0.6 s: three requests in it
    remaining = []
    for _ in range(3):
        raw = await client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=SHORT
        )
        assert raw.headers["x-ratelimit-limit-requests"] == "3"
        assert raw.headers["x-ratelimit-reset-requests"].endswith("s")
        remaining.append(int(raw.headers["x-ratelimit-remaining-requests"]))
    assert remaining == [2, 1, 0]
    with pytest.raises(openai.RateLimitError) as caught:
        await client.chat.completions.create(model="gpt-4o-mini", messages=SHORT)
    headers = caught.value.response.headers
    assert int(headers["retry-after"]) >= 1 and 0 < int(headers["retry-after-ms"]) <= 600
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert caught.value.code == "rate_limit_exceeded" and caught.value.body["type"] == "requests"
    await asyncio.sleep(int(headers["retry-after-ms"]) / 1000 + 0.05)
    reply = await client.chat.completions.create(model="gpt-4o-mini", messages=SHORT)
    assert reply.choices[0].message.content


async def test_over_the_token_limit_a_429_says_tokens(client: AsyncOpenAI, configured: Any) -> None:
    await configured(tpm=200)
    with pytest.raises(openai.RateLimitError) as caught:
        await client.chat.completions.create(model="gpt-4o-mini", messages=LONG[:1])
    assert caught.value.body["type"] == "tokens"
    assert caught.value.response.headers["x-ratelimit-limit-tokens"] == "200"
    assert "x-ratelimit-limit-requests" not in caught.value.response.headers


async def test_the_bare_profile_sends_no_rate_limit_headers(client: AsyncOpenAI) -> None:
    raw = await client.chat.completions.with_raw_response.create(model="gpt-4o", messages=SHORT)
    assert not [name for name in raw.headers if name.startswith("x-ratelimit")]


def test_cli_flags_switch_each_part_on_its_own() -> None:
    def options(*argv: str) -> dict[str, Any]:
        return realism_options(args=parser_build().parse_args(list(argv)))

    defaults = {"prefill": True, "capacity": ENDPOINT_CAPACITY, "rpm": ENDPOINT_RPM}
    assert options() == {**defaults, "tpm": ENDPOINT_TPM}
    assert options("--bare") == BARE
    assert options("--bare", "--capacity", "4") == {**BARE, "capacity": 4}
    assert options("--no-prefill", "--rpm", "0")["prefill"] is False
    assert options("--no-prefill", "--rpm", "0")["rpm"] == 0
    assert options("--tpm", "5000")["capacity"] == ENDPOINT_CAPACITY


async def test_started_without_flags_it_is_realistic_and_generous(
    tmp_path: Any, client_for: Any
) -> None:
    child = await asyncio.to_thread(
        simulator_start, time_scale=0.1, bare=False, stderr_path=tmp_path / "stderr.log"
    )
    try:
        config = await asyncio.to_thread(child.config)
        assert config["prefill"] is True and config["capacity"] == ENDPOINT_CAPACITY
        assert (config["rpm"], config["tpm"]) == (ENDPOINT_RPM, ENDPOINT_TPM)
        raw = await client_for(child.v1).chat.completions.with_raw_response.create(
            model="gpt-4o", messages=SHORT
        )
        assert raw.headers["x-ratelimit-remaining-requests"] == str(ENDPOINT_RPM - 1)
        assert int(raw.headers["x-ratelimit-remaining-tokens"]) > ENDPOINT_TPM - 1000
    finally:
        await asyncio.to_thread(child.stop)

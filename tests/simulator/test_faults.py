"""Faults forced by header or drawn from rates, stalls, timeouts and client disconnects.

Every test that changes the simulator's config puts the previous one back.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest
from openai import AsyncOpenAI

from latency.testing.processes import SimulatorChild

ClientFactory = Callable[..., AsyncOpenAI]
QUESTION = [{"role": "user", "content": "What makes a semantic cache fast?"}]


async def _record_of(simulator: SimulatorChild, completion_id: str) -> dict[str, Any]:
    return await asyncio.to_thread(simulator.log_record, completion_id=completion_id)


async def test_forced_429_is_a_rate_limit_with_retry_after(client: AsyncOpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        await client.chat.completions.create(
            model="gpt-4o", messages=QUESTION, extra_headers={"X-Sim-Fault": "429"}
        )
    assert caught.value.code == "rate_limit_exceeded"
    assert caught.value.response.headers["retry-after"]


async def test_forced_500_is_a_server_error(client: AsyncOpenAI) -> None:
    with pytest.raises(openai.InternalServerError):
        await client.chat.completions.create(
            model="gpt-4o", messages=QUESTION, stream=True, extra_headers={"X-Sim-Fault": "500"}
        )


async def test_sim_config_changes_the_error_rate(
    simulator: SimulatorChild, client: AsyncOpenAI
) -> None:
    previous = await asyncio.to_thread(simulator.config)
    try:
        changed = await asyncio.to_thread(simulator.configure, error_429=1.0)
        assert changed["error_429"] == 1.0
        assert (await asyncio.to_thread(simulator.config))["error_429"] == 1.0
        for _ in range(3):
            with pytest.raises(openai.RateLimitError):
                await client.chat.completions.create(model="gpt-4o-mini", messages=QUESTION)
    finally:
        await asyncio.to_thread(simulator.configure, **previous)
    reply = await client.chat.completions.create(model="gpt-4o-mini", messages=QUESTION)
    assert reply.choices[0].message.content


async def test_invalid_config_is_refused(simulator: SimulatorChild) -> None:
    def post(body: dict[str, Any]) -> int:
        request = urllib.request.Request(
            f"{simulator.url}/sim/config", data=json.dumps(body).encode()
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    for body in ({"error_429": 2}, {"stall_rate": "often"}, {"latency": 1}):
        assert await asyncio.to_thread(post, body) == 400


async def test_stall_sends_a_few_tokens_then_nothing(
    simulator: SimulatorChild, client_for: ClientFactory
) -> None:
    client = client_for(simulator.v1, timeout=1.0)
    stream = await client.chat.completions.create(
        model="gpt-4o-mini", messages=QUESTION, stream=True, extra_headers={"X-Sim-Fault": "stall"}
    )
    completion_ids, contents, finish_reasons = set(), [], []
    with pytest.raises(openai.APITimeoutError):
        async for chunk in stream:
            completion_ids.add(chunk.id)
            contents += [chunk.choices[0].delta.content] if chunk.choices[0].delta.content else []
            finish_reasons.append(chunk.choices[0].finish_reason)
    (completion_id,) = completion_ids
    record = await _record_of(simulator, completion_id)
    assert record["fault"] == "stall" and record["outcome"] == "client_disconnected"
    assert 0 < len(contents) == record["tokens_sent"] < record["completion_tokens"]
    assert set(finish_reasons) == {None}


@pytest.mark.parametrize(("fault", "raised"), [("malformed", json.JSONDecodeError),
                                               ("reset", openai.APIConnectionError)])  # fmt: skip
async def test_a_broken_stream_sends_a_few_tokens_then_breaks(
    simulator: SimulatorChild, client: AsyncOpenAI, fault: str, raised: type[Exception]
) -> None:
    """"malformed": a line that is not JSON where the next chunk should be; "reset": the
    connection dropped mid-stream. Either way no finish reason and no [DONE] arrive."""
    stream = await client.chat.completions.create(
        model="gpt-4o-mini", messages=QUESTION, stream=True, extra_headers={"X-Sim-Fault": fault}
    )
    completion_ids, contents = set(), []
    with pytest.raises(raised):
        async for chunk in stream:
            completion_ids.add(chunk.id)
            contents += [chunk.choices[0].delta.content] if chunk.choices[0].delta.content else []
            assert chunk.choices[0].finish_reason is None
    (completion_id,) = completion_ids
    record = await _record_of(simulator, completion_id)
    assert record["fault"] == fault and record["outcome"] == fault
    assert 0 < len(contents) == record["tokens_sent"] < record["completion_tokens"]
    # The server itself is unharmed: the next request is answered whole.
    reply = await client.chat.completions.create(model="gpt-4o-mini", messages=QUESTION)
    assert reply.choices[0].finish_reason == "stop"


@pytest.mark.parametrize("fault", ["malformed", "reset"])
async def test_a_broken_body_is_half_a_completion(client: AsyncOpenAI, fault: str) -> None:
    with pytest.raises((json.JSONDecodeError, openai.APIError, httpx.HTTPError)):
        await client.chat.completions.create(
            model="gpt-4o-mini", messages=QUESTION, extra_headers={"X-Sim-Fault": fault}
        )


async def test_timeout_holds_the_connection_without_a_byte(
    simulator: SimulatorChild, client_for: ClientFactory
) -> None:
    started = time.time()
    client = client_for(simulator.v1, timeout=0.5)
    with pytest.raises(openai.APITimeoutError):
        await client.chat.completions.create(
            model="gpt-4o", messages=QUESTION, stream=True, extra_headers={"X-Sim-Fault": "timeout"}
        )
    timeouts: list[dict[str, Any]] = []
    for _ in range(100):  # the server closes the record as soon as it sees the client leave
        records = await asyncio.to_thread(simulator.log, after_ts=started)
        timeouts = [record for record in records if record["fault"] == "timeout"]
        if timeouts:
            break
        await asyncio.sleep(0.05)
    assert len(timeouts) == 1
    assert timeouts[0]["outcome"] == "client_disconnected" and timeouts[0]["tokens_sent"] == 0
    assert timeouts[0]["status"] == 499


async def test_a_client_leaving_mid_stream_stops_generation_and_the_server_keeps_serving(
    simulator: SimulatorChild, client: AsyncOpenAI
) -> None:
    previous = await asyncio.to_thread(simulator.config)
    await asyncio.to_thread(simulator.configure, time_scale=1.0)  # real pacing: time to leave
    try:
        stream = await client.chat.completions.create(
            model="gemini-2.5-pro", messages=QUESTION, stream=True
        )
        received = 0
        async for chunk in stream:
            received += bool(chunk.choices and chunk.choices[0].delta.content)
            if received == 2:
                break
        await stream.close()
    finally:
        await asyncio.to_thread(simulator.configure, **previous)
    record = await _record_of(simulator, chunk.id)
    assert record["outcome"] == "client_disconnected"
    assert 2 <= record["tokens_sent"] < record["completion_tokens"]
    reply = await client.chat.completions.create(model="gemini-2.5-pro", messages=QUESTION)
    assert reply.choices[0].finish_reason == "stop"


async def test_many_concurrent_streams_all_complete(client: AsyncOpenAI) -> None:
    async def one(index: int) -> tuple[str, str | None]:
        messages = [{"role": "user", "content": f"Concurrent question {index} about routing"}]
        stream = await client.chat.completions.create(
            model="gpt-4o", messages=messages, stream=True
        )
        chunks = [chunk async for chunk in stream]
        return chunks[0].id, chunks[-1].choices[0].finish_reason

    results = await asyncio.gather(*(one(index) for index in range(32)))
    assert len({completion_id for completion_id, _ in results}) == 32
    assert {finish for _, finish in results} == {"stop"}

"""The simulator over real HTTP through the official `openai` SDK: protocol, regions, context, log.

Faults and disconnects are in test_faults.py.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import openai
import pytest
from openai import AsyncOpenAI

from latency.simulator import PROFILES
from latency.testing.processes import SimulatorChild

QUESTION = [{"role": "user", "content": "How do websockets keep chat latency low?"}]
ClientFactory = Callable[..., AsyncOpenAI]
CONTEXT = """<context>
[1] The office opens at nine in the morning and closes at six.
[2] Refunds are issued within 14 days of a return. Shipping is free above 50 euros.
[3] Support answers emails on weekdays.
</context>"""


async def _stream_collect(client: AsyncOpenAI, **request: Any) -> tuple[list[Any], str]:
    stream = await client.chat.completions.create(stream=True, **request)
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return chunks, text


def _content_chunks(chunks: list[Any]) -> list[Any]:
    return [c for c in chunks if c.choices and c.choices[0].delta.content]


async def _record_of(simulator: SimulatorChild, completion_id: str) -> dict[str, Any]:
    return await asyncio.to_thread(simulator.log_record, completion_id=completion_id)


async def test_models_are_listed(client: AsyncOpenAI) -> None:
    page = await client.models.list()
    assert {model.id for model in page.data} == set(PROFILES)
    assert (await client.models.retrieve("gpt-4o")).owned_by == "openai"


async def test_streamed_text_joins_to_the_non_streamed_text(client: AsyncOpenAI) -> None:
    chunks, streamed = await _stream_collect(
        client, model="gpt-4o", messages=QUESTION, temperature=0.7
    )
    whole = await client.chat.completions.create(model="gpt-4o", messages=QUESTION)
    assert len(_content_chunks(chunks)) > 5
    assert streamed == whole.choices[0].message.content
    assert len({chunk.id for chunk in chunks}) == 1 and chunks[0].id.startswith("chatcmpl-")
    assert {chunk.model for chunk in chunks} == {"gpt-4o"}
    assert len({chunk.created for chunk in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert whole.usage is not None
    assert whole.usage.completion_tokens == len(_content_chunks(chunks))
    assert whole.id != chunks[0].id


async def test_usage_arrives_in_a_last_chunk_with_include_usage(client: AsyncOpenAI) -> None:
    chunks, _ = await _stream_collect(
        client,
        model="claude-haiku-4.5",
        messages=QUESTION,
        stream_options={"include_usage": True},
    )
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert last.usage.completion_tokens == len(_content_chunks(chunks))
    assert last.usage.prompt_tokens > 0
    assert all(chunk.usage is None for chunk in chunks[:-1])


async def test_max_tokens_cuts_the_answer(client: AsyncOpenAI) -> None:
    full = await client.chat.completions.create(model="gpt-5", messages=QUESTION)
    cut = await client.chat.completions.create(model="gpt-5", messages=QUESTION, max_tokens=5)
    chunks, streamed = await _stream_collect(
        client, model="gpt-5", messages=QUESTION, max_completion_tokens=7
    )
    assert cut.choices[0].finish_reason == "length" and cut.usage.completion_tokens == 5
    assert full.choices[0].message.content.startswith(cut.choices[0].message.content)
    assert len(_content_chunks(chunks)) == 7 and chunks[-1].choices[0].finish_reason == "length"
    assert full.choices[0].message.content.startswith(streamed)


async def test_region_prefix_adds_a_network_round_trip(
    simulator: SimulatorChild, client_for: ClientFactory
) -> None:
    records = {}
    for region in ("", "edge-eu", "cloud-us"):
        client = client_for(f"{simulator.url}/{region}/v1" if region else simulator.v1)
        reply = await client.chat.completions.create(model="gpt-4o-mini", messages=QUESTION)
        records[region] = await _record_of(simulator, reply.id)
    assert records[""]["rtt_ms"] == 0 and records[""]["region"] is None
    assert records["edge-eu"]["region"] == "edge-eu"
    assert 0 < records["edge-eu"]["rtt_ms"] < records["cloud-us"]["rtt_ms"]
    for record in records.values():
        assert record["planned_ttft_ms"] >= record["rtt_ms"]
    with pytest.raises(openai.NotFoundError):
        await client_for(f"{simulator.url}/mars/v1").models.list()


async def test_context_answers_quote_the_context_with_markers(client: AsyncOpenAI) -> None:
    messages = [
        {"role": "system", "content": f"Answer only from the context.\n{CONTEXT}"},
        {"role": "user", "content": "How long do refunds take?"},
    ]
    reply = await client.chat.completions.create(model="gpt-4o", messages=messages)
    text = reply.choices[0].message.content
    assert '"Refunds are issued within 14 days of a return." [2]' in text
    assert "[1]" not in text and "[3]" not in text
    empty = [{"role": "user", "content": "<context>\n</context>\nHow long do refunds take?"}]
    reply = await client.chat.completions.create(model="gpt-4o", messages=empty)
    assert "nothing relevant" in reply.choices[0].message.content


async def test_unknown_model_is_not_found(client: AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        await client.chat.completions.create(model="gpt-9", messages=QUESTION)
    assert caught.value.code == "model_not_found"


async def test_bad_requests_get_openai_errors(simulator: SimulatorChild) -> None:
    def post(body: bytes) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(f"{simulator.v1}/chat/completions", data=body)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, json.load(error)

    status, body = await asyncio.to_thread(post, b"{not json")
    assert status == 400 and body["error"]["type"] == "invalid_request_error"
    status, body = await asyncio.to_thread(post, json.dumps({"model": "gpt-4o"}).encode())
    assert status == 400 and body["error"]["param"] == "messages"
    assert body["error"]["code"] == "missing_required_parameter"


async def test_empty_messages_are_a_bad_request(client: AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError):
        await client.chat.completions.create(model="gpt-4o", messages=[])


async def test_the_log_has_one_line_per_request(
    simulator: SimulatorChild, client: AsyncOpenAI
) -> None:
    started = time.time()
    ids = []
    for index in range(3):
        messages = [{"role": "user", "content": f"Question number {index} about caching"}]
        reply = await client.chat.completions.create(model="llama-3.1-8b", messages=messages)
        ids.append(reply.id)
    chunks, _ = await _stream_collect(client, model="llama-3.1-8b", messages=QUESTION)
    ids.append(chunks[0].id)
    records = await asyncio.to_thread(simulator.log, after_ts=started)
    ours = [record for record in records if record["id"] in ids]
    assert sorted(record["id"] for record in ours) == sorted(ids)
    assert [record["stream"] for record in ours] == [False, False, False, True]
    for record in ours:
        assert record["model"] == "llama-3.1-8b" and record["status"] == 200
        assert record["fault"] is None and record["outcome"] == "ok"
        assert record["planned_ttft_ms"] > 0 and record["itl_ms"] > 0
        assert record["completion_tokens"] == record["tokens_sent"] > 0
    in_file = {json.loads(line)["id"] for line in simulator.log_path.read_text().splitlines()}
    assert set(ids) <= in_file

"""The chat-completions surface apps use, through the official SDK: JSON mode and schemas, `n`,
`stop`, `seed`, `logprobs`, content parts, usage, OpenAI's 400s and ignored unknown fields."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from openai import AsyncOpenAI, OpenAI

from tests.simulator.schema_check import schema_problems

QUESTION = [{"role": "user", "content": "How does a semantic cache choose its threshold?"}]
PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer", "minimum": 0, "maximum": 120},
        "role": {"type": "string", "enum": ["admin", "member", "guest"]},
        "skills": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "address": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "zip": {"type": "string"}},
            "required": ["city", "zip"],
            "additionalProperties": False,
        },
    },
    "required": ["name", "age", "role", "skills", "address"],
    "additionalProperties": False,
}


async def test_json_schema_output_matches_the_schema_streamed_or_not(client: AsyncOpenAI) -> None:
    response_format: Any = {
        "type": "json_schema",
        "json_schema": {"name": "person", "schema": PERSON, "strict": True},
    }
    messages = [{"role": "user", "content": "Invent a user profile for Lisbon"}]
    whole = await client.chat.completions.create(
        model="gpt-4o", messages=messages, response_format=response_format
    )
    value = json.loads(whole.choices[0].message.content)
    assert schema_problems(value, PERSON) == []
    stream = await client.chat.completions.create(
        model="gpt-4o", messages=messages, response_format=response_format, stream=True
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == whole.choices[0].message.content


def test_json_object_mode_gives_a_json_object(sync_client: OpenAI) -> None:
    messages = [{"role": "user", "content": "Answer in JSON: what is pgvector?"}]
    reply = sync_client.chat.completions.create(
        model="gpt-4o-mini", messages=messages, response_format={"type": "json_object"}
    )
    assert isinstance(json.loads(reply.choices[0].message.content), dict)
    with pytest.raises(openai.BadRequestError):  # OpenAI wants "json" in the messages
        sync_client.chat.completions.create(
            model="gpt-4o-mini", messages=QUESTION, response_format={"type": "json_object"}
        )


async def test_n_choices_each_with_its_own_text_and_index(client: AsyncOpenAI) -> None:
    reply = await client.chat.completions.create(model="gpt-4o", messages=QUESTION, n=3)
    assert [choice.index for choice in reply.choices] == [0, 1, 2]
    texts = [choice.message.content for choice in reply.choices]
    assert len(set(texts)) == 3
    single = await client.chat.completions.create(model="gpt-4o", messages=QUESTION)
    assert texts[0] == single.choices[0].message.content
    assert reply.usage.completion_tokens > single.usage.completion_tokens
    stream = await client.chat.completions.create(
        model="gpt-4o", messages=QUESTION, n=3, stream=True, stream_options={"include_usage": True}
    )
    streamed = {0: "", 1: "", 2: ""}
    chunks = [chunk async for chunk in stream]
    for chunk in chunks:
        for choice in chunk.choices:
            streamed[choice.index] += choice.delta.content or ""
    assert list(streamed.values()) == texts
    assert chunks[-1].usage.completion_tokens == reply.usage.completion_tokens


def test_stop_cuts_before_the_first_stop_sequence(sync_client: OpenAI) -> None:
    full = sync_client.chat.completions.create(model="gpt-5", messages=QUESTION)
    text = full.choices[0].message.content
    cut = sync_client.chat.completions.create(model="gpt-5", messages=QUESTION, stop=[".", "\n"])
    expected = text[: min(i for i in (text.find("."), text.find("\n")) if i >= 0)]
    assert cut.choices[0].message.content == expected.rstrip()
    assert cut.choices[0].finish_reason == "stop"
    assert cut.usage.completion_tokens < full.usage.completion_tokens
    one = sync_client.chat.completions.create(model="gpt-5", messages=QUESTION, stop=".")
    assert one.choices[0].message.content == cut.choices[0].message.content
    length = sync_client.chat.completions.create(
        model="gpt-5", messages=QUESTION, max_completion_tokens=3
    )
    assert length.choices[0].finish_reason == "length" and length.usage.completion_tokens == 3


async def test_seed_is_part_of_what_decides_the_answer(client: AsyncOpenAI) -> None:
    async def text(**extra: Any) -> str:
        reply = await client.chat.completions.create(model="gpt-4o", messages=QUESTION, **extra)
        return reply.choices[0].message.content

    assert await text(seed=1) == await text(seed=1)
    assert len({await text(seed=seed) for seed in range(4)}) > 1
    assert await text(user="user-42", temperature=1.3) == await text()


async def test_logprobs_are_deterministic_in_openai_shape(client: AsyncOpenAI) -> None:
    reply = await client.chat.completions.create(
        model="gpt-4o", messages=QUESTION, logprobs=True, top_logprobs=3
    )
    again = await client.chat.completions.create(
        model="gpt-4o", messages=QUESTION, logprobs=True, top_logprobs=3
    )
    content = reply.choices[0].logprobs.content
    assert "".join(entry.token for entry in content) == reply.choices[0].message.content
    assert content == again.choices[0].logprobs.content
    for entry in content:
        assert entry.logprob <= 0 and entry.bytes == list(entry.token.encode())
        assert len(entry.top_logprobs) == 3 and entry.top_logprobs[0].token == entry.token
        ranked = [top.logprob for top in entry.top_logprobs]
        assert ranked == sorted(ranked, reverse=True)
    stream = await client.chat.completions.create(
        model="gpt-4o", messages=QUESTION, logprobs=True, top_logprobs=3, stream=True
    )
    streamed = [
        entry
        async for chunk in stream
        if chunk.choices and chunk.choices[0].logprobs
        for entry in chunk.choices[0].logprobs.content
    ]
    assert streamed == content


def test_content_parts_and_tool_history_are_accepted(sync_client: OpenAI) -> None:
    parts = [{"role": "user", "content": [{"type": "text", "text": QUESTION[0]["content"]}]}]
    as_parts = sync_client.chat.completions.create(model="gpt-4o", messages=parts)
    as_text = sync_client.chat.completions.create(model="gpt-4o", messages=QUESTION)
    assert as_parts.choices[0].message.content == as_text.choices[0].message.content
    history = [
        {"role": "user", "content": "Look up the order"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "order_get", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "order 7 shipped"},
        {"role": "user", "content": "Thanks, and how do refunds work?"},
    ]
    reply = sync_client.chat.completions.create(model="gpt-4o", messages=history)
    assert reply.choices[0].finish_reason == "stop" and reply.choices[0].message.content


async def test_usage_is_always_filled(client: AsyncOpenAI) -> None:
    reply = await client.chat.completions.create(model="llama-3.1-8b", messages=QUESTION)
    usage = reply.usage
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"n": 0}, "n"),
        ({"n": 9}, "n"),
        ({"temperature": 2.5}, "temperature"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"response_format": {"type": "xml"}}, "response_format.type"),
        ({"response_format": {"type": "json_schema"}}, "response_format.json_schema"),
        ({"top_logprobs": 3}, "top_logprobs"),
        ({"seed": "seven"}, "seed"),
        ({"tool_choice": "auto"}, "tool_choice"),
    ],
)
async def test_invalid_values_get_openai_400s(
    client: AsyncOpenAI, extra: dict[str, Any], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(model="gpt-4o", messages=QUESTION, extra_body=extra)
    body = caught.value.body
    assert body["type"] == "invalid_request_error" and body["param"] == param
    assert body["message"] and "code" in body


async def test_unknown_fields_are_accepted_and_their_names_logged(
    client: AsyncOpenAI, simulator: Any
) -> None:
    reply = await client.chat.completions.create(
        model="gpt-4o", messages=QUESTION, extra_body={"reasoning_effort_v9": "max", "foo": 1}
    )
    assert reply.choices[0].finish_reason == "stop"
    fields = simulator.log_record(completion_id=reply.id)["fields"]
    assert {"reasoning_effort_v9", "foo", "model", "messages"} <= set(fields)
    assert "max" not in json.dumps(fields), "names only: no request content in the log"


async def test_reasoning_effort_only_for_models_that_reason(client: AsyncOpenAI) -> None:
    reply = await client.chat.completions.create(
        model="gpt-5", messages=QUESTION, reasoning_effort="low"
    )
    assert reply.choices[0].message.content
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(
            model="gpt-4o-mini", messages=QUESTION, reasoning_effort="low"
        )
    assert caught.value.body["param"] == "reasoning_effort"
    assert caught.value.body["code"] == "unsupported_parameter"
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(
            model="gpt-5", messages=QUESTION, extra_body={"reasoning_effort": "max"}
        )
    assert caught.value.body["code"] == "invalid_value"

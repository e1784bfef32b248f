"""Tool calls through the official SDK: arguments that validate, tool_choice, streaming deltas
in OpenAI's shape, and the final answer once the tool results are in the history."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from openai import AsyncOpenAI, OpenAI

from tests.simulator.schema_check import schema_problems

WEATHER = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer", "minimum": 1, "maximum": 7},
        "hourly": {"type": "boolean"},
        "place": {
            "type": "object",
            "properties": {
                "lat": {"type": "number"},
                "tags": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["lat", "tags"],
        },
    },
    "required": ["city", "unit", "place"],
}
TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather forecast for a city",
            "parameters": WEATHER,
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_time",
            "description": "The local time in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    },
]
ASK = [{"role": "user", "content": "What is the weather forecast in Paris?"}]
BOTH = [{"role": "user", "content": "What is the weather and the local time in Paris?"}]
SCHEMAS = {tool["function"]["name"]: tool["function"]["parameters"] for tool in TOOLS}


def _assert_valid(calls: list[Any]) -> None:
    assert calls
    for call in calls:
        assert call.type == "function" and call.id.startswith("call_")
        arguments = json.loads(call.function.arguments)
        assert schema_problems(arguments, SCHEMAS[call.function.name]) == []


async def test_a_user_turn_with_tools_gets_schema_valid_tool_calls(client: AsyncOpenAI) -> None:
    reply = await client.chat.completions.create(model="gpt-4o", messages=ASK, tools=TOOLS)
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    _assert_valid(choice.message.tool_calls)
    assert [call.function.name for call in choice.message.tool_calls] == ["get_weather"]
    assert json.loads(choice.message.tool_calls[0].function.arguments)["city"] == "Paris"
    assert reply.usage.completion_tokens > 0 and reply.usage.prompt_tokens > 0
    again = await client.chat.completions.create(model="gpt-4o", messages=ASK, tools=TOOLS)
    assert again.choices[0].message.tool_calls == choice.message.tool_calls


def test_sync_client_sees_parallel_calls_and_tool_choice(sync_client: OpenAI) -> None:
    parallel = sync_client.chat.completions.create(model="gpt-4o-mini", messages=BOTH, tools=TOOLS)
    names = [call.function.name for call in parallel.choices[0].message.tool_calls]
    assert names == ["get_weather", "get_time"]
    _assert_valid(parallel.choices[0].message.tool_calls)
    single = sync_client.chat.completions.create(
        model="gpt-4o-mini", messages=BOTH, tools=TOOLS, parallel_tool_calls=False
    )
    assert len(single.choices[0].message.tool_calls) == 1
    named = sync_client.chat.completions.create(
        model="gpt-4o-mini",
        messages=ASK,
        tools=TOOLS,
        tool_choice={"type": "function", "function": {"name": "get_time"}},
    )
    assert [c.function.name for c in named.choices[0].message.tool_calls] == ["get_time"]
    required = sync_client.chat.completions.create(
        model="gpt-4o-mini", messages=ASK, tools=TOOLS, tool_choice="required"
    )
    assert required.choices[0].finish_reason == "tool_calls"
    none = sync_client.chat.completions.create(
        model="gpt-4o-mini", messages=ASK, tools=TOOLS, tool_choice="none"
    )
    assert none.choices[0].finish_reason == "stop" and none.choices[0].message.content
    assert none.choices[0].message.tool_calls is None


async def test_streamed_tool_calls_arrive_as_openai_sends_them(client: AsyncOpenAI) -> None:
    stream = await client.chat.completions.create(
        model="gpt-4o",
        messages=BOTH,
        tools=TOOLS,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    deltas = [c.choices[0].delta for c in chunks if c.choices and c.choices[0].delta.tool_calls]
    first = deltas[0].tool_calls[0]
    assert deltas[0].role == "assistant" and deltas[0].content is None
    assert first.index == 0 and first.id.startswith("call_") and first.type == "function"
    assert first.function.name == "get_weather" and first.function.arguments == ""
    arguments: dict[int, str] = {}
    headers = []
    for delta in deltas:
        (part,) = delta.tool_calls
        if part.id is not None:
            headers.append(part)
            assert part.function.arguments == ""
        else:
            assert part.function.name is None and part.type is None
        arguments[part.index] = arguments.get(part.index, "") + (part.function.arguments or "")
    assert [h.index for h in headers] == [0, 1]
    whole = await client.chat.completions.create(model="gpt-4o", messages=BOTH, tools=TOOLS)
    calls = whole.choices[0].message.tool_calls
    assert [arguments[0], arguments[1]] == [call.function.arguments for call in calls]
    assert [h.id for h in headers] == [call.id for call in calls]
    finish = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finish == ["tool_calls"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0


async def test_tool_results_in_the_history_get_a_final_answer_using_them(
    client: AsyncOpenAI,
) -> None:
    first = await client.chat.completions.create(model="gpt-4o", messages=BOTH, tools=TOOLS)
    message = first.choices[0].message
    history: list[Any] = [*BOTH, message.model_dump(exclude_none=True)]
    results = {"get_weather": '{"temp_c": 21, "sky": "clear"}', "get_time": "14:05"}
    for call in message.tool_calls:
        history.append(
            {"role": "tool", "tool_call_id": call.id, "content": results[call.function.name]}
        )
    final = await client.chat.completions.create(model="gpt-4o", messages=history, tools=TOOLS)
    text = final.choices[0].message.content
    assert final.choices[0].finish_reason == "stop" and final.choices[0].message.tool_calls is None
    assert results["get_weather"] in text and "14:05" in text
    stream = await client.chat.completions.create(
        model="gpt-4o", messages=history, tools=TOOLS, stream=True
    )
    streamed = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert streamed == text


@pytest.mark.parametrize(
    "tools",
    [
        [{"type": "function", "function": {"description": "no name"}}],
        [{"type": "function", "function": {"name": "has space"}}],
        [{"type": "function", "function": {"name": "ok", "parameters": "not an object"}}],
    ],
)
async def test_bad_tools_are_a_400_naming_the_param(client: AsyncOpenAI, tools: Any) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(model="gpt-4o", messages=ASK, tools=tools)
    assert caught.value.body["type"] == "invalid_request_error"
    assert caught.value.body["param"].startswith("tools[0].function")


async def test_a_tool_choice_naming_an_unknown_function_is_a_400(client: AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(
            model="gpt-4o",
            messages=ASK,
            tools=TOOLS,
            tool_choice={"type": "function", "function": {"name": "launch"}},
        )
    assert caught.value.body["param"] == "tool_choice"


async def test_max_tokens_cuts_tool_arguments_with_length(client: AsyncOpenAI) -> None:
    whole = await client.chat.completions.create(model="gpt-4o", messages=ASK, tools=TOOLS)
    cut = await client.chat.completions.create(
        model="gpt-4o", messages=ASK, tools=TOOLS, max_tokens=2
    )
    assert cut.choices[0].finish_reason == "length" and cut.usage.completion_tokens == 2
    (full_call,) = whole.choices[0].message.tool_calls
    (cut_call,) = cut.choices[0].message.tool_calls
    assert full_call.function.arguments.startswith(cut_call.function.arguments)
    assert cut_call.function.arguments != full_call.function.arguments

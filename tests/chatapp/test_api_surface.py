"""The chat-completions surface an existing app uses, through the gateway to the simulator with
the official openai SDK over HTTP: tools (a round trip), JSON mode and schemas, several
choices, stop sequences, usage in streams, answers that are never cached for another, unknown
fields passed upstream, and OpenAI's 400 for what a model or the gateway cannot take."""

from __future__ import annotations

import json
import time
import uuid

import openai
import pytest
from django.contrib.auth import get_user_model

from latency.gateway.keys import api_key_create

pytestmark = pytest.mark.django_db(transaction=True)

WEATHER = {
    "type": "function",
    "function": {
        "name": "weather_get",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"},
                           "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
            "required": ["city", "unit"],
        },
    },
}  # fmt: skip


@pytest.fixture
def client(live_app) -> openai.OpenAI:  # noqa: ANN001
    user = get_user_model().objects.create_user(f"sf-{uuid.uuid4().hex[:6]}", password="x" * 12)
    return openai.OpenAI(base_url=f"{live_app.url}/v1", api_key=api_key_create(user=user),
                         max_retries=0)  # fmt: skip


def _ask(text: str) -> list[dict]:
    return [{"role": "user", "content": f"{text} ({uuid.uuid4().hex[:6]})"}]


def test_a_tool_round_trip_streamed_and_whole(client: openai.OpenAI) -> None:
    messages = _ask("What is the weather in Lisbon?")
    first = client.chat.completions.create(model="gpt-4o-mini", messages=messages,
                                           tools=[WEATHER])  # fmt: skip
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.tool_calls
    call = choice.message.tool_calls[0]
    arguments = json.loads(call.function.arguments)
    assert call.function.name == "weather_get" and set(arguments) >= {"city", "unit"}
    assert arguments["unit"] in {"celsius", "fahrenheit"}
    history = [*messages, choice.message.model_dump(exclude_none=True),
               {"role": "tool", "tool_call_id": call.id, "content": "18 degrees and sunny"}]
    final = client.chat.completions.create(model="gpt-4o-mini", messages=history,
                                           tools=[WEATHER])  # fmt: skip
    assert final.choices[0].finish_reason == "stop" and final.choices[0].message.content

    stream = client.chat.completions.create(model="gpt-4o-mini", messages=_ask("Weather in Oslo?"),
                                            tools=[WEATHER], stream=True)  # fmt: skip
    names, fragments, reasons = [], [], []
    for chunk in stream:
        for part in chunk.choices:
            for delta in part.delta.tool_calls or []:
                if delta.function and delta.function.name:
                    names.append(delta.function.name)
                if delta.function and delta.function.arguments:
                    fragments.append(delta.function.arguments)
            if part.finish_reason:
                reasons.append(part.finish_reason)
    assert names == ["weather_get"] and "tool_calls" in reasons
    assert {"city", "unit"} <= set(json.loads("".join(fragments)))


async def test_the_async_sdk_streamed_and_whole(client: openai.OpenAI) -> None:
    async with openai.AsyncOpenAI(base_url=str(client.base_url), api_key=client.api_key,
                                  max_retries=0) as async_client:  # fmt: skip
        whole = await async_client.chat.completions.create(
            model="gpt-4o-mini", messages=_ask("Explain tides")
        )
        assert whole.choices[0].message.content and whole.usage.completion_tokens > 0
        stream = await async_client.chat.completions.create(
            model="gpt-4o-mini", messages=_ask("Weather in Bergen?"), tools=[WEATHER],
            stream=True, stream_options={"include_usage": True},
        )  # fmt: skip
        chunks = [chunk async for chunk in stream]
    calls = [d for c in chunks for part in c.choices for d in part.delta.tool_calls or []]
    assert calls and calls[0].function.name == "weather_get" and calls[0].id.startswith("call_")
    arguments = json.loads("".join(d.function.arguments or "" for d in calls))
    assert arguments["unit"] in {"celsius", "fahrenheit"}
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0


def test_json_mode_schema_choices_stop_and_usage(client: openai.OpenAI) -> None:
    as_json = client.chat.completions.create(
        model="gpt-4o-mini", messages=_ask("Describe Paris as JSON"),
        response_format={"type": "json_object"},
    )  # fmt: skip
    assert isinstance(json.loads(as_json.choices[0].message.content), dict)
    schema = {"type": "object", "properties": {"name": {"type": "string"},
              "population": {"type": "integer"}}, "required": ["name", "population"]}  # fmt: skip
    shaped = client.chat.completions.create(
        model="gpt-4o-mini", messages=_ask("Give a city as JSON"),
        response_format={"type": "json_schema",
                         "json_schema": {"name": "city", "schema": schema, "strict": True}},
    )  # fmt: skip
    value = json.loads(shaped.choices[0].message.content)
    assert isinstance(value["name"], str) and isinstance(value["population"], int)
    two = client.chat.completions.create(model="gpt-4o-mini", messages=_ask("Name a colour"), n=2)
    assert [c.index for c in two.choices] == [0, 1]
    whole = client.chat.completions.create(model="gpt-4o-mini", messages=_ask("Explain caching"))
    cut_at = whole.choices[0].message.content.split()[3]
    assert whole.usage.prompt_tokens > 0 and whole.usage.completion_tokens > 0
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=_ask("Explain streaming"), stream=True,
        stream_options={"include_usage": True}, stop=[cut_at],
    )  # fmt: skip
    chunks = list(stream)
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0


def test_a_refused_request_is_a_400_with_the_reason_and_no_retries(client: openai.OpenAI) -> None:
    # JSON mode needs the word in the messages, as OpenAI requires: the upstream refuses it.
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="gpt-4o-mini", messages=_ask("Describe Rome"),
                                       response_format={"type": "json_object"})  # fmt: skip
    assert "json" in str(refused.value).lower()
    assert "tried" not in str(refused.value), "a refused request is not sent elsewhere"


def test_a_cached_answer_never_carries_another_requests_format(client: openai.OpenAI) -> None:
    question = _ask("What is the capital of Peru? (If a format is asked for, answer in JSON.)")
    prose = client.chat.completions.with_raw_response.create(model="gpt-4o-mini",
                                                             messages=question)  # fmt: skip
    assert prose.headers["x-cache"] == "miss"
    as_json = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=question, response_format={"type": "json_object"}
    )
    assert as_json.headers["x-cache"] == "miss", "a prose answer is not served for JSON mode"
    assert isinstance(json.loads(as_json.parse().choices[0].message.content), dict)
    again = client.chat.completions.with_raw_response.create(model="gpt-4o-mini",
                                                             messages=question)  # fmt: skip
    assert again.headers["x-cache"] == "exact"
    hit = again.parse()
    assert hit.usage.prompt_tokens_details.cached_tokens == hit.usage.prompt_tokens > 0


def test_unknown_fields_reach_the_upstream(client: openai.OpenAI, simulator) -> None:  # noqa: ANN001
    since = time.time()
    answer = client.chat.completions.create(
        model="gpt-4o-mini", messages=_ask("Say hello"), user="user-7", seed=7,
        metadata={"team": "search"}, extra_body={"x_campaign": "spring", "safety_identifier": "s1"},
    )  # fmt: skip
    assert answer.choices[0].message.content
    deadline = time.monotonic() + 5
    while not (sent := [r for r in simulator.log(after_ts=since) if "x_campaign" in r["fields"]]):
        assert time.monotonic() < deadline, "no upstream request carried the unknown field"
        time.sleep(0.05)
    assert {"user", "seed", "metadata", "safety_identifier"} <= set(sent[-1]["fields"])


def test_a_field_the_model_cannot_take_is_openais_400(client: openai.OpenAI) -> None:
    thought = client.chat.completions.create(model="gpt-5", messages=_ask("Think about tides"),
                                             reasoning_effort="low")  # fmt: skip
    assert thought.choices[0].message.content, "a model that reasons takes it"
    for stream in (False, True):
        with pytest.raises(openai.BadRequestError) as refused:
            client.chat.completions.create(model="gpt-4o-mini", messages=_ask("Think"),
                                           reasoning_effort="low", stream=stream)  # fmt: skip
        assert refused.value.body["type"] == "invalid_request_error"
        assert "reasoning_effort" in refused.value.body["message"]
        assert refused.value.response.headers["x-request-id"]


@pytest.mark.parametrize("extra, param", [
    ({"n": 9}, "n"), ({"top_logprobs": 30, "logprobs": True}, "top_logprobs"),
    ({"response_format": {"type": "xml"}}, "response_format"), ({"stop": [1]}, "stop"),
    ({"tools": [{"type": "function", "function": {}}]}, "tools"), ({"seed": "seven"}, "seed"),
])  # fmt: skip
def test_values_the_gateway_cannot_pass_are_400s_naming_the_field(
    client: openai.OpenAI, extra: dict, param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="gpt-4o-mini", messages=_ask("Hi"), extra_body=extra)
    error = refused.value.body
    assert error["type"] == "invalid_request_error" and error["param"] == param
    assert error["message"] and "code" in error

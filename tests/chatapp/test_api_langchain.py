"""LangChain's `ChatOpenAI` and `OpenAIEmbeddings` (langchain-openai) pointed at the gateway in
front of the simulator, as an existing app would use them: invoke and stream with usage, a tool
round trip with `bind_tools`, `with_structured_output` both ways, and embeddings."""

from __future__ import annotations

import uuid
from typing import Literal

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from langchain_core.messages import AIMessageChunk, HumanMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI, OpenAIEmbeddings
from pydantic import BaseModel, Field

from latency.embeddings.local import embeddings_encode
from latency.gateway.keys import api_key_create

pytestmark = pytest.mark.django_db(transaction=True)


@tool
def weather_get(city: str, unit: Literal["celsius", "fahrenheit"]) -> str:
    """The weather in a city."""
    return f"18 degrees {unit} and sunny in {city}"


class Address(BaseModel):
    street: str
    postcode: str


class City(BaseModel):
    """A city and where its town hall is."""

    name: str = Field(description="The city's name")
    population: int = Field(ge=0)
    capital: bool
    town_hall: Address  # nested: pydantic puts it in $defs and refers to it


@pytest.fixture
def connection(live_app) -> dict[str, object]:  # noqa: ANN001
    user = get_user_model().objects.create_user(f"lc-{uuid.uuid4().hex[:6]}", password="x" * 12)
    return {"base_url": f"{live_app.url}/v1", "api_key": api_key_create(user=user),
            "max_retries": 0, "timeout": 30}  # fmt: skip


@pytest.fixture
def llm(connection: dict[str, object]) -> ChatOpenAI:
    return ChatOpenAI(model="gpt-4o-mini", **connection)


def _ask(text: str) -> str:
    return f"{text} ({uuid.uuid4().hex[:6]})"  # never a cache hit of another test's answer


def _usage_adds_up(usage: dict | None) -> None:
    assert usage is not None, "usage_metadata is what cost trackers read"
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


def test_invoke_fills_usage_and_metadata(llm: ChatOpenAI) -> None:
    answer = llm.invoke(_ask("Why is the sky blue?"))
    assert isinstance(answer.content, str) and len(answer.content.split()) > 3
    _usage_adds_up(answer.usage_metadata)
    assert answer.response_metadata["model_name"] == "gpt-4o-mini"
    assert answer.response_metadata["finish_reason"] == "stop"


async def test_async_invoke_and_a_cache_hit_reports_the_cached_prompt(llm: ChatOpenAI) -> None:
    question = _ask("What is the capital of Chile?")
    first = await llm.ainvoke(question)
    again = await llm.ainvoke(question)
    assert again.content == first.content
    _usage_adds_up(again.usage_metadata)
    cached = again.usage_metadata["input_token_details"]["cache_read"]
    assert cached == again.usage_metadata["input_tokens"], "the hit did not send the prompt"


def test_stream_sends_chunks_and_usage_when_asked(connection: dict[str, object]) -> None:
    llm = ChatOpenAI(model="gpt-4o-mini", stream_usage=True, **connection)
    chunks = list(llm.stream(_ask("Explain how rivers form")))
    assert all(isinstance(chunk, AIMessageChunk) for chunk in chunks)
    texts = [chunk.content for chunk in chunks if chunk.content]
    assert len(texts) >= 2, "the answer arrives in pieces"
    whole = sum(chunks[1:], chunks[0])
    assert whole.content == "".join(texts) and len(whole.content.split()) > 3
    _usage_adds_up(whole.usage_metadata)
    assert whole.response_metadata["finish_reason"] == "stop"


def test_a_tool_round_trip_with_bind_tools(llm: ChatOpenAI) -> None:
    with_tools = llm.bind_tools([weather_get])
    history = [HumanMessage(_ask("What is the weather in Lisbon?"))]
    asked = with_tools.invoke(history)
    assert asked.response_metadata["finish_reason"] == "tool_calls"
    assert [call["name"] for call in asked.tool_calls] == ["weather_get"]
    arguments = asked.tool_calls[0]["args"]
    assert isinstance(arguments["city"], str) and arguments["unit"] in {"celsius", "fahrenheit"}
    _usage_adds_up(asked.usage_metadata)
    result = weather_get.invoke(asked.tool_calls[0])  # a ToolMessage answering that call
    assert result.tool_call_id == asked.tool_calls[0]["id"]
    final = with_tools.invoke([*history, asked, result])
    assert final.response_metadata["finish_reason"] == "stop" and not final.tool_calls
    assert result.content in final.content, "the answer is built on what the tool returned"


def test_a_streamed_tool_call_joins_into_one_call(connection: dict[str, object]) -> None:
    llm = ChatOpenAI(model="gpt-4o-mini", stream_usage=True, **connection)
    chunks = list(llm.bind_tools([weather_get]).stream(_ask("Weather in Oslo?")))
    whole = sum(chunks[1:], chunks[0])
    assert len(chunks) > 3, "the arguments arrive in pieces"
    assert [call["name"] for call in whole.tool_calls] == ["weather_get"]
    assert set(whole.tool_calls[0]["args"]) == {"city", "unit"}
    _usage_adds_up(whole.usage_metadata)


@pytest.mark.parametrize("method", ["json_schema", "function_calling"])
def test_structured_output_is_the_pydantic_object(llm: ChatOpenAI, method: str) -> None:
    structured = llm.with_structured_output(City, method=method, include_raw=True)
    result = structured.invoke(_ask("Tell me about Porto"))
    assert result["parsing_error"] is None
    city = result["parsed"]
    assert isinstance(city, City) and isinstance(city.town_hall, Address)
    assert city.population >= 0 and city.name
    _usage_adds_up(result["raw"].usage_metadata)


def test_embeddings_match_the_local_model(connection: dict[str, object]) -> None:
    # The local model is not an OpenAI model: send text, as LangChain says for such endpoints.
    embedder = OpenAIEmbeddings(model="all-MiniLM-L6-v2", check_embedding_ctx_length=False,
                                **connection)  # fmt: skip
    texts = ["How tall is Mount Everest?", "A recipe for bread", "café au lait ☕"]
    got = np.array(embedder.embed_documents(texts), dtype=np.float32)
    expected = embeddings_encode(texts=texts)
    assert got.shape == (3, 384)
    assert (np.sum(got * expected, axis=1) > 0.999).all()
    query = np.array(embedder.embed_query(texts[0]), dtype=np.float32)
    assert float(query @ expected[0]) > 0.999

"""Stream a chat completion from one endpoint through the official openai SDK."""

from __future__ import annotations

import inspect
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx2 as httpx  # the transport of openai>=3
import openai

from latency.errors import UpstreamError
from latency.providers.catalog import Endpoint, ModelSpec
from latency.providers.clients import ClientRegistry, clients

_SDK_PARAMETERS = frozenset(
    inspect.signature(openai.resources.chat.AsyncCompletions.create).parameters
) - {"self", "messages", "model", "stream", "stream_options", "extra_body", "extra_headers",
   "extra_query", "timeout"}


def _sdk_options(options: dict[str, Any]) -> dict[str, Any]:
    known = {k: v for k, v in options.items() if k in _SDK_PARAMETERS}
    unknown = {k: v for k, v in options.items() if k not in _SDK_PARAMETERS}
    if unknown:
        known["extra_body"] = unknown
    return known


def _delta_parse(*, line: str, endpoint: Endpoint, rich: bool = False) -> StreamDelta | None:
    """One SSE line of a chat completion stream: text, the completion id, or usage."""
    if not line.startswith("data:"):
        return None
    data = line[5:].strip()
    if not data or data == "[DONE]":
        return None
    try:
        chunk = json.loads(data)
    except ValueError as error:
        raise UpstreamError(
            f"{endpoint.name} sent a malformed stream.", kind="malformed", endpoint=endpoint.name
        ) from error
    if not isinstance(chunk, dict):
        return None
    if "error" in chunk:
        message = str((chunk.get("error") or {}).get("message", "an error"))[:200]
        raise UpstreamError(
            f"{endpoint.name} failed mid-answer: {message}", kind="upstream",
            endpoint=endpoint.name,
        )  # fmt: skip
    delta = StreamDelta(upstream_id=str(chunk.get("id") or ""))
    choices = [c for c in chunk.get("choices") or [] if isinstance(c, dict)]
    for choice in choices:
        if choice.get("finish_reason"):
            delta.finish_reasons[int(choice.get("index") or 0)] = str(choice["finish_reason"])
        if not choice.get("index"):
            delta.text = (choice.get("delta") or {}).get("content") or ""
    if rich and any(_carries(c) for c in choices):
        delta.choices = tuple(choices)
    usage = chunk.get("usage")
    if isinstance(usage, dict):
        delta.prompt_tokens = usage.get("prompt_tokens")
        delta.completion_tokens = usage.get("completion_tokens")
    if delta.text or delta.choices or delta.finish_reasons or delta.completion_tokens is not None:
        return delta
    return None


def _carries(choice: dict[str, Any]) -> bool:
    """Whether a choice's delta holds anything a client would see."""
    delta = choice.get("delta") or {}
    return bool(delta.get("content") or delta.get("tool_calls") or choice.get("logprobs")
                or delta.get("refusal"))  # fmt: skip


@dataclass
class StreamDelta:
    text: str = ""
    upstream_id: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    choices: tuple[dict[str, Any], ...] = ()  # rich requests: the chunk's choices as sent
    finish_reasons: dict[int, str] = field(default_factory=dict)

    @property
    def visible(self) -> bool:
        """Something the client sees: text, or (rich) a tool-call fragment, another choice."""
        return bool(self.text or self.choices)


async def provider_stream(
    *,
    model: ModelSpec,
    endpoint: Endpoint,
    messages: list[dict[str, str]],
    temperature: float | None = None,
    max_tokens: int | None = None,
    options: dict[str, Any] | None = None,
    rich: bool = False,
    registry: ClientRegistry = clients,
) -> AsyncIterator[StreamDelta]:
    """Yield text deltas, then one delta carrying usage; raise UpstreamError on any failure.

    `options` go upstream as the client sent them: the SDK's own parameters as such, fields it
    does not know in the body (`extra_body`), so nothing a client asked for is dropped."""
    client = registry.client_for(endpoint)
    options = _sdk_options(options or {})
    if temperature is not None:
        options["temperature"] = temperature
    if max_tokens is not None:
        options["max_tokens"] = max_tokens
    try:
        # The SDK makes the request (auth, errors as exceptions, timeouts); the stream's lines
        # are read raw. Building a pydantic chunk object per token was over half of the event
        # loop's time at 20 concurrent streams (py-spy), for three fields we read.
        async with client.chat.completions.with_streaming_response.create(
            model=model.upstream_name,
            messages=messages,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
            **options,  # type: ignore[arg-type]
        ) as response:
            # Leaving the block closes the response: the upstream stops generating at once.
            usage_seen, text_chunks = False, 0
            async for line in response.iter_lines():
                delta = _delta_parse(line=line, endpoint=endpoint, rich=rich)
                if delta is not None:
                    usage_seen = usage_seen or delta.completion_tokens is not None
                    text_chunks += bool(delta.text)
                    yield delta
            if not usage_seen:
                # llama.cpp's server (llama-cpp-python 0.3) accepts `stream_options` but sends
                # no usage chunk; it streams one token a chunk, so the chunks are the count.
                # The prompt's tokens stay unknown (None): the pipeline counts them itself.
                yield StreamDelta(completion_tokens=text_chunks)
    except httpx.TimeoutException as error:
        # Raised while reading the stream: the endpoint stalled after it had started.
        raise UpstreamError(
            f"{endpoint.name} stopped sending mid-answer.", kind="stall", endpoint=endpoint.name
        ) from error
    except httpx.HTTPError as error:
        raise UpstreamError(
            f"The connection to {endpoint.name} broke.", kind="connection", endpoint=endpoint.name
        ) from error
    except openai.RateLimitError as error:
        raise UpstreamError(
            f"{endpoint.name} is rate limiting requests (429).",
            kind="rate_limit",
            endpoint=endpoint.name,
        ) from error
    except openai.APITimeoutError as error:
        raise UpstreamError(
            f"{endpoint.name} did not answer in time.", kind="timeout", endpoint=endpoint.name
        ) from error
    except openai.APIConnectionError as error:
        raise UpstreamError(
            f"Could not reach {endpoint.name}.", kind="connection", endpoint=endpoint.name
        ) from error
    except openai.APIStatusError as error:
        message = f"{endpoint.name} answered with an error ({error.status_code})."
        if 400 <= error.status_code < 500:  # the request's fault: say what the endpoint said
            body = error.body if isinstance(error.body, dict) else {}
            detail = str(body.get("message") or (body.get("error") or {}).get("message") or "")
            message = f"{message[:-1]}: {detail[:300]}" if detail else message
        raise UpstreamError(
            message, kind=f"http_{error.status_code}", endpoint=endpoint.name
        ) from error

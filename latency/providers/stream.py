"""Stream a chat completion from one endpoint through the official openai SDK."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx2 as httpx  # the transport of openai>=3
import openai

from latency.errors import UpstreamError
from latency.providers.catalog import Endpoint, ModelSpec
from latency.providers.clients import ClientRegistry, clients


def _delta_parse(*, line: str, endpoint: Endpoint) -> StreamDelta | None:
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
    choices = chunk.get("choices") or []
    if choices and isinstance(choices[0], dict):
        delta.text = (choices[0].get("delta") or {}).get("content") or ""
    usage = chunk.get("usage")
    if isinstance(usage, dict):
        delta.prompt_tokens = usage.get("prompt_tokens")
        delta.completion_tokens = usage.get("completion_tokens")
    if delta.text or delta.completion_tokens is not None:
        return delta
    return None


@dataclass
class StreamDelta:
    text: str = ""
    upstream_id: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


async def provider_stream(
    *,
    model: ModelSpec,
    endpoint: Endpoint,
    messages: list[dict[str, str]],
    temperature: float | None = None,
    max_tokens: int | None = None,
    registry: ClientRegistry = clients,
) -> AsyncIterator[StreamDelta]:
    """Yield text deltas, then one delta carrying usage; raise UpstreamError on any failure."""
    client = registry.client_for(endpoint)
    options: dict[str, object] = {}
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
            async for line in response.iter_lines():
                delta = _delta_parse(line=line, endpoint=endpoint)
                if delta is not None:
                    yield delta
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
        raise UpstreamError(
            f"{endpoint.name} answered with an error ({error.status_code}).",
            kind=f"http_{error.status_code}",
            endpoint=endpoint.name,
        ) from error

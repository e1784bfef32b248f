"""Stream a chat completion from one endpoint through the official openai SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx2 as httpx  # the transport of openai>=3
import openai

from latency.errors import UpstreamError
from latency.providers.catalog import Endpoint, ModelSpec
from latency.providers.clients import ClientRegistry, clients


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
        stream = await client.chat.completions.create(
            model=model.upstream_name,
            messages=messages,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
            **options,  # type: ignore[arg-type]
        )
        try:
            async for chunk in stream:
                delta = StreamDelta(upstream_id=chunk.id or "")
                if chunk.choices:
                    delta.text = chunk.choices[0].delta.content or ""
                if chunk.usage is not None:
                    delta.prompt_tokens = chunk.usage.prompt_tokens
                    delta.completion_tokens = chunk.usage.completion_tokens
                if delta.text or delta.completion_tokens is not None:
                    yield delta
        finally:
            # Closing the response tells the upstream to stop generating at once.
            await stream.close()
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

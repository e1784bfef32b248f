"""One background call: the routing layer's candidates for the job's model (feature
"background", open breakers last), the first with room in its rate window, then the next on a
429, 5xx, timeout or broken connection. Non-streaming: nobody watches the tokens arrive, and a
hedge would double the cost of work that has no first-token deadline. Every call is traced."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx2 as httpx
import openai

from latency.batching.rate import RateWindows
from latency.models import Feature, RequestTrace
from latency.observability.tracing import TraceRecorder, trace_save
from latency.providers.clients import ClientRegistry
from latency.routing.choice import Candidate
from latency.routing.health import breaker_failure, breaker_success

MAX_ATTEMPTS = 6
OPTIONS = ("temperature", "max_tokens", "max_completion_tokens", "top_p", "seed", "stop",
           "presence_penalty", "frequency_penalty", "response_format")  # fmt: skip


class CallStopped(Exception):
    """The job was cancelled before the call could start."""


class CallFailed(Exception):
    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class CallResult:
    text: str
    model: str
    endpoint: str
    request_id: str
    prompt_tokens: int
    completion_tokens: int
    rate_limited: int = 0


def _retry_after(error: openai.APIStatusError) -> float | None:
    headers = error.response.headers
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        try:
            return float(value) * scale if value is not None else None
        except ValueError:
            continue
    return None


async def batch_call(
    *,
    candidates: tuple[Candidate, ...],
    body: dict[str, Any],
    messages: list[dict[str, str]],
    windows: RateWindows,
    registry: ClientRegistry,
    user_id: int | None,
    note: str,
    stopped: Callable[[], bool],
) -> CallResult:
    by_endpoint = {c.endpoint.name: c for c in candidates}
    order = list(by_endpoint)
    options = {k: body[k] for k in OPTIONS if body.get(k) is not None}
    rate_limited, last = 0, "no endpoint"
    for _ in range(MAX_ATTEMPTS):
        if stopped():
            raise CallStopped()
        name = await windows.acquire(endpoints=order)
        if stopped():
            await windows.release(endpoint=name, outcome="error")
            raise CallStopped()
        candidate = by_endpoint[name]
        trace = TraceRecorder(received_at=time.perf_counter(), feature=Feature.BACKGROUND,
                              source="batch", user_id=user_id)  # fmt: skip
        trace.set(model=candidate.model.name, endpoint=name, region=candidate.endpoint.region,
                  decision=note, cache_outcome="miss")  # fmt: skip
        outcome, retry_after = "error", None
        try:
            client = registry.client_for(candidate.endpoint)
            with trace.stage("upstream"):
                completion = await client.chat.completions.create(
                    model=candidate.model.upstream_name,
                    messages=messages,
                    **options,  # type: ignore[arg-type]
                )
            trace.first_token()
            usage = completion.usage
            result = CallResult(
                text=completion.choices[0].message.content or "", model=candidate.model.name,
                endpoint=name, request_id=completion.id or "",
                prompt_tokens=usage.prompt_tokens if usage else 0,
                completion_tokens=usage.completion_tokens if usage else 0,
                rate_limited=rate_limited,
            )  # fmt: skip
            trace.set(upstream_id=result.request_id, tokens_prompt=result.prompt_tokens,
                      tokens_completion=result.completion_tokens)  # fmt: skip
            outcome = "ok"
            breaker_success(endpoint=name)
            return result
        except openai.RateLimitError as error:
            outcome, retry_after, last = "rate_limit", _retry_after(error), f"{name}: 429"
            rate_limited += 1
        except openai.APIStatusError as error:
            last = f"{name} answered with an error ({error.status_code})"
            if error.status_code < 500 and error.status_code not in (408, 409):
                trace.set(status=RequestTrace.Status.FAILED, error=last)
                raise CallFailed(last, code=f"http_{error.status_code}") from error
            outcome = "overload" if error.status_code in (502, 503, 504) else "error"
            await breaker_failure(endpoint=name, reason=f"http_{error.status_code}")
        except (openai.APITimeoutError, openai.APIConnectionError, httpx.HTTPError) as error:
            outcome, last = "overload", f"{name}: {type(error).__name__}"
            await breaker_failure(endpoint=name, reason="connection")
        finally:
            await windows.release(endpoint=name, outcome=outcome, retry_after_s=retry_after)
            if outcome != "ok":
                trace.set(status=RequestTrace.Status.FAILED, error=last)
            await trace_save(recorder=trace)
        # The failed endpoint goes last: fall back to the others first.
        order = [n for n in order if n != name] + [name]
    raise CallFailed(f"No endpoint answered after {MAX_ATTEMPTS} attempts; last: {last}.",
                     code="upstream_error")  # fmt: skip

"""What one pipeline run carries from stage to stage, and how it ends: the request, its trace,
the settings and route it was answered under, the upstream stream and the text so far."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import cached_property

from latency.cache.scope import CacheScope, cache_scope_build
from latency.core.tokens import message_content, messages_tokens, tokens_count
from latency.errors import SubsecondError
from latency.events import AnswerOutcome, ChatRequest, ErrorEvent, Usage
from latency.models import StrategySettings
from latency.observability.tracing import TraceRecorder, trace_save_soon
from latency.providers.stream import StreamDelta
from latency.rag.retrieve import Retrieval
from latency.routing.choice import Candidate, RoutePlan
from latency.routing.resilient import ResilientStream


@dataclass(eq=False)
class AnswerRun:
    request: ChatRequest
    trace: TraceRecorder
    settings: StrategySettings = field(default_factory=StrategySettings)
    route: RoutePlan | None = None
    upstream: ResilientStream | None = None
    first_delta: asyncio.Future[StreamDelta] | None = None
    parts: list[str] = field(default_factory=list)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reasons: dict[int, str] = field(default_factory=dict)

    @cached_property
    def question(self) -> str:
        return message_content(message=self.request.messages[-1])

    @property
    def text(self) -> str:
        return "".join(self.parts)

    @property
    def use_cache(self) -> bool:
        """Off for rich answers (tool calls, several choices, logprobs: a stored text cannot
        give them back) and above the temperature at which answers are meant to vary."""
        settings, temperature = self.settings, self.request.temperature
        if not (settings.exact_cache or settings.semantic_cache) or self.request.rich:
            return False
        return temperature is None or temperature <= settings.cache_max_temperature

    @property
    def use_rag(self) -> bool:
        return self.request.use_documents and self.settings.rag

    @property
    def lookup_wanted(self) -> bool:
        return self.use_cache and not self.request.cache_bypass  # a regenerated answer skips it

    @cached_property
    def scope(self) -> CacheScope:
        request, spec = self.request, self.route.primary.model
        # An answer that may rest on the user's documents is served to that user only.
        private = self.use_rag or not self.settings.cache_share_across_users
        return cache_scope_build(
            model_scope=spec.name if request.model else f"{request.feature}:{spec.tier}",
            feature=request.feature, messages=request.messages,
            owner_id=request.user_id if private else None, options=request.options,
        )  # fmt: skip

    async def deltas(self) -> AsyncIterator[StreamDelta]:
        if self.first_delta is not None:
            try:
                yield await self.first_delta
            except StopAsyncIteration:
                return
        async for delta in self.upstream:
            yield delta

    def winner(self) -> Candidate:
        """The attempt that answered (or the plan's first choice), recorded in the trace with
        what routing and resilience did (decision, hedged, fallbacks, upstream TTFT)."""
        if self.upstream is not None:
            self.trace.set(**self.upstream.outcome.trace_fields(plan=self.route))
            if self.upstream.outcome.winner is not None:
                return self.upstream.outcome.winner
        return self.route.primary

    def usage_set(self, *, prompt: int | None, completion: int | None) -> None:
        self.prompt_tokens, self.completion_tokens = prompt, completion
        self.trace.set(tokens_prompt=prompt, tokens_completion=completion)

    def prompt_estimate(self) -> int:
        """The request's prompt in o200k tokens: the edge's count when it made one."""
        if self.request.prompt_tokens is not None:
            return self.request.prompt_tokens
        return messages_tokens(messages=self.request.messages)

    def usage(self) -> Usage:
        """The upstream's count when it sent one, else ours (o200k, as OpenAI counts)."""
        prompt = self.prompt_tokens
        if prompt is None:
            prompt = self.prompt_estimate()
        completion = self.completion_tokens
        if completion is None:
            completion = tokens_count(text=self.text)
        return Usage(prompt_tokens=prompt, completion_tokens=completion)


async def upstream_cancel(run: AnswerRun) -> None:
    first, upstream = run.first_delta, run.upstream
    if first is not None and not first.done():
        first.cancel()
        with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration, SubsecondError):
            await first
    if upstream is not None:
        with contextlib.suppress(Exception):
            await upstream.aclose()
        if run.route is not None:
            run.winner()


def answer_failed(
    run: AnswerRun, *, error: SubsecondError, kind: str, detail: str = ""
) -> ErrorEvent:
    """The run ends failed: traced with the error's kind; what streamed so far is kept."""
    run.trace.set(status="failed", error=detail or str(error), error_kind=kind)
    trace_save_soon(recorder=run.trace)
    return ErrorEvent(message=str(error), kind=kind, text=run.text, total_ms=run.trace.total_ms)


def answer_outcome(
    run: AnswerRun, *, winner: Candidate, trace_uid: str, cache_entry_id: int | None,
    retrieval: Retrieval,
) -> AnswerOutcome:  # fmt: skip
    trace, use_rag = run.trace, run.use_rag
    return AnswerOutcome(
        model=winner.model.name, endpoint_label=winner.endpoint.label,
        ttft_ms=trace.ttft_ms, total_ms=trace.total_ms,
        cache="miss" if run.use_cache else "off", trace_uid=trace_uid,
        cache_entry_id=cache_entry_id, citations=retrieval.citations(),
        retrieval_embed_ms=retrieval.embed_ms if use_rag else None,
        retrieval_search_ms=retrieval.search_ms if use_rag else None,
        tokens_before=trace.values.get("tokens_before_compression"),
        tokens_after=trace.values.get("tokens_after_compression"),
        decision=str(trace.values.get("decision", "")),
    )  # fmt: skip

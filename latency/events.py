"""The pipeline's vocabulary: the request it answers and the events it yields. The websocket
edge renders events as HTML fragments, the API edge as OpenAI chunks."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class ChatRequest:
    messages: list[dict[str, str]]
    received_at: float  # time.perf_counter() when the server received the request
    feature: str = "chat"
    user_id: int | None = None
    model: str | None = None  # pinned by the user; routing then only picks the endpoint
    temperature: float | None = None
    max_tokens: int | None = None
    source: str = "ws"
    stream: bool = True
    use_documents: bool = False
    cache_bypass: bool = False  # "wrong answer": regenerate without consulting the cache
    replay_paced: bool = False  # a cache hit streamed word by word, as the client asked
    request_id: str = ""  # the API's x-request-id, kept in the trace
    # What the upstream gets as the client sent it (tools, tool_choice, response_format, n,
    # stop, seed, user, logprobs, max_completion_tokens, and fields we do not know).
    options: dict[str, Any] = field(default_factory=dict)
    prompt_tokens: int | None = None  # counted by the edge already (the API's admission)

    @property
    def rich(self) -> bool:
        """Answers that are more than one text: tool calls, several choices, logprobs."""
        options = self.options
        return bool(
            options.get("tools") or options.get("functions") or options.get("logprobs")
            or (options.get("n") or 1) > 1
        )


@dataclass(frozen=True)
class AnswerOutcome:
    """What a finished answer shows under it and keeps: who answered, how fast, from where,
    on what evidence. Each field is the `Message` column of the same name, so the chat edge
    saves it in one step (`message_finish(outcome=...)`) and a restart clears it the same way.
    """

    model: str = ""
    endpoint_label: str = ""
    ttft_ms: float | None = None
    total_ms: float | None = None
    cache: str = "off"  # hit, miss or off (the websocket contract)
    cache_tier: str = ""  # exact or semantic, for a hit
    cache_similarity: float | None = None
    cache_matched_query: str = ""
    cache_entry_id: int | None = None
    trace_uid: str | None = None  # RequestTrace.uid; the row is written off the request path
    citations: list[dict[str, object]] = field(default_factory=list)
    retrieval_embed_ms: float | None = None
    retrieval_search_ms: float | None = None
    tokens_before: int | None = None
    tokens_after: int | None = None
    decision: str = ""

    def columns(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class StartEvent:
    """Sent once, just before the first token: who is answering, and from where."""

    model: str
    endpoint: str
    cache_tier: str  # exact, semantic, miss or off (the X-Cache header)
    cache_similarity: float | None
    streaming: bool = True  # the strategy switch: off shows the whole answer at the end


@dataclass(frozen=True)
class TokenEvent:
    text: str
    ttft_ms: float
    # For rich answers: the upstream chunk's `choices` as sent (tool-call deltas, other
    # choices, logprobs), for the API edge to pass on; `text` is choice 0's content.
    choices: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Usage:
    """Tokens as OpenAI counts them; a cached answer reports the prompt it did not send."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0


@dataclass(frozen=True)
class DoneEvent:
    text: str
    endpoint: str
    outcome: AnswerOutcome
    stages: dict[str, float] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)
    finish_reasons: dict[int, str] = field(default_factory=dict)  # by choice index

    @property
    def x_cache(self) -> str:
        """exact, semantic, miss or off: the X-Cache header and `x_latency.cache`."""
        return self.outcome.cache_tier if self.outcome.cache == "hit" else self.outcome.cache


@dataclass(frozen=True)
class ErrorEvent:
    message: str
    kind: str  # UpstreamError.kind, "request" for the caller's fault, "internal" for ours
    text: str  # whatever had streamed before the failure, kept for the user
    total_ms: float | None = None


Event = StartEvent | TokenEvent | DoneEvent | ErrorEvent

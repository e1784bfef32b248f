"""The events the pipeline yields; the websocket edge renders them as HTML fragments, the API
edge as OpenAI chunks."""

from __future__ import annotations

from dataclasses import dataclass, field


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


@dataclass(frozen=True)
class StageEvent:
    name: str
    ms: float


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


@dataclass(frozen=True)
class DoneEvent:
    text: str
    model: str
    endpoint: str
    endpoint_label: str
    ttft_ms: float | None
    total_ms: float
    cache: str  # hit, miss or off (the websocket contract)
    cache_tier: str  # exact, semantic, miss or off (the X-Cache header)
    trace_uid: str  # RequestTrace.uid; the row is written off the request path
    cache_similarity: float | None = None
    cache_matched_query: str = ""
    cache_entry_id: int | None = None
    citations: list[dict[str, object]] = field(default_factory=list)
    retrieval_embed_ms: float | None = None
    retrieval_search_ms: float | None = None
    tokens_before: int | None = None
    tokens_after: int | None = None
    decision: str = ""
    stages: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ErrorEvent:
    message: str
    kind: str
    text: str  # whatever had streamed before the failure, kept for the user


Event = StageEvent | StartEvent | TokenEvent | DoneEvent | ErrorEvent

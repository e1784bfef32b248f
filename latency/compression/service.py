"""Prompt compression before the model call: one function, `prompt_compress`, whose four parts
(normalise, dedupe, compact_history, prune_context, run in that order) can each be switched off.
Lexical and pure Python: no model is called on this path."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from latency.compression.context import (
    Passage,
    context_blocks_map,
    passages_dedupe,
    passages_prune,
)
from latency.compression.history import (
    SYSTEM_ROLES,
    history_compact,
    last_user_index,
    messages_dedupe,
)
from latency.compression.text import text_normalise
from latency.core.tokens import message_content, messages_tokens
from latency.rag.context import CONTEXT_BLOCK

PARTS = ("normalise", "dedupe", "compact_history", "prune_context")


@dataclass(frozen=True)
class CompressionOptions:
    normalise: bool = True
    dedupe: bool = True
    prune_context: bool = True
    compact_history: bool = True
    budget_tokens: int = 500  # at most this much of each retrieved-context block is kept
    min_relevance: float = 0.2  # a kept sentence scores at least this share of the best one
    history_keep_recent: int = 2  # turns kept verbatim at the end of the history
    history_keep_first: int = 0  # turns kept verbatim at its start (the app's few-shot examples)
    history_budget_tokens: int = 400  # for the older turns chosen by relevance


@dataclass(frozen=True)
class CompressionPart:
    name: str
    ran: bool
    tokens_removed: int = 0
    items_removed: int = 0  # sentences, turns, paragraphs or lines, depending on the part
    ms: float = 0.0


@dataclass(frozen=True)
class CompressionResult:
    messages: list[dict[str, str]]
    tokens_before: int
    tokens_after: int
    ms: float
    parts: tuple[CompressionPart, ...] = field(default_factory=tuple)

    @property
    def tokens_saved(self) -> int:
        return self.tokens_before - self.tokens_after

    @property
    def reduction(self) -> float:
        return self.tokens_saved / self.tokens_before if self.tokens_before else 0.0

    def label(self) -> str:
        """What an answer shows: "1,520 → 830 prompt tokens (−45%)"."""
        return (
            f"{self.tokens_before:,} → {self.tokens_after:,} prompt tokens "
            f"(−{round(100 * self.reduction)}%)"
        )

    def trace_dict(self) -> dict[str, Any]:
        """What the request trace keeps: both counts, the time, and each part's share."""
        return {
            "tokens_before": self.tokens_before,
            "tokens_after": self.tokens_after,
            "ms": round(self.ms, 3),
            "parts": [asdict(part) for part in self.parts],
        }


def prompt_compress(
    *, messages: list[dict[str, str]], question: str, options: CompressionOptions
) -> CompressionResult:
    """Compress a chat prompt for the model call; the input list is left as it was.

    System messages and the last user message are never dropped, and a context block that
    had sentences keeps at least one, with its `[n]` marker."""
    started = time.perf_counter()
    current = [dict(message) for message in messages]
    counted: dict[tuple[str, str, str], int] = {}

    def tokens_of(messages: list[dict[str, str]]) -> int:
        """messages_tokens, counting each distinct message once in this call."""
        priming = messages_tokens(messages=[])
        total = priming
        for message in messages:
            key = (
                str(message.get("role")),
                str(message.get("name", "")),
                message_content(message=message),
            )
            if key not in counted:
                counted[key] = messages_tokens(messages=[message]) - priming
            total += counted[key]
        return total

    tokens_before = tokens_of(current)
    question = question.strip() or _question_from(messages=current)
    steps: dict[str, Callable[[list[dict[str, str]]], tuple[list[dict[str, str]], int]]] = {
        "normalise": _normalise,
        "dedupe": _dedupe,
        "compact_history": lambda msgs: history_compact(
            messages=msgs,
            question=question,
            keep_recent=options.history_keep_recent,
            keep_first=options.history_keep_first,
            budget_tokens=options.history_budget_tokens,
            min_relevance=options.min_relevance,
        ),
        "prune_context": lambda msgs: _prune(msgs, question=question, options=options),
    }
    parts = []
    tokens = tokens_before
    for name in PARTS:
        if not getattr(options, name):
            parts.append(CompressionPart(name=name, ran=False))
            continue
        part_started = time.perf_counter()
        current, items = steps[name](current)
        after = tokens_of(current)
        parts.append(
            CompressionPart(
                name=name,
                ran=True,
                tokens_removed=tokens - after,
                items_removed=items,
                ms=(time.perf_counter() - part_started) * 1000,
            )
        )
        tokens = after
    return CompressionResult(
        messages=current,
        tokens_before=tokens_before,
        tokens_after=tokens,
        ms=(time.perf_counter() - started) * 1000,
        parts=tuple(parts),
    )


def _question_from(*, messages: list[dict[str, str]]) -> str:
    index = last_user_index(messages=messages)
    if index is None:
        return ""
    return CONTEXT_BLOCK.sub(" ", message_content(message=messages[index])).strip()


def _with_content(message: dict[str, str], content: str) -> dict[str, str]:
    return message if content == message.get("content") else {**message, "content": content}


def _normalise(messages: list[dict[str, str]]) -> tuple[list[dict[str, str]], int]:
    """Whitespace everywhere; page chrome in context and history; filler in assistant turns.

    Outside its context blocks, the wording of a system or last user message is not touched."""
    protected = last_user_index(messages=messages)
    lines_removed = 0
    result = []
    for index, message in enumerate(messages):
        content = message.get("content")
        if not isinstance(content, str):
            result.append(message)
            continue
        keep_words = message.get("role") in SYSTEM_ROLES or index == protected
        filler = message.get("role") == "assistant"
        normalised = _normalise_text(text=content, keep_words=keep_words, filler=filler)
        if not normalised.strip():
            normalised = text_normalise(text=content, boilerplate=False)
        lines_removed += max(content.count("\n") - normalised.count("\n"), 0)
        result.append(_with_content(message, normalised))
    return result, lines_removed


def _normalise_text(*, text: str, keep_words: bool, filler: bool) -> str:
    pieces = []
    last = 0
    for match in CONTEXT_BLOCK.finditer(text):
        outside = text[last : match.start()]
        pieces.append(text_normalise(text=outside, boilerplate=not keep_words, filler=filler))
        inside = text_normalise(text=match.group(2), boilerplate=True)
        pieces.append(f"{match.group(1)}\n{inside}\n{match.group(3)}")
        last = match.end()
    pieces.append(text_normalise(text=text[last:], boilerplate=not keep_words, filler=filler))
    return "\n".join(piece for piece in pieces if piece)


def _dedupe(messages: list[dict[str, str]]) -> tuple[list[dict[str, str]], int]:
    messages, removed = messages_dedupe(messages=messages)
    return _map_contexts(
        messages, transform=lambda passages: passages_dedupe(passages=passages), removed=removed
    )


def _prune(
    messages: list[dict[str, str]], *, question: str, options: CompressionOptions
) -> tuple[list[dict[str, str]], int]:
    def transform(passages: list[Passage]) -> tuple[list[Passage], int]:
        return passages_prune(
            passages=passages,
            question=question,
            budget_tokens=options.budget_tokens,
            min_relevance=options.min_relevance,
        )

    return _map_contexts(messages, transform=transform, removed=0)


def _map_contexts(
    messages: list[dict[str, str]],
    *,
    transform: Callable[[list[Passage]], tuple[list[Passage], int]],
    removed: int,
) -> tuple[list[dict[str, str]], int]:
    result = []
    for message in messages:
        content = message.get("content")
        if not isinstance(content, str) or not CONTEXT_BLOCK.search(content):
            result.append(message)
            continue

        def apply(passages: list[Passage]) -> list[Passage]:
            nonlocal removed
            kept, dropped = transform(passages)
            removed += dropped
            return kept

        result.append(_with_content(message, context_blocks_map(text=content, transform=apply)))
    return result, removed

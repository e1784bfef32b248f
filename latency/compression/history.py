"""Conversation history in a prompt: repeated turns and chunks out, older turns by relevance.
System messages and the last user message (with anything after it) are never touched here."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from latency.compression.rank import text_terms, units_score
from latency.compression.text import text_key
from latency.core.tokens import message_content, messages_tokens
from latency.rag.context import CONTEXT_BLOCK

SYSTEM_ROLES = frozenset({"system", "developer"})
MIN_REPEAT_CHUNK_WORDS = 12
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")


@dataclass
class Turn:
    """A user message and the replies that follow it, as indices into the message list."""

    indices: list[int] = field(default_factory=list)


def last_user_index(*, messages: list[dict[str, str]]) -> int | None:
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].get("role") == "user":
            return index
    return None


def history_turns(*, messages: list[dict[str, str]]) -> list[Turn]:
    """The turns before the last user message, system messages left out."""
    end = last_user_index(messages=messages)
    turns: list[Turn] = []
    for index, message in enumerate(messages[: end or 0]):
        if message.get("role") in SYSTEM_ROLES:
            continue
        if message.get("role") == "user" or not turns:
            turns.append(Turn())
        turns[-1].indices.append(index)
    return turns


def messages_dedupe(*, messages: list[dict[str, str]]) -> tuple[list[dict[str, str]], int]:
    """Drop history turns that repeat an earlier turn word for word (repeated few-shot examples,
    a re-sent exchange), then long paragraphs of history that repeat one seen earlier in the
    system prompt or the history. Returns (messages, messages and paragraphs removed)."""
    turns = history_turns(messages=messages)
    paragraphs = {
        index: _paragraphs(message=messages[index]) for turn in turns for index in turn.indices
    }
    seen_turns: set[tuple[str, ...]] = set()
    dropped: set[int] = set()
    for turn in turns:
        key = tuple(
            f"{messages[i].get('role')}:{' '.join(k for _, k in paragraphs[i])}"
            for i in turn.indices
        )
        if key in seen_turns:
            dropped.update(turn.indices)
        seen_turns.add(key)
    removed = len(dropped)
    seen_chunks = {
        key
        for message in messages
        if message.get("role") in SYSTEM_ROLES
        for _, key in _paragraphs(message=message)
        if key.count(" ") + 1 >= MIN_REPEAT_CHUNK_WORDS
    }
    kept: list[dict[str, str]] = []
    for index, message in enumerate(messages):
        if index in dropped:
            continue
        if index not in paragraphs or CONTEXT_BLOCK.search(message_content(message=message)):
            kept.append(message)
            continue
        fresh = [text for text, key in paragraphs[index] if key not in seen_chunks]
        seen_chunks.update(
            key for _, key in paragraphs[index] if key.count(" ") + 1 >= MIN_REPEAT_CHUNK_WORDS
        )
        if fresh and len(fresh) < len(paragraphs[index]):
            removed += len(paragraphs[index]) - len(fresh)
            message = {**message, "content": "\n\n".join(fresh)}
        kept.append(message)
    return kept, removed


def _paragraphs(*, message: dict[str, str]) -> list[tuple[str, str]]:
    """The message's paragraphs, each with its comparison key."""
    return [
        (paragraph.strip("\n"), text_key(text=paragraph))
        for paragraph in _PARAGRAPH_BREAK.split(message_content(message=message))
        if paragraph.strip()
    ]


def history_compact(
    *,
    messages: list[dict[str, str]],
    question: str,
    keep_recent: int,
    keep_first: int,
    budget_tokens: int,
    min_relevance: float,
) -> tuple[list[dict[str, str]], int]:
    """Keep the first `keep_first` and the last `keep_recent` turns verbatim; of the turns in
    between, keep those that share words with the question, most relevant first, within
    `budget_tokens`. Returns (messages, turns removed)."""
    turns = history_turns(messages=messages)
    start, end = keep_first, max(len(turns) - keep_recent, keep_first)
    older = turns[start:end]
    if not older:
        return messages, 0
    texts = [
        " ".join(CONTEXT_BLOCK.sub(" ", message_content(message=messages[i])) for i in turn.indices)
        for turn in older
    ]
    scores = units_score(query=question, units=[text_terms(text=text) for text in texts])
    best = max(scores)
    order = sorted(range(len(older)), key=lambda index: (-scores[index], -index))
    kept_turns: set[int] = set()
    used = 0
    for index in order:
        if scores[index] <= 0 or scores[index] < best * min_relevance:
            break
        cost = messages_tokens(messages=[messages[i] for i in older[index].indices])
        if used + cost > budget_tokens:
            continue
        kept_turns.add(index)
        used += cost
    dropped = {
        i for index, turn in enumerate(older) if index not in kept_turns for i in turn.indices
    }
    return [m for i, m in enumerate(messages) if i not in dropped], len(older) - len(kept_turns)

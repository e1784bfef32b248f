"""Grounded answers: when a prompt carries `<context>...</context>`, answer by quoting it.

Passages may start with `[n]` at the start of a line; the sentences that share the most words
with the question are quoted verbatim, each followed by its passage's `[n]` marker.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

from latency.simulator.words import message_text, text_stems

_CONTEXT_BLOCK = re.compile(r"<context>(.*?)</context>", re.S | re.I)
_MARKER = re.compile(r"(?m)^[ \t]*\[(\d+)\]")
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+(?=\S)|\s*\n\s*")
MAX_QUOTES = 3
NOTHING_RELEVANT = "I found nothing relevant to your question in the provided context."

_INTROS = (
    "Based on the provided context, here is what the documents say.",
    "The retrieved passages answer this directly.",
    "Here is what the sources say on this point.",
    "The documents you shared cover this.",
)
_SINGLE_QUOTES = (
    'According to the context, "{quote}"{marker}',
    'The documents state: "{quote}"{marker}',
    'One passage puts it this way: "{quote}"{marker}',
)
_CLOSINGS = (
    "That is what the provided context says on this question.",
    "Let me know if you need more detail from these sources.",
    "The cited passages have the full wording.",
)


@dataclass(frozen=True)
class ContextSentence:
    text: str
    marker: str | None
    position: int


def context_find(*, messages: list[dict[str, Any]]) -> str | None:
    """The text of every context block in the messages, joined; None when there is none."""
    blocks = [
        block
        for message in messages
        for block in _CONTEXT_BLOCK.findall(message_text(message=message))
    ]
    return "\n".join(blocks) if blocks else None


def context_strip(*, text: str) -> str:
    """The text with its context blocks removed, which leaves the question itself."""
    return _CONTEXT_BLOCK.sub(" ", text)


def context_sentences(*, context: str) -> list[ContextSentence]:
    """Split a context into sentences, each tagged with the `[n]` of its passage."""
    passages: list[tuple[str | None, str]] = []
    matches = list(_MARKER.finditer(context))
    head_end = matches[0].start() if matches else len(context)
    passages.append((None, context[:head_end]))
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(context)
        passages.append((f"[{match.group(1)}]", context[match.end() : end]))
    sentences: list[ContextSentence] = []
    for marker, passage in passages:
        for piece in _SENTENCE_BREAK.split(passage):
            text = " ".join(piece.split())
            if text:
                sentences.append(ContextSentence(text=text, marker=marker, position=len(sentences)))
    return sentences


def context_sentences_rank(*, question: str, context: str) -> list[ContextSentence]:
    """The 1-3 sentences sharing the most words with the question (none when nothing does)."""
    question_stems = text_stems(text=question)
    scored = [
        (len(question_stems & text_stems(text=sentence.text)), sentence)
        for sentence in context_sentences(context=context)
    ]
    scored = [(score, sentence) for score, sentence in scored if score > 0]
    if not scored:
        return []
    scored.sort(key=lambda pair: (-pair[0], pair[1].position))
    best = scored[0][0]
    return [sentence for score, sentence in scored[:MAX_QUOTES] if score * 2 >= best]


def context_answer(*, question: str, context: str, rng: random.Random) -> str:
    """Answer from the context by quoting its most relevant sentences with their markers."""
    quotes = context_sentences_rank(question=question, context=context)
    if not quotes:
        return NOTHING_RELEVANT

    def cite(sentence: ContextSentence) -> str:
        return f" {sentence.marker}" if sentence.marker else ""

    if len(quotes) == 1:
        body = rng.choice(_SINGLE_QUOTES).format(quote=quotes[0].text, marker=cite(quotes[0]))
        return f"{rng.choice(_INTROS)} {body} {rng.choice(_CLOSINGS)}"
    items = "\n".join(f'- "{quote.text}"{cite(quote)}' for quote in quotes)
    return f"{rng.choice(_INTROS)}\n\n{items}\n\n{rng.choice(_CLOSINGS)}"

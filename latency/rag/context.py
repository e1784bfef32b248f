"""The one place that writes and reads the `<context>` block: retrieved passages, numbered for
citations, in the system message before the question. Compression prunes inside it; the
simulator (its own process) reads the same markup from the wire."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

CONTEXT_BLOCK = re.compile(r"(<context>)(.*?)(</context>)", re.S | re.I)
NO_MATCH = "(no passage of the user's documents matched)"
INSTRUCTION = (
    "Answer from the context below and cite passages as [n]. If it does not hold the answer, "
    "say so."
)


class PassageLike(Protocol):
    title: str
    heading: str
    text: str


def context_message_build(*, passages: Sequence[PassageLike]) -> dict[str, str]:
    """The system message that carries the passages, numbered [1], [2], … for citations."""
    if not passages:
        body = NO_MATCH
    else:
        body = "\n\n".join(
            f"[{n}] {p.title}{' › ' + p.heading if p.heading else ''}: {p.text}"
            for n, p in enumerate(passages, start=1)
        )
    return {"role": "system", "content": f"{INSTRUCTION}\n<context>\n{body}\n</context>"}


def context_present(*, messages: Sequence[dict[str, object]]) -> bool:
    """Whether any message carries a context block."""
    return any(CONTEXT_BLOCK.search(str(m.get("content", ""))) for m in messages)

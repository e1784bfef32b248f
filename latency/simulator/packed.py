"""Packed prompts: several independent prompts in one request, answered as if each were alone.

The contract with the app's batching (which builds these requests):

A packed request has exactly two messages,

    [{"role": "system", "content": PACK_SYSTEM},
     {"role": "user", "content": "### Item 1\\n<prompt 1>\\n\\n### Item 2\\n<prompt 2>\\n..."}]

where PACK_SYSTEM is the exact text below; the system message is what marks a request as
packed. Items are numbered from 1 in order; a prompt may span several lines, but no line of it
may start with "### Item ". The simulator answers

    "### Item 1\\n<answer 1>\\n\\n### Item 2\\n<answer 2>..."

where answer n equals, character for character after `.strip()`, the answer to the single
request `[{"role": "user", "content": "<prompt n>"}]` with the same model and seed,
non-streamed (the answer text does not depend on temperature). `max_tokens` and `stop` apply
to the whole packed answer, as they would on any request. The latency is one request's:
prefill over the whole packed prompt, then the completion tokens of all the answers; `usage`
counts the packed prompt and the whole packed answer.
"""

from __future__ import annotations

import re
from typing import Any

from latency.simulator.words import message_text

PACK_SYSTEM = (
    "You will receive several independent items, each under a heading '### Item <n>'. "
    "Answer each item on its own, exactly as if it were the only request. Reply with the same "
    "headings, in the same order, each followed by that item's answer and nothing else."
)
_HEADING = re.compile(r"^### Item (\d+)[ \t]*$", re.MULTILINE)


def packed_items(*, messages: list[dict[str, Any]]) -> list[str] | None:
    """The prompts of a packed request, in order, or None when the request is not packed."""
    if len(messages) != 2 or messages[0].get("role") != "system":
        return None
    if (
        message_text(message=messages[0]).strip() != PACK_SYSTEM
        or messages[1].get("role") != "user"
    ):
        return None
    text = message_text(message=messages[1])
    headings = list(_HEADING.finditer(text))
    if not headings:
        return None
    items = []
    for index, heading in enumerate(headings):
        end = headings[index + 1].start() if index + 1 < len(headings) else len(text)
        items.append(text[heading.end() : end].strip())
    return items


def packed_request_build(*, prompts: list[str]) -> list[dict[str, str]]:
    """The messages of a packed request for `prompts` (what the batching side sends)."""
    body = "\n\n".join(f"### Item {n}\n{prompt}" for n, prompt in enumerate(prompts, start=1))
    return [{"role": "system", "content": PACK_SYSTEM}, {"role": "user", "content": body}]


def packed_answer_join(*, answers: list[str]) -> str:
    """The packed answer: each item's heading, then its answer, in order."""
    return "\n\n".join(
        f"### Item {n}\n{answer.strip()}" for n, answer in enumerate(answers, start=1)
    )


def packed_answer_split(*, text: str) -> list[str]:
    """The answers of a packed answer, in order (what the batching side reads back)."""
    headings = list(_HEADING.finditer(text))
    return [
        text[h.end() : headings[i + 1].start() if i + 1 < len(headings) else len(text)].strip()
        for i, h in enumerate(headings)
    ]

"""Packed prompts: several independent prompts in one request, answered as if each were alone.

The contract with the app's batching (which builds these requests):

A packed request has exactly two messages,

    [{"role": "system", "content": PACK_SYSTEM},
     {"role": "user", "content": "<template>\\n\\n[1] <part 1>\\n[2] <part 2>\\n..."}]

where PACK_SYSTEM is the exact text below; the system message is what marks a request as
packed. The template is what every item shares, said once, with `{item}` (exactly once) where
an item's own text goes; when nothing is shared it is left out, with its blank line, and the
message starts with "[1] ". Items are numbered from 1 in order, each on a line starting with
"[n] "; a part may span several lines, but no line of it may start with "[<digits>]". Item n's
prompt is the template with `{item}` replaced by part n (`.strip()`ped). The simulator answers

    "[1] <answer 1>\\n[2] <answer 2>..."

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
    "Several independent items follow, each on a line that starts with its number, like [1]. "
    "If a request with {item} comes first, each item stands for {item} in it. Answer each item "
    "on its own, exactly as if it were the only request. Reply [n] and that item's answer for "
    "each, in order, and nothing else."
)
PLACEHOLDER = "{item}"
_HEADING = re.compile(r"^\[(\d+)\] ?", re.MULTILINE)


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
    template = PLACEHOLDER
    if not text.startswith("[1] "):
        end = text.find("\n\n[1] ")
        if end < 0 or text[:end].count(PLACEHOLDER) != 1:
            return None
        template, text = text[:end], text[end + 2 :]
    prefix, suffix = template.split(PLACEHOLDER)
    parts, start, number = [], len("[1] "), 1
    while True:
        following = f"\n[{number + 1}] "
        end = text.find(following, start)
        parts.append(text[start : end if end >= 0 else len(text)].strip())
        if end < 0:
            break
        start, number = end + len(following), number + 1
    return [f"{prefix}{part}{suffix}" for part in parts]


def packed_request_build(
    *, prompts: list[str], template: str = PLACEHOLDER
) -> list[dict[str, str]]:
    """The messages of a packed request (what the batching side sends): `prompts` are the
    items' own parts, each put in `template` for {item}."""
    items = "\n".join(f"[{n}] {prompt}" for n, prompt in enumerate(prompts, start=1))
    body = items if template == PLACEHOLDER else f"{template}\n\n{items}"
    return [{"role": "system", "content": PACK_SYSTEM}, {"role": "user", "content": body}]


def packed_answer_join(*, answers: list[str]) -> str:
    """The packed answer: each item's number, then its answer, in order."""
    return "\n".join(f"[{n}] {answer.strip()}" for n, answer in enumerate(answers, start=1))


def packed_answer_split(*, text: str) -> list[str]:
    """The answers of a packed answer, in order (what the batching side reads back)."""
    headings = list(_HEADING.finditer(text))
    return [
        text[h.end() : headings[i + 1].start() if i + 1 < len(headings) else len(text)].strip()
        for i, h in enumerate(headings)
    ]

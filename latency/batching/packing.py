"""Several short independent items in one prompt, and the strict reading of the reply (the seed's
`process_sentiment_batch`). The simulator implements the same contract."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from latency.core.tokens import tokens_count

PACK_SYSTEM = (
    "You will receive several independent items, each under a heading '### Item <n>'. Answer each "
    "item on its own, exactly as if it were the only request. Reply with the same headings, in "
    "the same order, each followed by that item's answer and nothing else."
)
_HEADING = re.compile(r"^### Item (\d+)\n", re.MULTILINE)
SEPARATOR = "\n\n"


def pack_messages(*, prompts: Sequence[str]) -> list[dict[str, str]]:
    body = SEPARATOR.join(f"### Item {n}\n{prompt}" for n, prompt in enumerate(prompts, 1))
    return [{"role": "system", "content": PACK_SYSTEM}, {"role": "user", "content": body}]


def pack_parse(*, reply: str, count: int) -> list[str | None]:
    """The answer of each of `count` items, None where it is missing or malformed: the reply
    starts with a heading, headings rise strictly (else nothing is trusted), each at the start
    of a line, and an answer is non-empty and ends with the separator before the next."""
    answers: list[str | None] = [None] * count
    matches = list(_HEADING.finditer(reply))
    if not matches or matches[0].start() != 0:
        return answers
    numbers = [int(m.group(1)) for m in matches]
    if any(later <= earlier for earlier, later in zip(numbers, numbers[1:], strict=False)):
        return answers  # repeated or out of order: no answer can be trusted to be its item's
    for position, match in enumerate(matches):
        number = numbers[position]
        if number > count:
            continue
        end = matches[position + 1].start() if position + 1 < len(matches) else len(reply)
        text = reply[match.end() : end]
        if position + 1 < len(matches):
            if not text.endswith(SEPARATOR):
                continue
            text = text[: -len(SEPARATOR)]
        if text.strip() and not text.startswith("### Item"):
            answers[number - 1] = text
    return answers


@dataclass(frozen=True)
class Packable:
    key: int  # the caller's handle (an item id)
    prompt: str
    tokens: int


def packable_prompt(*, body: dict) -> str | None:
    """The prompt of a request that may share a packed prompt: one user message, no options
    that a pack could not honour per item."""
    messages = body.get("messages") or []
    if len(messages) != 1 or messages[0].get("role") != "user":
        return None
    if any(
        body.get(option) not in (None, False)
        for option in ("n", "tools", "response_format", "stop", "logprobs")
    ):
        return None
    content = messages[0].get("content")
    return content if isinstance(content, str) and "### Item" not in content else None


def packs_group(
    *, items: Sequence[Packable], size: int, token_budget: int, item_token_limit: int = 400
) -> tuple[list[list[Packable]], list[Packable]]:
    """Packs of at most `size` items and `token_budget` prompt tokens, in order; items too long
    to share a prompt come back alone. A pack of one is sent alone too."""
    packs: list[list[Packable]] = []
    alone: list[Packable] = []
    current: list[Packable] = []
    used = 0
    for item in items:
        if size <= 1 or item.tokens > item_token_limit:
            alone.append(item)
            continue
        if current and (len(current) >= size or used + item.tokens > token_budget):
            packs.append(current)
            current, used = [], 0
        current.append(item)
        used += item.tokens + 5  # the heading
    if current:
        packs.append(current)
    alone += [pack[0] for pack in packs if len(pack) == 1]
    return [pack for pack in packs if len(pack) > 1], alone


def prompt_tokens(*, text: str) -> int:
    return tokens_count(text=text)

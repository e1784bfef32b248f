"""Several short independent items in one prompt, and the strict reading of the reply (the seed's
`process_sentiment_batch`): what the items share (an instruction) is said once, as a request
with `{item}` in it, then each item's own text on a numbered line. The simulator implements
the same contract (latency/simulator/packed.py)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

from latency.core.tokens import tokens_count

PACK_SYSTEM = (
    "Several independent items follow, each on a line that starts with its number, like [1]. "
    "If a request with {item} comes first, each item stands for {item} in it. Answer each item "
    "on its own, exactly as if it were the only request. Reply [n] and that item's answer for "
    "each, in order, and nothing else."
)
PLACEHOLDER = "{item}"
TEMPLATE_END = "\n\n"  # between the shared request and item [1]
_HEADING = re.compile(r"^\[(\d+)\] ?", re.MULTILINE)
_LINE_HEADING = re.compile(r"(?:^|\n)\[\d+\]")
_SPACE = re.compile(r"\s")


@dataclass(frozen=True)
class PackPrompt:
    """The shared request (`{item}` where each item goes; just `{item}` when nothing is shared)
    and the items' own texts: item n alone is `template` with `{item}` replaced by `parts[n]`."""

    template: str
    parts: tuple[str, ...]


def _part_ok(text: str) -> bool:
    return bool(text) and text == text.strip() and not _LINE_HEADING.search(text)


def pack_prompt_split(*, prompts: Sequence[str]) -> PackPrompt:
    """The longest start and end every prompt shares, cut at whitespace so that an item keeps
    whole words, as the template; the plain list when nothing worth saying once is shared."""
    plain = PackPrompt(template=PLACEHOLDER, parts=tuple(prompts))
    if len(prompts) < 2:
        return plain
    shortest = min(len(p) for p in prompts)
    prefix = os.path.commonprefix(list(prompts))
    spaces = [m.end() for m in _SPACE.finditer(prefix)]
    prefix = prefix[: spaces[-1]] if spaces else ""
    suffix = os.path.commonprefix([p[::-1] for p in prompts])[::-1]
    suffix = suffix[: max(0, shortest - len(prefix))]
    first_space = _SPACE.search(suffix)
    suffix = suffix[first_space.start() :] if first_space else ""
    shared = prefix + suffix
    if len(shared.split()) < 2 or PLACEHOLDER in shared or _LINE_HEADING.search(shared):
        return plain
    parts = tuple(p[len(prefix) : len(p) - len(suffix)] for p in prompts)
    if not all(_part_ok(part) for part in parts) or TEMPLATE_END in prefix + suffix:
        return plain
    return PackPrompt(template=f"{prefix}{PLACEHOLDER}{suffix}", parts=parts)


def pack_messages(*, prompts: Sequence[str]) -> list[dict[str, str]]:
    pack = pack_prompt_split(prompts=prompts)
    items = "\n".join(f"[{n}] {part}" for n, part in enumerate(pack.parts, 1))
    body = items if pack.template == PLACEHOLDER else pack.template + TEMPLATE_END + items
    return [{"role": "system", "content": PACK_SYSTEM}, {"role": "user", "content": body}]


def pack_parse(*, reply: str, count: int) -> list[str | None]:
    """The answer of each of `count` items, None where it is missing or malformed: the reply
    starts with a heading `[n]`, headings rise strictly (else nothing is trusted), each at the
    start of a line, and an answer is non-empty and ends with the line break before the next."""
    answers: list[str | None] = [None] * count
    matches = list(_HEADING.finditer(reply))
    if not matches or matches[0].start() != 0:
        return answers
    numbers = [int(m.group(1)) for m in matches]
    if any(later <= earlier for earlier, later in zip(numbers, numbers[1:], strict=False)):
        return answers  # repeated or out of order: no answer can be trusted to be its item's
    for position, match in enumerate(matches):
        number = numbers[position]
        if not 1 <= number <= count:
            continue
        end = matches[position + 1].start() if position + 1 < len(matches) else len(reply)
        text = reply[match.end() : end]
        if position + 1 < len(matches):
            if not text.endswith("\n"):
                continue
            text = text[:-1]
        if text.strip():
            answers[number - 1] = text
    return answers


@dataclass(frozen=True)
class Packable:
    key: int  # the caller's handle (an item id)
    prompt: str
    tokens: int
    options: str = ""  # the request's other fields: only items that agree share a prompt


def packable_prompt(*, body: dict) -> str | None:
    """The prompt of a request that may share a packed prompt: one user message, no options
    that a pack could not honour per item, and text that a numbered line can carry as is."""
    messages = body.get("messages") or []
    if len(messages) != 1 or messages[0].get("role") != "user":
        return None
    if any(
        body.get(option) not in (None, False)
        for option in ("n", "tools", "response_format", "stop", "logprobs")
    ):
        return None
    content = messages[0].get("content")
    if not isinstance(content, str) or PLACEHOLDER in content or TEMPLATE_END in content:
        return None
    return content if _part_ok(content) else None


def pack_options(*, body: dict) -> str:
    return json.dumps({k: v for k, v in body.items() if k != "messages"}, sort_keys=True)


LIMITS = ("max_tokens", "max_completion_tokens")


def pack_body(*, body: dict, count: int) -> dict:
    """The options of a pack of `count` items that share `body`'s: a length limit applies to
    each item, so the pack may use `count` times it (and a little for the numbers)."""
    pack = {k: v for k, v in body.items() if k != "messages"}
    for name in LIMITS:
        if isinstance(pack.get(name), int):
            pack[name] = count * (pack[name] + 4)
    return pack


def pack_answer_fits(*, body: dict, text: str) -> bool:
    """Whether an answer read from a pack is one the item alone would have given whole: well
    within the item's length limit (by half, whatever tokenizer the endpoint counts with);
    one nearer it might have been cut short alone, so it is asked alone."""
    limits = [body[name] for name in LIMITS if isinstance(body.get(name), int)]
    return not limits or 2 * tokens_count(text=text) <= min(limits)


def packs_group(
    *, items: Sequence[Packable], size: int, token_budget: int, item_token_limit: int = 400
) -> tuple[list[list[Packable]], list[Packable]]:
    """Packs of at most `size` items and `token_budget` prompt tokens, of items with the same
    options and, in order of their prompts, what they share next to each other; items too long
    to share a prompt come back alone. A pack of one is sent alone too."""
    packs: list[list[Packable]] = []
    alone: list[Packable] = []
    groups: dict[str, list[Packable]] = {}
    for item in items:
        if size <= 1 or item.tokens > item_token_limit:
            alone.append(item)
        else:
            groups.setdefault(item.options, []).append(item)
    for group in groups.values():
        current: list[Packable] = []
        used = 0
        for item in sorted(group, key=lambda i: i.prompt):
            if current and (len(current) >= size or used + item.tokens > token_budget):
                packs.append(current)
                current, used = [], 0
            current.append(item)
            used += item.tokens + 3  # the number
        if current:
            packs.append(current)
    alone += [pack[0] for pack in packs if len(pack) == 1]
    return [pack for pack in packs if len(pack) > 1], alone


def prompt_tokens(*, text: str) -> int:
    return tokens_count(text=text)

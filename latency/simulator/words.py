"""Word-level helpers for the simulator: its tokenizer, token counts and topic words.

A token is a word with its leading whitespace, so joining the tokens gives the text back.
"""

from __future__ import annotations

import math
import re
from typing import Any

_TOKEN = re.compile(r"\s*\S+")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9'-]*[A-Za-z0-9]|[A-Za-z]")

_STOPWORD_TEXT = """
    a about above after again against all also am an and any are aren't as at be because been
    before being below between both but by can could did do does doing don't down during each
    few for from further get gets got had has have having he her here hers herself him himself
    his how i if in into is isn't it it's its itself just know let let's like make me more most
    my myself need no nor not now of off on once only or other our ours ourselves out over own
    please same she should so some such tell than that that's the their theirs them themselves
    then there these they this those through to too under until up use used using very want was
    we were what when where which while who whom why will with would you your yours yourself
    explain give show help way ways thing things really much many one two does did done
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def text_tokenize(*, text: str) -> list[str]:
    """Split text into tokens; `"".join(tokens)` is the text without trailing whitespace."""
    return _TOKEN.findall(text)


def message_text(*, message: dict[str, Any]) -> str:
    """The text of a chat message whose content is a string or a list of content parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            part.get("text", "")
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def prompt_tokens_count(*, messages: list[dict[str, Any]]) -> int:
    """A deterministic stand-in for a tokenizer: about 4 tokens for 3 words, plus framing."""
    total = 3
    for message in messages:
        words = len(message_text(message=message).split())
        total += 4 + math.ceil(words * 4 / 3)
    return total


def word_stem(*, word: str) -> str:
    """A crude stem so that `cache`, `cached`, `caches` and `caching` meet."""
    word = word.lower().strip("'")
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            word = word[: -len(suffix)]
            break
    return word[:-1] if len(word) > 3 and word.endswith("e") else word


def text_topic_words(*, text: str) -> list[str]:
    """The content words of a text, in order, each once, as written."""
    seen: set[str] = set()
    words: list[str] = []
    for word in _WORD.findall(text):
        lowered = word.lower()
        if len(word) < 3 or lowered in STOPWORDS or lowered in seen:
            continue
        seen.add(lowered)
        words.append(word)
    return words


def text_stems(*, text: str) -> set[str]:
    """The stems of a text's content words, for overlap scoring."""
    return {word_stem(word=word) for word in text_topic_words(text=text)}

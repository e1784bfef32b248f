"""What text /v1 accepts: UTF-8 that PostgreSQL and the tokenizer can hold."""

from __future__ import annotations


def text_problem(*, text: str, allow_empty: bool = True) -> str:
    """Why `text` is refused ("" when it is fine), worded to follow its field's name."""
    if not text and not allow_empty:
        return "is empty."
    if "\x00" in text:
        return "contains a NUL character."
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (not valid UTF-8)."
    return ""

"""Deterministic, plausible log probabilities in OpenAI's shape, for `logprobs`/`top_logprobs`.

Each token's value comes from a hash of the completion's text position and the token, so the
same request gets the same numbers; alternatives are common tokens, each less likely.
"""

from __future__ import annotations

import hashlib
from typing import Any

_ALTERNATIVES = (
    " the",
    " a",
    " and",
    ",",
    " to",
    " of",
    " is",
    " in",
    " that",
    " it",
    ".",
    " for",
    " with",
    " as",
    " on",
    " this",
    " be",
    " can",
    " or",
    " you",
    " an",
)


def _unit(*, material: str) -> float:
    digest = hashlib.sha256(material.encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32


def _entry(*, token: str, logprob: float) -> dict[str, Any]:
    return {"token": token, "logprob": round(logprob, 6), "bytes": list(token.encode())}


def token_logprob(*, token: str, position: int, salt: str, top: int) -> dict[str, Any]:
    """One `logprobs.content` entry: the token, its logprob, bytes and `top` alternatives."""
    # Squared, so most tokens are near-certain and a few are real choices, as in real output.
    logprob = -4.0 * _unit(material=f"{salt}:{position}:{token}") ** 2
    entry = _entry(token=token, logprob=logprob)
    alternatives = [_entry(token=token, logprob=logprob)]
    others = (alt for alt in _ALTERNATIVES if alt != token)
    current = logprob
    while len(alternatives) < top:
        other = next(others)
        # Each alternative strictly less likely than the one before: OpenAI lists them ranked.
        current -= 0.5 + 2.0 * _unit(material=f"{salt}:{position}:{other}")
        alternatives.append(_entry(token=other, logprob=current))
    entry["top_logprobs"] = alternatives[:top]
    return entry


def logprobs_build(*, tokens: tuple[str, ...], start: int, salt: str, top: int) -> dict[str, Any]:
    """A choice's `logprobs` object for `tokens`, the first of them at position `start`."""
    content = [
        token_logprob(token=token, position=start + offset, salt=salt, top=top)
        for offset, token in enumerate(tokens)
    ]
    return {"content": content, "refusal": None}

"""A cheap guess at how hard a request is, from its words alone (no model call): simple requests
go to a small model at the nearest edge, complex ones to a larger model when the budget allows."""

from __future__ import annotations

import re
from dataclasses import dataclass

SIMPLE_BELOW = 0.25
COMPLEX_FROM = 0.6

_REASONING_CUES = re.compile(
    r"\b(explain|why|compare|contrast|analy[sz]e|design|architect\w*|prove|derive|evaluate|"
    r"trade-?offs?|step[- ]by[- ]step|implement|refactor|debug|optimi[sz]e|algorithm|"
    r"pros and cons|in detail|detailed|essay|strategy|plan for)\b",
    re.IGNORECASE,
)
_CODE = re.compile(r"```|^\s*(def|class|function|import|SELECT)\b|[{};]\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Complexity:
    score: float  # 0 (a greeting) .. 1 (a long reasoning task)
    label: str  # simple, medium or complex
    reason: str


def complexity_estimate(*, messages: list[dict[str, str]], grounded: bool = False) -> Complexity:
    """Score the last user message: its length, reasoning cues, code, and the conversation.

    `grounded`: the answer will rest on retrieved passages. Routing runs before retrieval (so
    that the model call can start alongside the cache lookup), so it is told, not shown."""
    user_turns = [m for m in messages if m.get("role") == "user"]
    text = str(user_turns[-1].get("content", "")) if user_turns else ""
    words = len(text.split())
    cues = sorted({match.lower() for match in _REASONING_CUES.findall(text)})
    score, reasons = 0.0, [f"{words} words"]
    if words > 150:
        score += 0.4
    elif words > 40:
        score += 0.2
    if cues:
        score += min(0.4, 0.2 * len(cues))
        reasons.append("asks to " + ", ".join(cues[:3]))
    if _CODE.search(text):
        score += 0.3
        reasons.append("code")
    if text.count("?") >= 2:
        score += 0.1
        reasons.append("several questions")
    if len(user_turns) >= 6:
        score += 0.1
        reasons.append(f"{len(user_turns)} turns")
    if grounded:
        # An answer from the user's passages must follow them and cite [n]: never the smallest
        # model for that, whatever the question's length.
        score += 0.3
        reasons.append("retrieved context")
    score = min(1.0, score)
    if score < SIMPLE_BELOW:
        label = "simple"
    elif score < COMPLEX_FROM:
        label = "medium"
    else:
        label = "complex"
    return Complexity(score=round(score, 2), label=label, reason=", ".join(reasons))

"""Classification prompts: "classify ... as X, Y or Z" gets exactly one of the offered labels.

One general pattern, not a list of known prompts: "one of: X, Y, Z", or a classifying word
(classify, label, categorise, tag, sentiment) with a list "X, Y or Z" (after "as", or bare).
The label is chosen from the text being classified, deterministically: a label named in it
wins, then a small sentiment lexicon for positive/negative, then a hash.
"""

from __future__ import annotations

import hashlib
import re

_ASKS = re.compile(
    r"\b(classif\w*|label\w*|categori[sz]\w*|tag\b|sentiment|positive\s*,\s*negative)",
    re.IGNORECASE,
)
_WORD = r"[\"'“”‘’`*]?[\w-]+[\"'“”‘’`*]?"
_OR_LIST = rf"{_WORD}(?:\s*,\s*{_WORD})*\s*,?\s+or\s+{_WORD}"
_AFTER_AS = re.compile(rf"\bas\s+(?:either\s+)?({_OR_LIST})", re.IGNORECASE)
# "one of:" with its colon: without one, "one of the ways to ..." would read as a list.
_ONE_OF = re.compile(r"\bone of\s*:\s*([^\n.?!;]+)", re.IGNORECASE)
_BARE = re.compile(rf"({_OR_LIST})", re.IGNORECASE)
_SPLIT = re.compile(r"\s*,\s*(?:or\s+)?|\s+or\s+", re.IGNORECASE)
_QUOTES = "\"'“”‘’`*"
_POSITIVE = frozenset(
    "good great excellent love loved amazing happy wonderful fantastic best perfect fast "
    "helpful recommend pleased nice delicious friendly".split()
)
_NEGATIVE = frozenset(
    "bad terrible awful hate hated worst poor slow broken rude disappointed disappointing "
    "horrible useless refund crashes crashed late cold".split()
)
MAX_LABELS = 12


def _labels_split(text: str) -> list[str]:
    labels = [part.strip().strip(_QUOTES).strip() for part in _SPLIT.split(text.strip())]
    return [label for label in labels if label][:MAX_LABELS]


def labels_offered(*, prompt: str) -> list[str] | None:
    """The labels a classification prompt offers (two or more), else None."""
    asks = _ASKS.search(prompt) is not None
    patterns = (_AFTER_AS, _ONE_OF, _BARE) if asks else (_ONE_OF,)
    for pattern in patterns:
        match = pattern.search(prompt)
        if match:
            labels = _labels_split(match.group(1))
            if len(set(label.lower() for label in labels)) >= 2:
                return labels
    return None


def label_choose(*, prompt: str, labels: list[str]) -> str:
    """One of `labels`, picked from the prompt's text without the list of labels itself."""
    lowered = [label.lower() for label in labels]
    subject = prompt.lower()
    for label in lowered:
        subject = subject.replace(label, " ")
    words = set(re.findall(r"[a-z]+", subject))
    named = [label for label, low in zip(labels, lowered, strict=True) if low in words]
    if len(named) == 1:
        return named[0]
    if "positive" in lowered and "negative" in lowered:
        score = len(words & _POSITIVE) - len(words & _NEGATIVE)
        if score:
            return labels[lowered.index("positive" if score > 0 else "negative")]
        if "neutral" in lowered:
            return labels[lowered.index("neutral")]
    digest = hashlib.sha256(" ".join(subject.split()).encode()).digest()
    return labels[int.from_bytes(digest[:4], "big") % len(labels)]


def label_answer(*, prompt: str) -> str | None:
    """The label a classification prompt gets, or None when the prompt classifies nothing."""
    labels = labels_offered(prompt=prompt)
    return label_choose(prompt=prompt, labels=labels) if labels else None

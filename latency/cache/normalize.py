"""Query normalisation for the exact cache tier: same key for trivially different spellings.

Folds case, Unicode forms, quotes, spacing and sentence punctuation; keeps digits, decimal
points, signs, operators and every word, so "3.5" != "35" and "C++" != "C".
"""

from __future__ import annotations

import re
import unicodedata

_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201b": "'", "\u2032": "'", "`": "'"})
_DASHES = str.maketrans(
    {"\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-"}
)
_INVISIBLE = re.compile(r"[\u00ad\u200b-\u200f\u2060\ufeff]|[\x00-\x08\x0b-\x1f\x7f]")
# Apostrophes inside words are dropped, not spaced: "what's" == "whats", "don't" == "dont".
_APOSTROPHE_IN_WORD = re.compile(r"(?<=\w)'(?=\w)")
# Separators inside numbers carry meaning ("3.5", "1,000", "2-3", "4/5"): protect them.
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")
_DECIMAL_POINT = re.compile(r"(?<=\d)\.(?=\d)")
# A minus that starts a number ("-5") or sits between digits ("2-3") is kept; other hyphens
# join words the way people also write them apart ("e-mail" == "e mail").
_HYPHEN_NOT_NUMERIC = re.compile(r"-(?!\d)|(?<=[^\W\d_])-")
# Sentence punctuation and brackets: never part of what is asked.
_SENTENCE_PUNCTUATION = re.compile(
    r"[.,;:!?\"'()\[\]{}_\u00ab\u00bb\u201c\u201d\u2026\u00bf\u00a1]"
)
_SPACES = re.compile(r"\s+")
_DECIMAL_MARK = "\x00"


def query_normalize(*, text: str) -> str:
    """Return the exact-tier key of a query: NFKC, casefolded, punctuation-free, single-spaced."""
    folded = unicodedata.normalize("NFKC", text).translate(_QUOTES).translate(_DASHES)
    folded = _INVISIBLE.sub("", folded).casefold()
    folded = _APOSTROPHE_IN_WORD.sub("", folded)
    folded = _THOUSANDS.sub("", folded)
    folded = _DECIMAL_POINT.sub(_DECIMAL_MARK, folded)
    folded = _HYPHEN_NOT_NUMERIC.sub(" ", folded)
    folded = _SENTENCE_PUNCTUATION.sub(" ", folded)
    folded = folded.replace(_DECIMAL_MARK, ".")
    return _SPACES.sub(" ", folded).strip()

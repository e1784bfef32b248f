"""Lexical relevance for compression: BM25 of text units against the question, over lightly
stemmed content words ("deploy", "deploys", "deploying" meet). No model is called."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

# Hyphens split ("ledgerly-signature" meets "Ledgerly"); dots and underscores join ("v2.3").
_WORD = re.compile(r"[a-z0-9]+(?:['_.][a-z0-9]+)*")
_STOPWORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers him his how i if in into is it its itself just
    me more most my no nor not now of off on once only or other our ours out over own same she
    should so some such than that the their theirs them then there these they this those through
    to too under until up very was we were what when where which while who whom why will with
    would you your yours yourself get got gets let lets may might must shall s t d ll m re ve
    tell know need want please thing things really much many way ways one anyone someone
    """.split()
)
# A per-process memo of word -> stem (a read-mostly cache, bounded; nothing shared).
_STEMS: dict[str, str] = {}
MAX_STEMS = 200_000
K1 = 1.2
B = 0.75


def _stem(word: str) -> str:
    """A light suffix strip, enough for lexical overlap; not a linguist's stemmer."""
    if len(word) <= 3 or not word.isalpha():
        return word
    stem = word
    if word.endswith("ies"):
        stem = word[:-3] + "y"
    elif word.endswith("es") and word[:-2].endswith(("ss", "x", "z", "ch", "sh")):
        stem = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us")):
        stem = word[:-1]
    elif word.endswith(("ing", "ed")) and len(word) > 5:
        stem = word[:-3] if word.endswith("ing") else word[:-2]
    elif word.endswith("ly") and len(word) > 5:
        stem = word[:-2]
    if len(stem) > 3 and stem[-1] == stem[-2]:
        stem = stem[:-1]  # "stopped" and "stop", "cancelled" and "cancel", "calls" and "call"
    return stem[:-1] if len(stem) > 4 and stem.endswith("e") else stem


def text_terms(*, text: str) -> list[str]:
    """The stemmed content words of a text, in order, repeats kept."""
    text = text.lower() if text.isascii() else text.lower().replace("’", "'")
    terms = []
    for word in _WORD.findall(text):
        if word in _STOPWORDS:
            continue
        stem = _STEMS.get(word)
        if stem is None:
            stem = _stem(word)
            if len(_STEMS) < MAX_STEMS:
                _STEMS[word] = stem
        terms.append(stem)
    return terms


def units_score(*, query: str, units: Sequence[Sequence[str]]) -> list[float]:
    """BM25 of each unit (its list of terms) against the query, IDF taken over the units."""
    query_terms = set(text_terms(text=query))
    if not units or not query_terms:
        return [0.0] * len(units)
    count = len(units)
    lengths = [len(terms) for terms in units]
    average = max(sum(lengths) / count, 1.0)
    frequencies = [Counter(terms) for terms in units]
    document_frequency: Counter[str] = Counter()
    for frequency in frequencies:
        document_frequency.update(term for term in frequency if term in query_terms)
    idf = {
        term: math.log(1 + (count - seen + 0.5) / (seen + 0.5))
        for term, seen in document_frequency.items()
    }
    scores = []
    for frequency, length in zip(frequencies, lengths, strict=True):
        norm = K1 * (1 - B + B * length / average)
        scores.append(
            sum(
                weight * frequency[term] * (K1 + 1) / (frequency[term] + norm)
                for term, weight in idf.items()
                if term in frequency
            )
        )
    return scores

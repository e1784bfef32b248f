"""The learned verifier's view of a pair: embedding geometry, word overlap and the rules' codes.

One function builds the vector for training and for serving, so the two cannot drift apart.
Word vectors (for "is this differing word a synonym?") come from the caller, so that training
can encode every word in batches and serving can use the process's per-word cache.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from difflib import SequenceMatcher

import numpy as np

from latency.cache.verify.rules import Alignment, RuleReport

# The rules' codes, one indicator each; "hard" ones also refuse on their own (verifier.py).
RULE_CODES = (
    "negation", "opposite", "number", "unit", "order", "question_type", "entity", "term", "wording",
)  # fmt: skip
SCALAR_NAMES = (
    "cosine", "cosine_squared", "token_jaccard", "content_jaccard", "length_ratio",
    "length_gap", "unmatched_share", "unmatched_count", "novel_min", "novel_mean",
    "novel_below_50", "novel_below_70", "entity_unmatched", "numbers_any", "first_word_same",
    *(f"rule_{code}" for code in RULE_CODES),
    # What kind of text it is (a short chat question, a news sentence): the model learns how
    # alike each kind must be, instead of one bar for all.
    "words_min", "words_max", "questions", "char_trigram_jaccard", "sequence_ratio",
    "extra_tokens", "capitals_gap", "extra_share",
)  # fmt: skip

WordVectors = Callable[[Sequence[str]], Mapping[str, np.ndarray]]


def alignment_vector_words(*, alignment: Alignment) -> list[str]:
    """The words whose vectors `pair_features` reads: none when every content word has its
    counterpart (most repeats), else the content words of both sides."""
    if not (alignment.asked_only or alignment.cached_only):
        return []
    return _content_words(alignment)


def pair_features(
    *,
    report: RuleReport,
    query_embedding: np.ndarray,
    candidate_embedding: np.ndarray,
    word_vectors: Mapping[str, np.ndarray],
) -> np.ndarray:
    """The feature vector, in SCALAR_NAMES' order. (The embeddings' |a-b| and a*b, 768 more,
    were tried in a logistic regression: held out, they did worse than these; see train.py.)"""
    a, b = query_embedding.astype(np.float32), candidate_embedding.astype(np.float32)
    cosine = float(a @ b)
    alignment = report.alignment
    asked_words = [t.text for t in alignment.asked.tokens]
    cached_words = [t.text for t in alignment.cached.tokens]
    asked_set, cached_set = set(asked_words), set(cached_words)
    content_asked = {alignment.asked.tokens[i].text for i in alignment.asked.content}
    content_cached = {alignment.cached.tokens[i].text for i in alignment.cached.content}
    unmatched = len(alignment.asked_only) + len(alignment.cached_only)
    content_total = max(len(alignment.asked.content) + len(alignment.cached.content), 1)
    novelty = _novelty(alignment, word_vectors)
    shortest, longest = sorted((len(asked_words), len(cached_words)))
    extra = len(alignment.asked_extra) + len(alignment.cached_extra)
    entity_unmatched = sum(
        terms.tokens[i].entity
        for terms, indexes in (
            (alignment.asked, alignment.asked_only),
            (alignment.cached, alignment.cached_only),
        )
        for i in indexes
    )
    scalars = [
        cosine,
        cosine * cosine,
        _jaccard(asked_set, cached_set),
        _jaccard(content_asked, content_cached),
        shortest / max(longest, 1),
        np.log1p(longest - shortest),
        unmatched / content_total,
        np.log1p(unmatched),
        min(novelty, default=1.0),
        float(np.mean(novelty)) if novelty else 1.0,
        sum(n < 0.5 for n in novelty),
        sum(n < 0.7 for n in novelty),
        entity_unmatched,
        float(bool(alignment.asked.numbers or alignment.cached.numbers)),
        float(asked_words[:1] == cached_words[:1]),
        *(float(code in report.reasons) for code in RULE_CODES),
        np.log1p(shortest),
        np.log1p(longest),
        float(alignment.asked.question_type is not None)
        + float(alignment.cached.question_type is not None),
        _jaccard(_trigrams(" ".join(asked_words)), _trigrams(" ".join(cached_words))),
        SequenceMatcher(None, asked_words, cached_words, autojunk=False).ratio(),
        np.log1p(extra),
        abs(_capitals(alignment.asked.tokens) - _capitals(alignment.cached.tokens)),
        extra / max(len(asked_words) + len(cached_words), 1),
    ]
    return np.asarray(scalars, dtype=np.float32)


def _novelty(alignment: Alignment, word_vectors: Mapping[str, np.ndarray]) -> list[float]:
    """For each unmatched content word, its best cosine to any content word of the other side:
    near 1 for a synonym the embedding knows ("uncooked"/"raw"), low for a new subject."""
    sides = (
        (alignment.asked, alignment.asked_only, alignment.cached),
        (alignment.cached, alignment.cached_only, alignment.asked),
    )
    scores = []
    for terms, indexes, other in sides:
        others = [
            word_vectors[other.tokens[j].text]
            for j in other.content
            if other.tokens[j].text in word_vectors
        ]
        for i in indexes:
            vector = word_vectors.get(terms.tokens[i].text)
            if vector is None or not others:
                scores.append(0.0)
                continue
            scores.append(float(max(vector @ o for o in others)))
    return scores


def _content_words(alignment: Alignment) -> list[str]:
    return [alignment.asked.tokens[i].text for i in alignment.asked.content] + [
        alignment.cached.tokens[i].text for i in alignment.cached.content
    ]


def _trigrams(text: str) -> set[str]:
    return {text[i : i + 3] for i in range(max(len(text) - 2, 1))}


def _capitals(tokens: Sequence) -> int:
    return sum(token.surface[:1].isupper() for token in tokens[1:])


def _jaccard(first: set[str], second: set[str]) -> float:
    union = first | second
    return len(first & second) / len(union) if union else 1.0

"""Verify a semantic-cache hit beyond cosine: turn away look-alike questions with other answers.

Three layers, cheapest first: a shared template that dominates both texts is refused; the
precise rules (negation, opposite, number, order) refuse on their own; everything else is the
learned model's call (`model.py`), which also sees the rules' softer codes as features. Each
verdict names a stable reason code (badge tooltip, request trace, `cache_eval --report`).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field

import numpy as np

from latency.cache.verify.features import alignment_vector_words, pair_features
from latency.cache.verify.model import VerifierModel, verifier_model_load, word_vectors_get
from latency.cache.verify.rules import RuleReport, Verdict, rules_check

# The cosine a candidate needs before the model is asked: a cheap gate, not the decision.
# Chosen on held-out folds (`python -m latency.cache.verify.train` prints the sweep): below
# it the model served almost nothing right, above it the hit rate fell with no gain.
DEFAULT_THRESHOLD = 0.70
# Rules precise enough to refuse alone: on the dev pairs they almost never fire on a paraphrase.
HARD_RULES = ("negation", "opposite", "number", "order")
# A shared prefix/suffix this long (words) is a template (system prompt, few-shot block pasted
# into the message): its embedding says "same template", not "same question", so the parts
# that differ are judged on their own. News sentences that differ in a word or two (MRPC) share
# 10-30 words; a system prompt or few-shot block is longer.
TEMPLATE_MIN_WORDS = 40
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class PairJudgement:
    """A verdict with what led to it: rule codes that fired, the model's probability, and the
    feature that pushed hardest towards serving (what let a false hit through)."""

    verdict: Verdict
    codes: tuple[str, ...] = ()
    probability: float | None = None
    leading_feature: str = ""
    extra: dict = field(default_factory=dict)


def cache_hit_verify(
    *,
    query: str,
    candidate: str,
    similarity: float,
    threshold: float,
    query_embedding: np.ndarray | None = None,
    candidate_embedding: np.ndarray | None = None,
) -> Verdict:
    """Decide whether the answer cached for `candidate` may answer `query`.

    The embeddings are the lookup's (the asked question's, and CacheEntry.embedding); when
    missing they are encoded here, which blocks: from async code use `cache_hit_verify_async`.
    """
    return cache_hit_judge(
        query=query, candidate=candidate, similarity=similarity, threshold=threshold,
        query_embedding=query_embedding, candidate_embedding=candidate_embedding,
    ).verdict  # fmt: skip


async def cache_hit_verify_async(**kwargs: object) -> Verdict:
    """`cache_hit_verify` on the embedding thread: it may encode words, and it keeps the
    model's first load and the numpy work off the event loop."""
    from latency.embeddings.local import embedding_submit

    return await asyncio.wrap_future(embedding_submit(lambda: cache_hit_verify(**kwargs)))


def cache_hit_judge(
    *,
    query: str,
    candidate: str,
    similarity: float,
    threshold: float,
    query_embedding: np.ndarray | None = None,
    candidate_embedding: np.ndarray | None = None,
    model: VerifierModel | None = None,
    explain: bool = False,
) -> PairJudgement:
    """The verdict on a pair; with `explain`, also the feature that pushed hardest towards
    serving (about forty more scorings: reports only, never the request path)."""
    if similarity < threshold:
        detail = f"similarity {similarity:.2f} < {threshold:.2f}"
        return PairJudgement(Verdict(False, "similarity", detail))
    if (parts := template_parts(query, candidate)) is not None:
        return _template_judge(parts, threshold=threshold, model=model, explain=explain)
    report = rules_check(query=query, candidate=candidate)
    codes = tuple(verdict.reason for verdict in report.fired)
    for verdict in report.fired:
        if verdict.reason in HARD_RULES:
            return PairJudgement(verdict, codes=codes)
    if query_embedding is None or candidate_embedding is None:
        from latency.embeddings.local import embeddings_encode

        query_embedding, candidate_embedding = embeddings_encode(texts=[query, candidate])
    model = model or verifier_model_load()
    features = report_features(
        report=report, query_embedding=query_embedding, candidate_embedding=candidate_embedding
    )
    probability = model.probability(features)
    leading = model.leading_feature(features) if explain else ""
    if probability < model.cutoff:
        soft = [verdict for verdict in report.fired if verdict.reason != "wording"]
        why = f"model p={probability:.2f} < {model.cutoff:.2f}"
        detail = f"{soft[0].detail}; {why}" if soft else why
        verdict = Verdict(False, soft[0].reason if soft else "model", detail)
        return PairJudgement(verdict, codes, probability, leading)
    detail = f"similarity {similarity:.2f}, model p={probability:.2f}"
    return PairJudgement(Verdict(True, "ok", detail), codes, probability, leading)


def report_features(
    *, report: RuleReport, query_embedding: np.ndarray, candidate_embedding: np.ndarray
) -> np.ndarray:
    words = alignment_vector_words(alignment=report.alignment)
    return pair_features(
        report=report, query_embedding=query_embedding, candidate_embedding=candidate_embedding,
        word_vectors=word_vectors_get(words=words) if words else {},
    )  # fmt: skip


def template_parts(query: str, candidate: str) -> tuple[str, str] | None:
    """What two texts ask when they share a long prefix or suffix (a template) and differ
    between them; None when they share no template, or are the same words."""
    asked, cached = _WORD.findall(query.casefold()), _WORD.findall(candidate.casefold())
    shortest = min(len(asked), len(cached))
    prefix = 0
    while prefix < shortest and asked[prefix] == cached[prefix]:
        prefix += 1
    suffix = 0
    while suffix < shortest - prefix and asked[-1 - suffix] == cached[-1 - suffix]:
        suffix += 1
    if prefix + suffix < TEMPLATE_MIN_WORDS or len(asked) == len(cached) == prefix + suffix:
        return None
    return (
        " ".join(asked[prefix : len(asked) - suffix]),
        " ".join(cached[prefix : len(cached) - suffix]),
    )


def _template_judge(
    parts: tuple[str, str], *, threshold: float, model: VerifierModel | None, explain: bool
) -> PairJudgement:
    """Judge the differing parts as the questions, with their own embeddings: the template's
    words would otherwise make any two requests look alike (and past the model's 256-token
    window the question is not even in the embedding)."""
    from latency.embeddings.local import embeddings_encode

    asked, cached = parts
    if not asked or not cached:
        detail = f"one text only adds to the shared template ('{(asked or cached)[:40]}')"
        return PairJudgement(Verdict(False, "template", detail), codes=("template",))
    asked_vector, cached_vector = embeddings_encode(texts=[asked, cached])
    judgement = cache_hit_judge(
        query=asked, candidate=cached, similarity=float(asked_vector @ cached_vector),
        threshold=threshold, query_embedding=asked_vector, candidate_embedding=cached_vector,
        model=model, explain=explain,
    )  # fmt: skip
    verdict = judgement.verdict
    if not verdict.ok:
        detail = f"in a shared template: {verdict.detail}"
        verdict = Verdict(False, "template", detail)
    return PairJudgement(verdict, ("template", *judgement.codes), judgement.probability,
                         judgement.leading_feature)  # fmt: skip

"""Calibrate the semantic cache's threshold on labelled pairs, with and without verification.

Run: python -m latency.cache.evaluation.calibrate PAIRS.jsonl (lines {"a", "b", "same"};
the answer for "a" is cached, then "b" is looked up). Prints a table; the last line is JSON.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from latency.cache.verify.verifier import DEFAULT_THRESHOLD, PairJudgement, cache_hit_judge

THRESHOLDS = tuple(round(0.60 + 0.02 * step, 2) for step in range(20))  # 0.60 .. 0.98
MAX_FALSE_HIT_RATE = 0.02
MIN_HIT_RATE = 0.60


@dataclass(frozen=True)
class CachePair:
    cached: str
    asked: str
    same: bool
    source: str = ""


@dataclass(frozen=True)
class CacheRates:
    threshold: float
    hit_rate: float
    false_hit_rate: float
    precision: float | None
    hits: int
    false_hits: int


def pairs_load(*, path: Path) -> list[CachePair]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [
        CachePair(
            cached=row["a"], asked=row["b"], same=bool(row["same"]),
            source=str(row.get("source", path.name)),
        )  # fmt: skip
        for row in rows
    ]


def pairs_vectors(*, pairs: Sequence[CachePair]) -> dict[str, np.ndarray]:
    """Each text's vector under the local embedding model (unit length), in batches."""
    from latency.embeddings.local import embeddings_encode

    texts = sorted({text for pair in pairs for text in (pair.cached, pair.asked)})
    vectors: dict[str, np.ndarray] = {}
    for start in range(0, len(texts), 64):
        chunk = texts[start : start + 64]
        vectors.update(zip(chunk, embeddings_encode(texts=chunk), strict=True))
    return vectors


def pairs_similarity(*, pairs: Sequence[CachePair]) -> list[float]:
    """Cosine of each pair under the local embedding model (vectors are unit length)."""
    vectors = pairs_vectors(pairs=pairs)
    return [float(vectors[pair.cached] @ vectors[pair.asked]) for pair in pairs]


def pairs_judge(*, pairs: Sequence[CachePair], explain: bool = False) -> list[PairJudgement]:
    """The verifier's judgement of each pair past the cosine gate: what it decides apart from
    the threshold, so that a sweep judges each pair once (`explain`: and what led to it)."""
    vectors = pairs_vectors(pairs=pairs)
    return [
        cache_hit_judge(
            query=pair.asked, candidate=pair.cached, threshold=-1.0,
            similarity=float(vectors[pair.asked] @ vectors[pair.cached]),
            query_embedding=vectors[pair.asked], candidate_embedding=vectors[pair.cached],
            explain=explain,
        )  # fmt: skip
        for pair in pairs
    ]


def pairs_served(
    *,
    pairs: Sequence[CachePair],
    similarities: Sequence[float],
    threshold: float,
    verified: bool,
    judgements: Sequence[PairJudgement] | None = None,
) -> list[bool]:
    """Whether each looked-up question would get the cached answer (pass `judgements` from
    `pairs_judge` to sweep thresholds without judging again)."""
    if not verified:
        return [similarity >= threshold for similarity in similarities]
    if judgements is None:
        judgements = pairs_judge(pairs=pairs)
    return [
        similarity >= threshold and judgement.verdict.ok
        for judgement, similarity in zip(judgements, similarities, strict=True)
    ]


def rates_measure(
    *, pairs: Sequence[CachePair], served: Sequence[bool], threshold: float
) -> CacheRates:
    hits = sum(ok for pair, ok in zip(pairs, served, strict=True) if pair.same)
    false_hits = sum(ok for pair, ok in zip(pairs, served, strict=True) if not pair.same)
    same_count = sum(pair.same for pair in pairs)
    return CacheRates(
        threshold=threshold,
        hit_rate=hits / max(same_count, 1),
        false_hit_rate=false_hits / max(len(pairs) - same_count, 1),
        precision=hits / (hits + false_hits) if hits + false_hits else None,
        hits=hits,
        false_hits=false_hits,
    )


def threshold_choose(*, curve: Sequence[CacheRates]) -> float:
    """The middle of the thresholds that meet both targets (false hits and hit rate).

    The middle leaves the most room on both sides for pairs unlike the calibration ones:
    the lowest such threshold would sit on the edge of serving wrong answers, the highest
    on the edge of missing paraphrases. Without such a range, the best hit rate that keeps
    false hits on target; without that, the strictest threshold.
    """
    safe = [rates for rates in curve if rates.false_hit_rate <= MAX_FALSE_HIT_RATE]
    both = sorted(rates.threshold for rates in safe if rates.hit_rate >= MIN_HIT_RATE)
    if both:
        return both[(len(both) - 1) // 2]
    if safe:
        best = max(rates.hit_rate for rates in safe)
        return min(rates.threshold for rates in safe if rates.hit_rate == best)
    return max(rates.threshold for rates in curve)


def threshold_cross_validate(
    *,
    pairs: Sequence[CachePair],
    similarities: Sequence[float],
    judgements: Sequence[PairJudgement] | None = None,
) -> tuple[CacheRates, list[float]]:
    """Leave-one-out: each pair is judged at the threshold chosen without it."""
    judgements = judgements if judgements is not None else pairs_judge(pairs=pairs)
    served_at = {
        threshold: pairs_served(
            pairs=pairs, similarities=similarities, threshold=threshold, verified=True,
            judgements=judgements,
        )
        for threshold in THRESHOLDS
    }
    predictions: list[bool] = []
    chosen: list[float] = []
    for left_out in range(len(pairs)):
        rest = [pair for i, pair in enumerate(pairs) if i != left_out]
        curve = [
            rates_measure(
                pairs=rest,
                served=[ok for i, ok in enumerate(served_at[t]) if i != left_out],
                threshold=t,
            )
            for t in THRESHOLDS
        ]
        threshold = threshold_choose(curve=curve)
        chosen.append(threshold)
        predictions.append(served_at[threshold][left_out])
    median = statistics.median(chosen)
    return rates_measure(pairs=pairs, served=predictions, threshold=median), chosen


def _rates_line(rates: CacheRates) -> str:
    precision = "  -  " if rates.precision is None else f"{rates.precision:5.1%}"
    return f"{rates.hit_rate:6.1%} {rates.false_hit_rate:7.1%} {precision:>7}"


def main(argv: Sequence[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m latency.cache.evaluation.calibrate PAIRS.jsonl", file=sys.stderr)
        return 2
    pairs = pairs_load(path=Path(argv[0]))
    similarities = pairs_similarity(pairs=pairs)
    judgements = pairs_judge(pairs=pairs)
    same_count = sum(pair.same for pair in pairs)
    print(f"{len(pairs)} pairs: {same_count} paraphrases, {len(pairs) - same_count} different")
    print(f"targets: false hits <= {MAX_FALSE_HIT_RATE:.0%}, hits >= {MIN_HIT_RATE:.0%}")
    print("threshold |  cosine alone: hit  false  prec | verified: hit  false  prec")
    verified_curve = []
    for threshold in THRESHOLDS:
        kwargs = {"pairs": pairs, "similarities": similarities, "threshold": threshold,
                  "judgements": judgements}  # fmt: skip
        cosine = rates_measure(
            pairs=pairs, served=pairs_served(**kwargs, verified=False), threshold=threshold
        )
        verified = rates_measure(
            pairs=pairs, served=pairs_served(**kwargs, verified=True), threshold=threshold
        )
        verified_curve.append(verified)
        print(f"  {threshold:.2f}    |      {_rates_line(cosine)}  |  {_rates_line(verified)}")
    recommended = threshold_choose(curve=verified_curve)
    cross_validated, chosen = threshold_cross_validate(
        pairs=pairs, similarities=similarities, judgements=judgements
    )
    print(
        f"leave-one-out: hit {cross_validated.hit_rate:.1%}, false hits "
        f"{cross_validated.false_hit_rate:.1%}; "
        f"thresholds chosen {min(chosen):.2f}-{max(chosen):.2f}"
    )
    at_default = {"pairs": pairs, "similarities": similarities, "threshold": DEFAULT_THRESHOLD,
                  "judgements": judgements}  # fmt: skip
    summary = {
        "pairs": len(pairs),
        "recommended_threshold": recommended,
        "default_threshold": DEFAULT_THRESHOLD,
        "verified": asdict(
            rates_measure(
                pairs=pairs,
                served=pairs_served(**at_default, verified=True),
                threshold=DEFAULT_THRESHOLD,
            )
        ),
        "cosine_only": asdict(
            rates_measure(
                pairs=pairs,
                served=pairs_served(**at_default, verified=False),
                threshold=DEFAULT_THRESHOLD,
            )
        ),
        "leave_one_out": asdict(cross_validated),
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

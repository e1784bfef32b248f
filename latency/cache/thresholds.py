"""Each entry's own similarity threshold, learned from verdicts on its semantic hits (vCache,
arXiv 2502.03771): the lowest similarity from which the hits it served were wrong at most δ of
the time, by an upper confidence bound, and never below the global threshold.

Until someone marks one of its hits wrong an entry has no threshold of its own: the global gate
and the verifier were calibrated for every entry, and nothing argues against them. A wrong
answer at similarity s lifts the threshold just above s; kept answers (weak positives, served
above it) bring it back down once they make an error rate of at most δ credible.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

# One-sided 95% Wilson bound: with one wrong answer among n verdicts the bound is under 2%
# from n = 222, under 5% from n = 87, under 10% from n = 42.
CONFIDENCE_Z = 1.645
# Just above a wrong answer's similarity: asked again, the same text embeds to within ~1e-6.
ABOVE = 0.001


def error_upper_bound(*, wrong: int, total: int, z: float = CONFIDENCE_Z) -> float:
    """Wilson's upper confidence bound on an error rate of `wrong` in `total`."""
    if total == 0:
        return 1.0
    rate, z2 = wrong / total, z * z
    spread = z * math.sqrt(rate * (1 - rate) / total + z2 / (4 * total * total))
    return min((rate + z2 / (2 * total) + spread) / (1 + z2 / total), 1.0)


def threshold_learn(
    *, observations: Iterable[tuple[float, bool]], error_bound: float, gate: float
) -> float | None:
    """The smallest threshold t ≥ `gate` such that the verdicts at similarity ≥ t hold no wrong
    answer, or few enough that their error's upper bound is ≤ `error_bound`; None when that is
    the gate itself. `observations` are (similarity, correct) pairs."""
    above_gate = [(s, ok) for s, ok in observations if s >= gate]
    wrongs = sorted(s for s, ok in above_gate if not ok)
    # The bound only changes where a wrong answer drops out: just above each one.
    for threshold in [gate, *(s + ABOVE for s in wrongs)]:
        held = [ok for s, ok in above_gate if s >= threshold]
        wrong = held.count(False)
        if wrong == 0 or error_upper_bound(wrong=wrong, total=len(held)) <= error_bound:
            return None if threshold == gate else round(threshold, 4)
    raise AssertionError("unreachable: above the highest wrong answer nothing is wrong")

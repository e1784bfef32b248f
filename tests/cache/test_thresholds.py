"""The per-entry threshold learned from verdicts (vCache's idea, latency.cache.thresholds)."""

from __future__ import annotations

import pytest

from latency.cache.thresholds import ABOVE, error_upper_bound, threshold_learn

GATE = 0.70


def test_no_wrong_answer_keeps_the_global_gate() -> None:
    kept = [(0.75, True), (0.9, True)]
    assert threshold_learn(observations=kept, error_bound=0.02, gate=GATE) is None
    assert threshold_learn(observations=[], error_bound=0.02, gate=GATE) is None


def test_a_wrong_answer_lifts_the_threshold_just_above_it() -> None:
    learned = threshold_learn(observations=[(0.85, False)], error_bound=0.02, gate=GATE)
    assert learned == pytest.approx(0.85 + ABOVE)
    # Two wrong answers: above the higher one, whatever was kept in between.
    seen = [(0.80, False), (0.83, True), (0.88, False), (0.95, True)]
    assert threshold_learn(observations=seen, error_bound=0.02, gate=GATE) == pytest.approx(
        0.88 + ABOVE
    )


def test_kept_answers_bring_it_back_to_the_gate_but_never_below() -> None:
    needed = next(n for n in range(1, 1000) if error_upper_bound(wrong=1, total=n) <= 0.02)
    assert needed == 222  # one wrong answer in 222 verdicts: 2% is then a credible bound
    short = [(0.85, False), *[(0.95, True)] * (needed - 2)]
    assert threshold_learn(observations=short, error_bound=0.02, gate=GATE) is not None
    enough = [*short, (0.95, True)]
    assert threshold_learn(observations=enough, error_bound=0.02, gate=GATE) is None
    # Verdicts below the gate (served when it was lower) say nothing about hits above it.
    below = [(0.60, False), (0.65, False)]
    assert threshold_learn(observations=below, error_bound=0.02, gate=GATE) is None


def test_a_looser_error_bound_learns_a_lower_threshold() -> None:
    seen = [(0.85, False), *[(0.95, True)] * 60]
    assert threshold_learn(observations=seen, error_bound=0.02, gate=GATE) == pytest.approx(
        0.85 + ABOVE
    )
    assert threshold_learn(observations=seen, error_bound=0.10, gate=GATE) is None

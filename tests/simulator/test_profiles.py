"""The latency table: each model's typical answer lands in its tier's band."""

from __future__ import annotations

import random

import pytest

from latency.simulator.profiles import (
    PROFILES,
    TIER_BANDS_MS,
    latency_plan_draw,
    region_rtt_range,
)


@pytest.mark.parametrize("model", sorted(PROFILES))
def test_a_typical_answer_lands_in_the_tier_band(model: str) -> None:
    profile = PROFILES[model]
    low, high = TIER_BANDS_MS[profile.tier]
    assert low <= profile.typical_total_ms <= high


def test_the_design_tiers_are_covered() -> None:
    tiers = {model: profile.tier for model, profile in PROFILES.items()}
    assert tiers["gpt-4o-mini"] == tiers["claude-haiku-4.5"] == tiers["llama-3.1-8b"]
    assert tiers["gpt-4o-mini"] == "ultra-fast"
    assert tiers["gpt-4o"] == tiers["claude-sonnet-4.5"] == "fast"
    assert tiers["gpt-5"] == tiers["gemini-2.5-pro"] == "standard"
    assert tiers["gpt-5-thinking"] == tiers["claude-sonnet-4.5-thinking"] == "slow"


def test_regions_map_to_round_trip_bands() -> None:
    assert region_rtt_range(region=None) == (0.0, 0.0)
    assert region_rtt_range(region="edge-us") == (20.0, 50.0)
    assert region_rtt_range(region="cloud-eu") == (150.0, 200.0)
    assert region_rtt_range(region="mars") is None


def test_plans_have_a_heavy_tail_and_repeat_with_a_seed() -> None:
    def plans(seed: int) -> list:
        rng = random.Random(seed)
        profile = PROFILES["gpt-4o"]
        return [
            latency_plan_draw(profile=profile, rtt_range=(20, 50), completion_tokens=80, rng=rng)
            for _ in range(2000)
        ]

    first = plans(7)
    assert first == plans(7)
    tail = [plan for plan in first if plan.tail_factor > 1]
    assert 0.01 < len(tail) / len(first) < 0.1
    assert all(2 <= plan.tail_factor <= 10 for plan in tail)
    assert all(20 <= plan.rtt_ms <= 50 and len(plan.itl_ms) == 79 for plan in first)
    ttfts = sorted(plan.ttft_ms for plan in first)
    assert ttfts[len(ttfts) // 2] == pytest.approx(PROFILES["gpt-4o"].ttft_median_ms, rel=0.1)

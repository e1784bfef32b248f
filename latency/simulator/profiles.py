"""Per-model latency profiles and per-region round trips for the simulator.

`PROFILES` is the table the bench and the docs read; `latency_plan_draw` turns one into the
delays of one request (drawn up front, so a seeded run replays the same delays). The endpoint
defaults (capacity, rate limits) are what `python -m latency.simulator` starts with.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

# The design's latency table: the band a typical answer's total time falls in, in ms.
TIER_BANDS_MS: dict[str, tuple[float, float]] = {
    "ultra-fast": (0.0, 500.0),
    "fast": (500.0, 1000.0),
    "standard": (1000.0, 2000.0),
    "slow": (2000.0, 5000.0),
}
TYPICAL_COMPLETION_TOKENS = 80

# Simulated network round trip added before the first byte, by region-name prefix.
REGION_RTT_MS: dict[str, tuple[float, float]] = {
    "edge": (20.0, 50.0),
    "cloud": (150.0, 200.0),
    "local": (0.0, 0.0),
}


# Concurrent requests one endpoint (a region prefix) serves before the rest wait in a FIFO
# queue. vLLM's scheduler admits at most `max_num_seqs` sequences into its running batch and
# queues the others; its documented default is 256 on most GPUs (vLLM engine arguments,
# `--max-num-seqs`), which is what one serving replica does out of the box.
ENDPOINT_CAPACITY = 256

# Per-endpoint rate limits: OpenAI's published usage tier 5 for gpt-4o is 10,000 requests and
# 30,000,000 tokens per minute (platform docs, "Rate limits" guide, usage tiers). One person
# chatting never meets them; a load test at hundreds of requests a second does.
ENDPOINT_RPM = 10_000
ENDPOINT_TPM = 30_000_000


@dataclass(frozen=True)
class LatencyProfile:
    """How fast one model answers: a lognormal TTFT with a Pareto tail, then a steady ITL.

    `ttft_median_ms` is a short prompt's TTFT; each 1k prompt tokens add `prefill_ms_per_1k`.
    """

    model: str
    tier: str
    owned_by: str
    ttft_median_ms: float
    itl_ms: float
    prefill_ms_per_1k: float
    ttft_sigma: float = 0.25
    itl_jitter: float = 0.15
    tail_probability: float = 0.04
    tail_factor_min: float = 2.0
    tail_factor_max: float = 10.0

    @property
    def typical_total_ms(self) -> float:
        return self.ttft_median_ms + TYPICAL_COMPLETION_TOKENS * self.itl_ms


def _profiles(*profiles: LatencyProfile) -> dict[str, LatencyProfile]:
    return {profile.model: profile for profile in profiles}


# Prefill rates, in ms per 1k prompt tokens. Measured anchors: NVIDIA's GH200 NVL32 runs report
# a TTFT of 472 ms for a 32,768-token prompt on Llama 3.1 70B (14 ms per 1k) and 1.6 s on
# 405B (49 ms per 1k; 7.5 s for 122,880 tokens, 61 ms per 1k) (NVIDIA technical blog, "Low
# Latency Inference Chapter 2", 2024). Prefill costs about 2 x parameters FLOPs a token
# (Kaplan et al. 2020), so a single-GPU 8B model lands near the 70B-on-32-GPUs figure. The
# closed models' sizes are unpublished: their rates follow their tier, small to frontier.
PROFILES: dict[str, LatencyProfile] = _profiles(
    LatencyProfile(
        "gpt-4o-mini", "ultra-fast", "openai", ttft_median_ms=180, itl_ms=3.0, prefill_ms_per_1k=25
    ),
    LatencyProfile(
        "claude-haiku-4.5",
        "ultra-fast",
        "anthropic",
        ttft_median_ms=200,
        itl_ms=2.5,
        prefill_ms_per_1k=25,
    ),
    LatencyProfile(
        "llama-3.1-8b", "ultra-fast", "meta", ttft_median_ms=120, itl_ms=2.0, prefill_ms_per_1k=20
    ),
    LatencyProfile(
        "gpt-4o", "fast", "openai", ttft_median_ms=350, itl_ms=5.0, prefill_ms_per_1k=40
    ),
    LatencyProfile(
        "claude-sonnet-4.5",
        "fast",
        "anthropic",
        ttft_median_ms=420,
        itl_ms=4.5,
        prefill_ms_per_1k=45,
    ),
    LatencyProfile(
        "gpt-5", "standard", "openai", ttft_median_ms=800, itl_ms=8.0, prefill_ms_per_1k=60
    ),
    LatencyProfile(
        "gemini-2.5-pro", "standard", "google", ttft_median_ms=700, itl_ms=9.0, prefill_ms_per_1k=55
    ),
    # Thinking modes spend their time before the first token, and vary more.
    LatencyProfile(
        "gpt-5-thinking",
        "slow",
        "openai",
        ttft_median_ms=2600,
        itl_ms=10.0,
        prefill_ms_per_1k=60,
        ttft_sigma=0.35,
    ),
    LatencyProfile(
        "claude-sonnet-4.5-thinking",
        "slow",
        "anthropic",
        ttft_median_ms=2300,
        itl_ms=10.0,
        prefill_ms_per_1k=60,
        ttft_sigma=0.35,
    ),
)


@dataclass(frozen=True)
class LatencyPlan:
    """The delays of one request, in unscaled milliseconds."""

    rtt_ms: float
    ttft_ms: float
    itl_ms: tuple[float, ...]
    tail_factor: float
    prefill_ms: float = 0.0

    @property
    def planned_ttft_ms(self) -> float:
        """Before the first token, not counting a queue wait (which is known only once served)."""
        return self.rtt_ms + self.prefill_ms + self.ttft_ms

    @property
    def itl_mean_ms(self) -> float:
        return sum(self.itl_ms) / len(self.itl_ms) if self.itl_ms else 0.0


def region_rtt_range(*, region: str | None) -> tuple[float, float] | None:
    """The RTT band of a region prefix; no region adds none, an unknown one gives None."""
    if not region:
        return (0.0, 0.0)
    for prefix, band in REGION_RTT_MS.items():
        if region.startswith(prefix):
            return band
    return None


def latency_plan_draw(
    *,
    profile: LatencyProfile,
    rtt_range: tuple[float, float],
    completion_tokens: int,
    rng: random.Random,
    prompt_tokens: int = 0,
    prefill: bool = False,
) -> LatencyPlan:
    """Draw one request's RTT, TTFT (with the heavy tail), prefill and inter-token gaps."""
    rtt_ms = rng.uniform(*rtt_range)
    ttft_ms = rng.lognormvariate(0.0, profile.ttft_sigma) * profile.ttft_median_ms
    tail_factor = 1.0
    if rng.random() < profile.tail_probability:
        # Pareto(alpha=1.5) scaled to start at the minimum factor, capped at the maximum.
        tail_factor = min(profile.tail_factor_max, profile.tail_factor_min * rng.paretovariate(1.5))
    itl_ms = tuple(
        max(0.0, profile.itl_ms * (1.0 + rng.uniform(-profile.itl_jitter, profile.itl_jitter)))
        for _ in range(max(0, completion_tokens - 1))
    )
    # Prefill is compute, not a draw: the same prompt always costs the same (and the tail
    # factor, which models a slow replica or a queue upstream, applies to the base TTFT only).
    prefill_ms = prompt_tokens / 1000 * profile.prefill_ms_per_1k if prefill else 0.0
    return LatencyPlan(
        rtt_ms=rtt_ms,
        ttft_ms=ttft_ms * tail_factor,
        itl_ms=itl_ms,
        tail_factor=tail_factor,
        prefill_ms=prefill_ms,
    )

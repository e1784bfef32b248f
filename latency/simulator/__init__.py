"""The OpenAI-compatible latency simulator: its own process, run `python -m latency.simulator`.

The app reaches it through the `openai` SDK like any other endpoint; `PROFILES` is its table.
"""

from __future__ import annotations

from latency.simulator.profiles import PROFILES, REGION_RTT_MS, TIER_BANDS_MS, LatencyProfile

__all__ = ["PROFILES", "REGION_RTT_MS", "TIER_BANDS_MS", "LatencyProfile"]

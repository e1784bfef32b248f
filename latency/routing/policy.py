"""How hard a request tries: the resilience policy (hedging, first-token timeout, stall cut,
deadline) built from the strategy settings and the route's budget, and what the resilient
stream records of what it did."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from latency.models import StrategySettings
from latency.routing.choice import Candidate, RoutePlan


@dataclass(frozen=True)
class ResiliencePolicy:
    hedging: bool = True
    hedge_cap: float = 0.10
    first_token_timeout_s: float = 5.0
    stall_timeout_s: float = 2.0
    deadline_s: float = 6.0  # no first token by then: give up (the budget plus the timeout)
    max_attempts: int = 6


def policy_build(*, settings: StrategySettings, plan: RoutePlan) -> ResiliencePolicy:
    """The policy from the strategy settings and the plan's budget. No request should wait past
    the budget plus the first-token timeout: the first token must come early enough for the
    primary's usual generation time to fit in that too."""
    estimate = plan.primary.estimate
    generation_s = max(0.0, estimate.total_p95_ms - estimate.ttft_p95_ms) / 1000
    limit_s = plan.budget.p95_ms / 1000 + settings.first_token_timeout_s
    return ResiliencePolicy(
        hedging=settings.hedging,
        hedge_cap=settings.hedge_cap,
        first_token_timeout_s=settings.first_token_timeout_s,
        stall_timeout_s=settings.stall_timeout_s,
        deadline_s=max(settings.first_token_timeout_s, limit_s - generation_s),
    )


@dataclass
class StreamOutcome:
    """Which attempt won, and what it took: filled in while the stream runs."""

    winner: Candidate | None = None
    attempts: int = 0
    fallbacks: int = 0
    hedged: bool = False
    hedge_won: bool = False
    hedge_denied: bool = False
    upstream_ttft_ms: float | None = None
    notes: list[str] = field(default_factory=list)  # what happened, in words, for the decision

    def trace_fields(self, *, plan: RoutePlan) -> dict[str, Any]:
        """What the RequestTrace row records about routing and resilience."""
        chosen = self.winner or plan.primary
        return {
            "model": chosen.model.name,
            "endpoint": chosen.endpoint.name,
            "region": chosen.endpoint.region,
            "decision": "; ".join([plan.decision, *self.notes]),
            "hedged": self.hedged,
            "fallbacks": self.fallbacks,
            "upstream_ttft_ms": self.upstream_ttft_ms,
        }

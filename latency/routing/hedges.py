"""The hedge cap: a budget of extra requests sent because a first token was late.

Each request earns `cap` of a hedge; a hedge spends one, and so does a fallback after a
first-token timeout (it costs the upstream the same). Fallbacks after errors never wait for it.
This is the retry budget of gRPC and Finagle, and it is per process by design: a ratio that holds
in every worker holds for their sum, so no worker needs another's count and no request pays for
a shared counter. Starting empty, a process never exceeds `cap` times its requests (+ `burst`
saved while idle, at most).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class HedgeBudget:
    burst: float = 5.0
    tokens: float = 0.0
    requests: int = 0
    hedges: int = 0
    denied: int = 0
    timeout_fallbacks: int = 0

    def request_count(self, *, cap: float) -> None:
        self.requests += 1
        self.tokens = min(self.burst, self.tokens + cap)

    def hedge_take(self, *, again: bool = False) -> bool:
        """One hedge, if the budget has it; `again` for a request asking a second time (a
        refusal is counted once per request)."""
        if self.tokens < 1.0:
            self.denied += 0 if again else 1
            return False
        self.tokens -= 1.0
        self.hedges += 1
        return True

    def timeout_fallback_spend(self) -> None:
        """A fallback after a first-token timeout is never refused, but it spends (down to a
        floor, so that a burst of timeouts does not switch hedging off for long)."""
        self.timeout_fallbacks += 1
        self.tokens = max(-self.burst, self.tokens - 1.0)

    def as_dict(self) -> dict[str, float]:
        return {
            "requests": self.requests,
            "hedges": self.hedges,
            "denied": self.denied,
            "timeout_fallbacks": self.timeout_fallbacks,
            "hedge_rate": round(self.hedges / self.requests, 4) if self.requests else 0.0,
        }


hedge_budget = HedgeBudget()  # this process's budget; the pipeline's requests share it

"""Per-endpoint rate limits in requests and tokens per minute, with OpenAI's headers.

OpenAI's limits replenish continuously rather than resetting each minute (its "Rate limits"
guide), so each limit is a bucket that refills at `limit` per minute: a "minute" lasts
60 s times the time scale, like every other delay. A request counts its prompt tokens plus
the completion it is about to produce; a refused request consumes nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class Bucket:
    limit: int
    level: float
    updated: float

    def refill(self, *, now: float, per_second: float) -> None:
        self.level = min(self.limit, self.level + (now - self.updated) * per_second)
        self.updated = now


@dataclass(frozen=True)
class RateVerdict:
    """What the limits say about one request: allowed or not, and the headers to send."""

    allowed: bool
    headers: dict[str, str]
    kind: str | None = None  # "requests" or "tokens" when refused
    limit: int = 0
    retry_after_s: float = 0.0


def duration_format(*, seconds: float) -> str:
    """OpenAI's reset format: `20ms`, `1.5s`, `6m0s`."""
    if seconds < 1:
        return f"{max(0, round(seconds * 1000))}ms"
    minutes, rest = divmod(seconds, 60)
    rest_text = f"{rest:.3f}".rstrip("0").rstrip(".")
    return f"{int(minutes)}m{rest_text}s" if minutes else f"{rest_text}s"


@dataclass
class EndpointLimits:
    """The buckets of every endpoint. Per process by nature: the simulator's own state."""

    buckets: dict[tuple[str, str], Bucket] = field(default_factory=dict)

    def _bucket(self, *, endpoint: str, kind: str, limit: int, now: float) -> Bucket:
        bucket = self.buckets.get((endpoint, kind))
        if bucket is None or bucket.limit != limit:
            # A new limit starts full, the way a raised tier applies at once.
            bucket = self.buckets[(endpoint, kind)] = Bucket(limit=limit, level=limit, updated=now)
        return bucket

    def check(
        self,
        *,
        endpoint: str,
        rpm: int,
        tpm: int,
        tokens: int,
        now: float,
        time_scale: float,
        peek: bool = False,
    ) -> RateVerdict:
        """Take one request and `tokens` from the endpoint's buckets, or refuse without taking.

        `peek` only reads the headers (for answers that never reached the model, like an
        injected 500, which still carry them as every OpenAI response does).
        """
        wanted = [("requests", rpm, 1), ("tokens", tpm, tokens)]
        active = []
        for kind, limit, cost in wanted:
            if limit <= 0:
                continue
            bucket = self._bucket(endpoint=endpoint, kind=kind, limit=limit, now=now)
            # At time scale 0 no time passes in the simulation's own terms: refill at once.
            per_second = math.inf if time_scale <= 0 else limit / (60.0 * time_scale)
            bucket.refill(now=now, per_second=per_second)
            active.append((kind, bucket, cost, per_second))
        short = [entry for entry in active if entry[1].level < entry[2]]
        refused = short[0] if short and not peek else None
        if refused is None and not peek:
            for _, bucket, cost, _ in active:
                bucket.level -= cost
        headers: dict[str, str] = {}
        for kind, bucket, _, per_second in active:
            headers[f"x-ratelimit-limit-{kind}"] = str(bucket.limit)
            headers[f"x-ratelimit-remaining-{kind}"] = str(max(0, math.floor(bucket.level)))
            reset_s = 0.0 if math.isinf(per_second) else (bucket.limit - bucket.level) / per_second
            headers[f"x-ratelimit-reset-{kind}"] = duration_format(seconds=reset_s)
        if refused is None:
            return RateVerdict(allowed=True, headers=headers)
        kind, bucket, cost, per_second = refused
        # A request larger than the whole limit can never pass: say "a full minute" then.
        shortfall = min(cost, bucket.limit) - bucket.level
        retry_after_s = max(0.0, shortfall / per_second)
        return RateVerdict(
            allowed=False,
            headers=headers,
            kind=kind,
            limit=bucket.limit,
            retry_after_s=retry_after_s,
        )

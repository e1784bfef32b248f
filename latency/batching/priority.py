"""Chat comes first: whether interactive requests are in flight, read from what every worker
shares (PostgreSQL), refreshed at most every REFRESH_S. The newest chat and search traces are
the signal: a trace row is written as each interactive request ends, so traces in the last
WINDOW_S mean a conversation is active now and its next turn is near."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from latency.models import Feature, RequestTrace

WINDOW_S = 3.0
REFRESH_S = 0.5


def chat_recent_count(*, window_s: float = WINDOW_S) -> int:
    since = timezone.now() - timedelta(seconds=window_s)
    return RequestTrace.objects.filter(
        feature__in=[Feature.CHAT, Feature.SEARCH], created_at__gte=since
    ).count()


@dataclass
class ChatPressure:
    """The runner refreshes `count` off the loop every REFRESH_S; `busy` reads it, no I/O."""

    count: int = 0
    read_at: float = 0.0

    def busy(self) -> bool:
        return self.count > 0

    def stale(self) -> bool:
        return time.monotonic() - self.read_at >= REFRESH_S

    def update(self, count: int) -> None:
        self.count, self.read_at = count, time.monotonic()

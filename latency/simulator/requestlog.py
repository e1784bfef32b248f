"""What the simulator produced, one record per chat request: a ring buffer and a JSONL file.

Benchmarks join these records to the app's traces by completion id to compute the latency the
app added on top of the upstream's planned TTFT: `planned_ttft_ms` is what the upstream itself
cost to the first token, queue wait + round trip + prefill + the profile's TTFT. Millisecond
fields are wall-clock, that is, already multiplied by `time_scale` (the queue wait is measured).
"""

from __future__ import annotations

import json
import time
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

LOG_CAPACITY = 10_000


@dataclass
class RequestRecord:
    id: str
    started_ts: float
    model: str | None
    region: str | None
    stream: bool
    fault: str | None
    time_scale: float
    planned_ttft_ms: float | None = None
    planned_total_ms: float | None = None
    rtt_ms: float | None = None
    itl_ms: float | None = None
    tail_factor: float | None = None
    prompt_tokens: int | None = None
    queue_ms: float | None = None  # waited for a slot of the endpoint (0 when one was free)
    prefill_ms: float | None = None  # the prompt's share of the TTFT
    completion_tokens: int = 0  # the answer's length, as usage reports it
    tokens_sent: int = 0  # how many of those went out before the end or a disconnect
    status: int = 200
    outcome: str = "pending"
    ts: float | None = None
    ttft_ms: float | None = None
    total_ms: float | None = None
    fields: tuple[str, ...] = ()  # the names of the body's fields (never their values)

    def first_token_mark(self) -> None:
        if self.ttft_ms is None:
            self.ttft_ms = round((time.time() - self.started_ts) * 1000, 3)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class RequestLog:
    """The last `capacity` records in memory, and every record appended to `path` if given.

    Per process by nature: the simulator is one process and this is its own output.
    """

    def __init__(self, *, path: Path | None = None, capacity: int = LOG_CAPACITY) -> None:
        self._records: deque[dict[str, Any]] = deque(maxlen=capacity)
        # A line of a few hundred bytes to a line-buffered local file: cheap enough on the loop.
        self._file: TextIO | None = (
            path.open("a", encoding="utf-8", buffering=1) if path is not None else None
        )

    def record_finish(self, *, record: RequestRecord, status: int, outcome: str) -> None:
        """Close a record once (later calls are ignored) and append it to the log."""
        if record.ts is not None:
            return
        record.ts = time.time()
        record.status = status
        record.outcome = outcome
        record.total_ms = round((record.ts - record.started_ts) * 1000, 3)
        line = record.as_dict()
        self._records.append(line)
        if self._file is not None:
            self._file.write(json.dumps(line) + "\n")

    def records_since(
        self, *, after_ts: float | None = None, completion_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Records logged after `after_ts` (by `ts`, the time each was closed), oldest first."""
        return [
            line
            for line in self._records
            if (after_ts is None or line["ts"] > after_ts)
            and (completion_id is None or line["id"] == completion_id)
        ]

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

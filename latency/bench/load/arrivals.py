"""One phase of load: streamed one-question conversations arriving open loop at a constant rate
(Poisson), alternately over the chat websocket (the browser's htmx frames) and the API (the
openai SDK, streamed), through the ablation's clients; each joined afterwards to its trace and
the simulator's plan, so that its own cost = client TTFT minus the simulator's planned TTFT."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from latency.bench.ablation.clients import Sample, Target, conversation_run
from latency.bench.ablation.join import samples_join
from latency.bench.ablation.workload import Conversation
from latency.bench.gateway.load import arrivals_open, question_unique
from latency.bench.report import percentiles
from latency.testing.serve import ServeChild

HUNG_S = 45.0  # an answer with no end by then is hung (the upstream read timeout is 20 s)
CLIENTS = ("ws", "api_stream")
STATUS_EVERY_S = 10.0
SIM_LOG_EVERY_S = 20.0  # the simulator keeps its last 10,000 records: read them as they come


@dataclass
class Arrived:
    """One arrival: when it came (wall clock) and what its client saw."""

    at: float
    question: str
    sample: Sample


@dataclass
class Phase:
    """What one phase drove: every arrival, and the simulator's records of their calls."""

    name: str
    rate: float
    seconds: float
    arrived: list[Arrived] = field(default_factory=list)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    max_in_flight: int = 0
    wall_s: float = 0.0
    started_at: float = 0.0
    load_average: list[float] = field(default_factory=list)


def rows_make(*, user: Any, count: int) -> list[int]:
    """Conversation rows made before a phase: the browser has its conversation before it opens
    the socket, and the bench must not write to the database while a fault is on."""
    from latency.models import Conversation as ConversationRow

    rows = ConversationRow.objects.bulk_create([ConversationRow(user=user) for _ in range(count)])
    return [row.id for row in rows]


def phase_rows_needed(*, rate: float, seconds: float) -> int:
    """Websocket arrivals of a phase, with room for the Poisson draw's spread."""
    return int(rate * seconds / len(CLIENTS) * 1.3) + 20


async def phase_drive(
    *, target: Target, serve: ServeChild, name: str, rate: float, seconds: float,
    rows: list[int], seed: int = 17,
) -> Phase:  # fmt: skip
    """Arrivals at `rate` a second for `seconds`; returns when the last one has ended."""
    from openai import AsyncOpenAI

    phase = Phase(name=name, rate=rate, seconds=seconds, started_at=time.time())
    api = AsyncOpenAI(base_url=f"{target.url}/v1", api_key=target.api_key, max_retries=0,
                      timeout=HUNG_S)  # fmt: skip
    in_flight = [0]

    async def one(index: int) -> None:
        client = CLIENTS[index % len(CLIENTS)]
        question = question_unique(index=index)
        row_id = rows.pop() if client == "ws" and rows else None
        conversation = Conversation(start_s=0.0, user=0, client=client, turns=(question,),
                                    row_id=row_id)  # fmt: skip
        arrived_at = time.time()
        in_flight[0] += 1
        try:
            drawn = await asyncio.wait_for(
                conversation_run(target=target, conversation=conversation, arm=name,
                                 round_index=0, api=api), HUNG_S,
            )  # fmt: skip
        except TimeoutError:
            drawn = [Sample(arm=name, round=0, client=client, turn=0, repeat=False,
                            documents=False, sent_ts=arrived_at, state="hung",
                            error=f"no end within {HUNG_S:.0f} s")]  # fmt: skip
        finally:
            in_flight[0] -= 1
        phase.arrived.extend(Arrived(at=arrived_at, question=question, sample=s) for s in drawn)

    watcher = asyncio.create_task(_watch(phase=phase, serve=serve, in_flight=in_flight))
    try:
        phase.max_in_flight, phase.wall_s = await arrivals_open(
            rate=rate, seconds=seconds, one=one, seed=seed
        )
    finally:
        watcher.cancel()
        await api.close()
    await _records_read(phase=phase, serve=serve)
    phase.load_average = [round(v, 2) for v in os.getloadavg()]
    return phase


async def _watch(*, phase: Phase, serve: ServeChild, in_flight: list[int]) -> None:
    """Progress lines, and the simulator's log read before it can overflow."""
    last_read = time.monotonic()
    while True:
        await asyncio.sleep(STATUS_EVERY_S)
        elapsed = time.time() - phase.started_at
        errors = sum(1 for a in phase.arrived if a.sample.state != "done")
        sys.stderr.write(
            f"  {phase.name}: {min(elapsed, phase.seconds):.0f}/{phase.seconds:.0f} s, "
            f"{len(phase.arrived)} ended, {errors} errors, {in_flight[0]} in flight\n"
        )
        if time.monotonic() - last_read >= SIM_LOG_EVERY_S:
            await _records_read(phase=phase, serve=serve)
            last_read = time.monotonic()


async def _records_read(*, phase: Phase, serve: ServeChild) -> None:
    path = f"/sim/log?after_ts={phase.started_at - 1}"
    records = (await asyncio.to_thread(serve.sim, path))["data"]
    phase.records.update((record["id"], record) for record in records)


def phase_join(*, phase: Phase) -> set[str]:
    """Every sample's trace and plan (`own_ms`); returns the upstream ids of hedged requests,
    whose winner started late, so that its plan is no reference for the client's wait."""
    from latency.models import RequestTrace

    samples = [a.sample for a in phase.arrived]
    samples_join(samples=samples, records=list(phase.records.values()))
    upstream = [s.upstream_id for s in samples if s.upstream_id]
    return set(RequestTrace.objects.filter(upstream_id__in=upstream, hedged=True)
               .values_list("upstream_id", flat=True))  # fmt: skip


def error_kind(sample: Sample) -> str:
    """How a failure looked to its client: a state (failed, hung) or the exception's type."""
    if sample.state == "error":
        return f"{sample.client}: {sample.error.split(':', 1)[0]}"
    return f"{sample.client}: {sample.state}"


def phase_summary(*, phase: Phase, hedged: set[str], arrived: list[Arrived] | None = None
                  ) -> dict[str, Any]:  # fmt: skip
    """Requests, errors by kind, concurrency, client TTFT and own cost (p50/p95/p99), of the
    phase or of some of its arrivals."""
    arrived = phase.arrived if arrived is None else arrived
    samples = [a.sample for a in arrived]
    done = [s for s in samples if s.state == "done"]
    joined = [s for s in done if s.own_ms is not None and s.upstream_id not in hedged]
    seconds = phase.wall_s or phase.seconds
    summary = {
        "requests": len(samples), "errors": len(samples) - len(done),
        "error_kinds": dict(Counter(error_kind(s) for s in samples if s.state != "done")),
        "hung": sum(s.state == "hung" for s in samples),
        "offered_rps": round(phase.rate, 3),
        "done_rps": round(len(done) / seconds, 3) if seconds else 0.0,
        "max_in_flight": phase.max_in_flight,
        "mean_in_flight": round(sum((s.total_ms or 0) for s in done) / 1000 / seconds, 2)
        if seconds else 0.0,
        "client_ttft_ms": percentiles([s.ttft_ms for s in done if s.ttft_ms is not None]),
        "own_ttft_ms": percentiles([s.own_ms for s in joined]),
        "left_out": {"hedged": sum(s.upstream_id in hedged for s in done),
                     "no_plan": sum(s.own_ms is None for s in done)},
        "load_average": phase.load_average,
    }  # fmt: skip
    for client in CLIENTS:
        own = [s.own_ms for s in joined if s.client == client]
        summary[f"{client}_own_ttft_ms"] = percentiles(own)
    return summary


def phase_timeline(*, phase: Phase, hedged: set[str]) -> list[list[Any]]:
    """Each arrival as [seconds after the phase began, client TTFT ms, own ms, done], in the
    order they came: the charts' points. TTFT and own are None where there were none; own is
    None for a hedged request too, as in phase_summary (its winner started a hedge delay late,
    ~300 ms, so its plan is no reference: ~3% of a soak's arrivals)."""
    rows = [[round(a.at - phase.started_at, 3), a.sample.ttft_ms,
             None if a.sample.upstream_id in hedged else a.sample.own_ms,
             a.sample.state == "done"] for a in phase.arrived]  # fmt: skip
    return sorted(rows, key=lambda row: row[0])

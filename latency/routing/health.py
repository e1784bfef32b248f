"""Endpoint health: circuit breakers shared by every worker, and light probes (`GET /models`).

A process that sees an endpoint fail several times in a row opens its breaker in PostgreSQL
(EndpointBreaker); every worker's router skips it within ~1 s. When the cooldown is over, the
next router to notice starts a probe: success closes the breaker, failure extends the cooldown.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import F
from django.utils import timezone

from latency.core.snapshot import Snapshot
from latency.models import EndpointBreaker
from latency.providers.catalog import Endpoint
from latency.providers.clients import ClientRegistry, clients

logger = logging.getLogger(__name__)

FAILURES_TO_OPEN = 4  # in a row, seen by one process: 15% random faults open it ~1 in 2000
COOLDOWN_S = 10.0
PROBE_INTERVAL_S = 30.0
PROBE_TIMEOUT_S = 2.0
RTT_SAMPLES = 5
REFRESH_S = 1.0


async def _open_load() -> dict[str, datetime]:
    rows = EndpointBreaker.objects.filter(open_until__isnull=False)
    return {row.endpoint: row.open_until async for row in rows}


_open: Snapshot[dict[str, datetime]] = Snapshot(load=_open_load, refresh_s=REFRESH_S)
# Per process by nature: this process's own run of failures per endpoint. Only the verdict it
# leads to (an open breaker) must be shared, and that is written to PostgreSQL.
_failure_runs: dict[str, int] = {}


async def breakers_open() -> dict[str, datetime]:
    """Endpoints whose breaker is open, with the end of their cooldown."""
    return await _open.get()


async def breaker_failure(*, endpoint: str, reason: str) -> bool:
    """Count a failure; the one that completes a run opens the breaker. True if it did."""
    run = _failure_runs.get(endpoint, 0) + 1
    _failure_runs[endpoint] = run
    if run < FAILURES_TO_OPEN:
        return False
    _failure_runs[endpoint] = 0
    await breaker_open(endpoint=endpoint, reason=f"{run} failures in a row, last: {reason}")
    return True


def breaker_success(*, endpoint: str) -> None:
    _failure_runs.pop(endpoint, None)


async def breaker_open(*, endpoint: str, reason: str) -> None:
    now = timezone.now()
    until = now + timedelta(seconds=COOLDOWN_S)
    updated = await EndpointBreaker.objects.filter(endpoint=endpoint).aupdate(
        opened_at=now, open_until=until, reason=reason[:200], trips=F("trips") + 1
    )
    if not updated:
        with contextlib.suppress(Exception):  # another worker created it at the same moment
            await EndpointBreaker.objects.acreate(
                endpoint=endpoint, opened_at=now, open_until=until, reason=reason[:200], trips=1
            )
    logger.warning("circuit breaker open for %s: %s", endpoint, reason)
    _open.forget()  # this process sees its own verdict at once


async def breaker_close(*, endpoint: str) -> None:
    await EndpointBreaker.objects.filter(endpoint=endpoint).aupdate(open_until=None)
    _failure_runs.pop(endpoint, None)
    _open.forget()


async def breakers_reset(*, endpoints: list[str] | None = None) -> None:
    """Close breakers (all, or these) and forget the failure runs: for tests and benchmarks."""
    rows = EndpointBreaker.objects.all()
    if endpoints is not None:
        rows = rows.filter(endpoint__in=endpoints)
    await rows.adelete()
    _failure_runs.clear()
    _open.forget()


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    rtt_ms: float | None
    at: float  # time.monotonic()


class Prober:
    """Light probes of endpoints, at most one in flight per endpoint, started without waiting.

    Per process by nature: a round trip is a property of this host's path to the endpoint.
    """

    def __init__(self) -> None:
        self.results: dict[str, ProbeResult] = {}
        self._rtts: dict[str, deque[float]] = {}
        self._tasks: dict[str, asyncio.Task[ProbeResult]] = {}

    def rtt_ms(self, endpoint: str) -> float | None:
        result = self.results.get(endpoint)
        return result.rtt_ms if result and result.ok else None

    def probes_schedule(
        self,
        *,
        endpoints: list[Endpoint],
        open_until: dict[str, datetime],
        registry: ClientRegistry = clients,
    ) -> None:
        now, wall = time.monotonic(), timezone.now()
        for endpoint in endpoints:
            result = self.results.get(endpoint.name)
            until = open_until.get(endpoint.name)
            due = result is None or now - result.at >= PROBE_INTERVAL_S
            if until is not None:
                due = until <= wall  # an open breaker is probed once its cooldown is over
            task = self._tasks.get(endpoint.name)
            # A probe begun on another event loop (a previous test's) will never finish here.
            idle = task is None or task.done() or task.get_loop() is not asyncio.get_running_loop()
            if due and idle:
                self._tasks[endpoint.name] = asyncio.create_task(
                    self.probe(endpoint=endpoint, was_open=until is not None, registry=registry),
                    context=contextvars.Context(),  # nobody's request (core/background.py)
                )

    async def probe(
        self, *, endpoint: Endpoint, was_open: bool = False, registry: ClientRegistry = clients
    ) -> ProbeResult:
        started = time.monotonic()
        samples = self._rtts.setdefault(endpoint.name, deque(maxlen=RTT_SAMPLES))
        try:
            client = registry.client_for(endpoint).with_options(timeout=PROBE_TIMEOUT_S)
            if not samples:
                await client.models.list()  # the first call pays for the connection: not an RTT
            sent = time.monotonic()
            await client.models.list()
            samples.append((time.monotonic() - sent) * 1000)
            # The smallest recent round trip, as TCP estimates it: a busy moment only adds delay.
            result = ProbeResult(ok=True, rtt_ms=min(samples), at=started)
        except Exception as error:  # any failure is a failed probe
            logger.info("probe of %s failed: %s", endpoint.name, error)
            result = ProbeResult(ok=False, rtt_ms=None, at=started)
        self.results[endpoint.name] = result
        try:
            if was_open and result.ok:
                await breaker_close(endpoint=endpoint.name)
            elif was_open:
                await breaker_open(endpoint=endpoint.name, reason="probe failed")
            elif not result.ok:
                await breaker_failure(endpoint=endpoint.name, reason="probe failed")
        except Exception:  # a probe runs on its own: nobody would see its exception
            logger.exception("could not record the probe of %s", endpoint.name)
        return result

    async def probes_wait(self) -> None:
        """Wait for the probes in flight (tests)."""
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def probes_cancel(self) -> None:
        """Cancel probes in flight (at shutdown, or between tests)."""
        tasks = [task for task in self._tasks.values() if not task.done()]
        for task in tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()


prober = Prober()


def health_forget() -> None:
    """Drop this process's copies (tests): the breakers' snapshot, failure runs, probe results."""
    _open.forget()
    _failure_runs.clear()
    prober.results.clear()
    prober._rtts.clear()

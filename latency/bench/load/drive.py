"""The load bench's child (`python -m latency.bench.load.drive`), in its own data folder and
database: for each count of web processes, `serve` started as `make run` starts it, warmed,
then the ramp; against the last count, the soak at 80% of the capacity found, and the faults
under the same load. Writes its results as JSON for run.py."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from django.db import connections

from latency.bench.ablation.clients import Target
from latency.bench.child import child_main
from latency.bench.load.arrivals import (
    Phase,
    phase_drive,
    phase_join,
    phase_rows_needed,
    phase_summary,
    phase_timeline,
    rows_make,
)
from latency.bench.load.background import background_during, works_dicts
from latency.bench.load.faults import (
    ENDPOINT_FAULTS,
    endpoint_fault,
    fault_outcome,
    postgres_fault,
    postgres_restart_fault,
    redis_fault,
    workers_fault,
)
from latency.bench.load.holdings import (
    BENCH_APPLICATION,
    HoldingsSampler,
    holdings_compare,
    holdings_snapshot,
)
from latency.bench.load.ledger import answers_kept, messages_ledger
from latency.testing.processes import Child
from latency.testing.serve import ServeChild, serve_start

DATABASE = "subsecond_bench_load"
OWN_P95_MS = 50.0  # the ramp stops once the app's own TTFT cost passes this at p95, or at errors
SOAK_SHARE = 0.8
# The warm-up runs at the capacity itself (0.8 x 1.25): the pools (PostgreSQL, Redis, upstream
# keep-alive connections, all bounded) grow to the peak in flight, which at the soak's own rate
# a longer soak reaches later by chance alone; one that grows beyond it during the soak leaks.
WARM_RATE_FACTOR = 1.25
STARTED = time.monotonic()


def say(text: str) -> None:
    """A progress line, with the time since the bench began."""
    sys.stderr.write(f"[{time.monotonic() - STARTED:6.0f} s] {text}\n")
    sys.stderr.flush()


def bench_user() -> tuple[Any, str, str]:
    """A user with a session (the websocket) and a key (the API) whose limits are the highest
    allowed: the bench measures the app, not its per-key limit."""
    from django.contrib.auth import get_user_model

    from latency.gateway.keys import api_key_create
    from latency.testing.sessions import session_key_make

    user = get_user_model().objects.create_user(f"bench-load-{uuid.uuid4().hex[:8]}")
    key = api_key_create(user=user, name="latency_bench load", unlimited=True)
    return user, session_key_make(user=user), key


def phase_run(
    *, target: Target, serve: ServeChild, name: str, rate: float, seconds: float, seed: int
) -> tuple[Phase, set[str]]:
    rows = rows_make(user=target.user, count=phase_rows_needed(rate=rate, seconds=seconds))
    phase = asyncio.run(phase_drive(target=target, serve=serve, name=name, rate=rate,
                                    seconds=seconds, rows=rows, seed=seed))  # fmt: skip
    return phase, phase_join(phase=phase)


def ramp_run(*, target: Target, serve: ServeChild, options: dict[str, Any]) -> dict[str, Any]:
    """Steps of a constant arrival rate, each `rate_factor` above the last, until a step's own
    TTFT cost passes OWN_P95_MS at p95 or it has an error: capacity is the last step held."""
    steps: list[dict[str, Any]] = []
    rate, capacity = options["rate_start"], None
    label = f"{serve.web_processes} web process{'es' * (serve.web_processes > 1)}"
    for index in range(options["max_steps"]):
        # Long enough for a p95 on enough requests: at a slow rate, longer than step_seconds.
        seconds = max(options["step_seconds"], options["step_min_requests"] / rate)
        phase, hedged = phase_run(target=target, serve=serve, name=f"ramp {rate:.2f}/s",
                                  rate=rate, seconds=seconds, seed=100 + index)  # fmt: skip
        step = phase_summary(phase=phase, hedged=hedged)
        p95 = step["own_ttft_ms"].get("p95")
        step["held"] = step["errors"] == 0 and p95 is not None and p95 <= OWN_P95_MS
        steps.append(step)
        say(
            f"ramp, {label}: {rate:.2f} req/s offered, {step['done_rps']} done, own TTFT p50 "
            f"{step['own_ttft_ms'].get('p50')} p95 {p95} ms (websocket p95 "
            f"{step['ws_own_ttft_ms'].get('p95')}, API {step['api_stream_own_ttft_ms'].get('p95')})"
            f", {step['errors']} errors {step['error_kinds'] or ''}, streams in flight "
            f"mean {step['mean_in_flight']} max {step['max_in_flight']}: "
            f"{'held' if step['held'] else 'past capacity'}"
        )  # fmt: skip
        if not step["held"]:
            break
        capacity, rate = step, rate * options["rate_factor"]
    return {"steps": steps, "capacity": capacity, "limit_reached": not steps[-1]["held"]}


async def load_with_background(
    *, target: Target, serve: ServeChild, name: str, rate: float, seconds: float,
    quarters: tuple[int, ...], options: dict[str, Any], seed: int,
) -> tuple[Phase, list[Any]]:  # fmt: skip
    """Arrivals at `rate` for `seconds`; in the given quarters of that time, documents and
    batch jobs one after another (each begun while its quarter lasts)."""
    rows = await asyncio.to_thread(rows_make, user=target.user,
                                   count=phase_rows_needed(rate=rate, seconds=seconds))
    now, quarter = time.time(), seconds / 4
    windows = [(now + q * quarter, now + (q + 1) * quarter) for q in quarters]
    background = asyncio.create_task(background_during(
        target=target, windows=windows, kilobytes=options["document_kb"],
        items=options["batch_items"], timeout_s=options["work_timeout_s"],
    ))  # fmt: skip
    phase = await phase_drive(target=target, serve=serve, name=name, rate=rate,
                              seconds=seconds, rows=rows, seed=seed)  # fmt: skip
    return phase, await background


def soak_run(
    *, target: Target, serve: ServeChild, rate: float, options: dict[str, Any]
) -> dict[str, Any]:
    """`soak_seconds` at `rate` in quarters: quiet, uploads and batch jobs, quiet, uploads and
    batch jobs. First the same work for a short while at a quarter more, untimed, so that every
    process has loaded what it loads once and its pools have grown to their working size; then
    what the app holds before and after, and chat TTFT while background work ran against the
    rest."""
    seconds = options["soak_seconds"]
    warm_rate = rate * WARM_RATE_FACTOR
    say(f"soak warm-up: {warm_rate:.2f} req/s for {options['soak_warm_s']:.0f} s with a "
              "document and a batch job")  # fmt: skip
    asyncio.run(load_with_background(
        target=target, serve=serve, name="soak warm-up", rate=warm_rate,
        seconds=options["soak_warm_s"], quarters=(0, 1, 2, 3), options=options, seed=5,
    ))  # fmt: skip
    time.sleep(options["settle_s"])
    before = holdings_snapshot(serve=serve)
    say(f"soak: {rate:.2f} req/s for {seconds:.0f} s, uploads and batch jobs in the "
              "second and fourth quarters")  # fmt: skip
    with HoldingsSampler(serve=serve, every_s=options["sample_every_s"]) as sampler:
        phase, works = asyncio.run(load_with_background(
            target=target, serve=serve, name="soak", rate=rate, seconds=seconds,
            quarters=(1, 3), options=options, seed=7,
        ))  # fmt: skip
    hedged = phase_join(phase=phase)
    time.sleep(options["settle_s"])
    after = holdings_snapshot(serve=serve)
    spans = [(w.started_at, w.ended_at or time.time()) for w in works]
    busy = [a for a in phase.arrived if any(start <= a.at <= end for start, end in spans)]
    quiet = [a for a in phase.arrived if not any(start <= a.at <= end for start, end in spans)]
    return {
        "rate": round(rate, 3), "seconds": seconds,
        "all": phase_summary(phase=phase, hedged=hedged),
        "quiet": phase_summary(phase=phase, hedged=hedged, arrived=quiet),
        "busy": phase_summary(phase=phase, hedged=hedged, arrived=busy),
        "ledger": messages_ledger(arrived=phase.arrived),
        "kept": answers_kept(user_id=target.user.pk, since_ts=phase.started_at),
        "holdings": holdings_compare(before=before, after=after),
        "background": works_dicts(works),
        "started_at": phase.started_at, "timeline": phase_timeline(phase=phase, hedged=hedged),
        "samples": sampler.rows,
    }  # fmt: skip


async def fault_phase(
    *, target: Target, serve: ServeChild, name: str, rate: float, seconds: float,
    rows: list[int], seed: int, fault: Any,
) -> tuple[Phase, tuple[float, float, dict[str, Any]]]:  # fmt: skip
    """The load, and beside it the fault: (began, ended, notes) from the fault's coroutine."""
    load = asyncio.create_task(phase_drive(target=target, serve=serve, name=name, rate=rate,
                                           seconds=seconds, rows=rows, seed=seed))  # fmt: skip
    window = await fault()
    return await load, window


def faults_run(
    *, target: Target, serve: ServeChild, rate: float, options: dict[str, Any],
    restarted: list[Child],
) -> dict[str, Any]:  # fmt: skip
    pre, down, post = options["fault_pre_s"], options["fault_down_s"], options["fault_post_s"]
    faults = {
        "workers_killed": lambda: workers_fault(
            serve=serve, target=target, pre_s=pre, kilobytes=options["document_kb"],
            items=options["batch_items"], timeout_s=options["work_timeout_s"]),
        "redis_restarted": lambda: redis_fault(serve=serve, pre_s=pre, down_s=down,
                                               restarted=restarted),
        "postgres_restarted": lambda: postgres_restart_fault(pre_s=pre),
        "postgres_unreachable": lambda: postgres_fault(pre_s=pre, down_s=down),
    }  # fmt: skip
    for name, rate_name in ENDPOINT_FAULTS.items():
        faults[name] = functools.partial(endpoint_fault, serve=serve, rate_name=rate_name,
                                         pre_s=pre, down_s=down)  # fmt: skip
    results = {}
    for index, (name, fault) in enumerate(faults.items()):
        say(f"fault under load: {name}, {rate:.2f} req/s")
        seconds = pre + down + post
        rows = rows_make(user=target.user, count=phase_rows_needed(rate=rate, seconds=seconds))

        exits_before = serve_exits(serve=serve)
        phase, (began, ended, notes) = asyncio.run(fault_phase(
            target=target, serve=serve, name=name, rate=rate, seconds=seconds, rows=rows,
            seed=300 + index, fault=fault,
        ))  # fmt: skip
        connections.close_all()  # this thread's own, cut by a restart: the pool hands a live one
        hedged = phase_join(phase=phase)
        time.sleep(options["settle_s"])
        outcome = fault_outcome(phase=phase, began=began, ended=ended, hedged=hedged)
        # The processes that exited during the fault, as serve's log tells (the killed workers
        # of the first fault among them): a database or Redis away makes none exit.
        outcome["process_exits"] = serve_exits(serve=serve)[len(exits_before):]
        results[name] = {**notes, **outcome, "rate": round(rate, 3),
                         "kept": answers_kept(user_id=target.user.pk, since_ts=phase.started_at),
                         "window_s": [round(began - phase.started_at, 2),
                                      round(ended - phase.started_at, 2)],
                         "timeline": phase_timeline(phase=phase, hedged=hedged)}  # fmt: skip
        say(f"  {name}: {outcome['errors_since']} errors of {outcome['requests_since']} "
                  f"since the fault ({outcome['saw']}), {outcome['hung']} hung, requests "
                  f"succeed again {outcome['recovery_s']} s after its end; {notes}")
    return results


def serve_exits(*, serve: ServeChild) -> list[str]:
    """serve's lines about a process of its own that exited, from its log, in order."""
    if serve.log_path is None or not serve.log_path.exists():
        return []
    text = serve.log_path.read_text(errors="replace")
    return [line for line in text.splitlines() if " exited with code " in line]


def _environ(options: dict[str, Any]) -> None:
    os.environ["PGAPPNAME"] = BENCH_APPLICATION  # this process's connections are not the app's
    if options.get("batch_lease_s"):  # --quick: a killed worker's items come back sooner
        os.environ["BATCH_LEASE_SECONDS"] = str(options["batch_lease_s"])


def main(argv: list[str]) -> int:
    return child_main(argv, measure=_measure, environ=_environ)


def _measure(options: dict[str, Any]) -> dict[str, Any]:
    from django.conf import settings

    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line a request otherwise
    work = Path(settings.DATA_DIR) / "runs" / time.strftime("%Y%m%d-%H%M%S")
    work.mkdir(parents=True, exist_ok=True)
    user, session, key = bench_user()
    result: dict[str, Any] = {"runs": [], "load_average_start": list(os.getloadavg())}
    counts = options["web_processes"]
    for index, count in enumerate(counts):
        say(f"starting serve ({count} web processes), logs in {work}")
        serve = serve_start(data_dir=Path(settings.DATA_DIR), web_processes=count,
                            log_path=work / f"serve-{count}.log", database=DATABASE)
        say(f"serve ready at {serve.url}")
        restarted: list[Child] = []
        try:
            target = Target(url=serve.url, session=session, api_key=key, user=user)
            # Untimed: the first requests of a process pay once for what later ones reuse
            # (lazy imports, the ONNX session's first runs, pools, PostgreSQL's buffers).
            phase_run(target=target, serve=serve, name="warm-up", rate=2.0,
                      seconds=options["warm_s"], seed=1)  # fmt: skip
            parts, run = options["parts"], {"web_processes": count}
            if "ramp" in parts:
                run["ramp"] = ramp_run(target=target, serve=serve, options=options)
            capacity = run.get("ramp", {}).get("capacity")
            # No capacity found (or no ramp): the soak and faults run at 80% of the first step.
            rate = SOAK_SHARE * (capacity["offered_rps"] if capacity else options["rate_start"])
            if index == len(counts) - 1 and "soak" in parts:
                run["soak"] = soak_run(target=target, serve=serve, rate=rate, options=options)
            if index == len(counts) - 1 and "faults" in parts:
                run["faults"] = faults_run(target=target, serve=serve, rate=rate,
                                           options=options, restarted=restarted)  # fmt: skip
        finally:
            serve.stop()
            for child in restarted:
                child.stop()
        result["runs"].append(run)
    result["load_average_end"] = list(os.getloadavg())
    result["work_dir"] = str(work)
    return result


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

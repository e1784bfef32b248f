"""The gateway bench's child process (`python -m latency.bench.gateway.arms`), in the bench's
own data folder and database: starts the app (drive.py), then the plan: at each concurrency,
closed loop then open loop, cache misses then hits; around each arm the serve tree's CPU, and
for one arm a py-spy profile. Writes its results as JSON for report.py."""

from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings

from latency.bench.child import child_main
from latency.bench.gateway.cpu import (
    app_cpu_ms,
    cpu_snapshot,
    postmaster_pid_read,
    profile_start,
    profile_top,
    web_pids,
)
from latency.bench.gateway.drive import DATABASE, arm_rows, load_run, seeds_cache
from latency.bench.gateway.load import ArmLoad, Endpoint, samples_summary
from latency.bench.report import percentiles
from latency.testing.serve import ServeChild, serve_start

PROFILED_ARM = (20, "closed", "miss")


def arms_all(
    *, serve: ServeChild, user_id: int, key: str, options: dict[str, Any], work: Path
) -> dict[str, Any]:
    err = sys.stderr
    endpoint = Endpoint(name="subsecond", base_url=f"{serve.url}/v1", api_key=key,
                        model=options["model"])  # fmt: skip
    levels, seconds = options["streams"], options["seconds"]
    err.write("warming up (untimed)\n")
    load_run(endpoint=endpoint, streams=2, loop="closed", seconds=min(2.0, seconds))
    seeds = seeds_cache(endpoint=endpoint, count=max(10, max(levels)))
    result: dict[str, Any] = {"web_processes": serve.web_processes, "seconds_per_arm": seconds}
    if options.get("versus"):
        # First: the overloaded arms at 100 streams can leave the app degraded (seen: its
        # database pool exhausted for minutes), and that must not count against it here.
        from latency.bench.gateway.versus import versus_run

        result["versus"] = versus_run(serve=serve, user_id=user_id, key=key, options=options,
                                      work=work)  # fmt: skip
    arms: list[dict[str, Any]] = []
    profile: dict[str, Any] = {}
    for streams in levels:
        rate = None
        for loop in ("closed", "open"):
            for cache in ("miss", "hit"):
                err.write(f"arm: {streams} streams, {loop} loop, cache {cache}, {seconds} s\n")
                spy = None
                if options["profile"] and (streams, loop, cache) == PROFILED_ARM:
                    pid = web_pids(serve_pid=serve.process.pid)[0]
                    raw = work / f"py-spy-{pid}.txt"
                    spy = profile_start(pid=pid, seconds=seconds, output=raw)
                    profile = {"pid": pid, "arm": f"{streams}-{loop}-{cache}", "raw": str(raw)}
                postmaster = postmaster_pid_read(data_dir=Path(settings.DATA_DIR))
                before = cpu_snapshot(serve_pid=serve.process.pid, postmaster_pid=postmaster)
                load = load_run(endpoint=endpoint, streams=streams, loop=loop, seconds=seconds,
                                rate=rate, seeds=seeds if cache == "hit" else None)  # fmt: skip
                after = cpu_snapshot(serve_pid=serve.process.pid, postmaster_pid=postmaster)
                if spy is not None:
                    profile.update(profile_finish(spy=spy, raw=Path(profile["raw"])))
                joined = arm_rows(load=load, serve=serve, user_id=user_id, cache=cache)
                arm = arm_summary(load=load, joined=joined, cpu=after.minus(before))
                arms.append({"name": f"{streams}-{loop}-{cache}", "streams": streams,
                             "loop": loop, "cache": cache, **arm})  # fmt: skip
                if (loop, cache) == ("closed", "miss"):
                    # Little's law: N streams of answers as long as the upstream makes them
                    # arrive at N / their mean length (the app's own time left out, so that a
                    # slow server does not lower the load it is offered).
                    mean_s = (arm["planned_total_ms"].get("mean") or 500.0) / 1000
                    rate = streams / max(mean_s, 0.01)
    return {**result, "arms": arms, "profile": profile}


def profile_finish(*, spy: Any, raw: Path) -> dict[str, Any]:
    try:
        _, stderr = spy.communicate(timeout=60)
    except Exception:  # noqa: BLE001 - a profile that fails leaves the bench's figures intact
        spy.kill()
        return {"error": "py-spy did not finish"}
    if spy.returncode or not raw.exists():
        return {"error": (stderr or b"").decode(errors="replace")[-400:]}
    return {"top": profile_top(raw_path=raw)}


def arm_summary(
    *, load: ArmLoad, joined: dict[str, Any], cpu: dict[str, float | None]
) -> dict[str, Any]:
    rows = joined["rows"]
    summary = samples_summary(load.samples, tokens=[r["completion_tokens"] for r in rows])
    requests = max(summary["requests"], 1)
    ok = [s for s in load.samples if not s.error]
    return {
        **summary,
        "rps": round(summary["ok"] / load.wall_s, 2) if load.wall_s else 0.0,
        "offered_rps": load.offered_rps,
        "max_in_flight": load.max_in_flight,
        "wall_s": round(load.wall_s, 2),
        "own_ttft_ms": percentiles([r["own_ms"] for r in rows]),
        "client_own_ttft_ms": percentiles([r["client_own_ms"] for r in rows]),
        "client_ttft_ms": percentiles([s.ttft_ms for s in ok]),
        "client_total_ms": percentiles([s.total_ms for s in ok]),
        "planned_ttft_ms": percentiles([r["planned_ttft_ms"] for r in rows]),
        "planned_total_ms": percentiles([r["planned_total_ms"] for r in rows
                                         if r["planned_total_ms"] is not None]),
        "joined": len(rows),
        "left_out": joined["left_out"],
        "cpu_ms_per_request": round(app_cpu_ms(delta=cpu) / requests, 3),
        "cpu_ms_per_request_by_role": {role: None if s is None else round(1000 * s / requests, 3)
                                       for role, s in cpu.items()},  # fmt: skip
        "measured_at": time.time(),
    }


def user_make() -> tuple[int, str]:
    from django.contrib.auth import get_user_model

    from latency.gateway.keys import api_key_create

    user = get_user_model().objects.create_user(f"bench-gw-{uuid.uuid4().hex[:8]}")
    return user.pk, api_key_create(user=user, name="latency_bench gateway", unlimited=True)


def _measure(options: dict[str, Any]) -> dict[str, Any]:
    from django.conf import settings

    work = Path(settings.DATA_DIR) / "runs" / time.strftime("%Y%m%d-%H%M%S")
    work.mkdir(parents=True, exist_ok=True)
    sys.stderr.write(f"starting serve ({options['web_processes']} web processes), logs in {work}\n")
    serve = serve_start(data_dir=Path(settings.DATA_DIR), web_processes=options["web_processes"],
                        log_path=work / "serve.log", database=DATABASE)  # fmt: skip
    try:
        user_id, key = user_make()
        return arms_all(serve=serve, user_id=user_id, key=key, options=options, work=work)
    finally:
        serve.stop()


def main(argv: list[str]) -> int:
    return child_main(argv, measure=_measure)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

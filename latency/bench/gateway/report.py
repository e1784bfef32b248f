"""`latency_bench gateway`: runs the bench's child (drive.py) in its own data folder and
database, then prints its tables and computes the targets of issue #17 from what it measured."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, TextIO

from django.conf import settings

from latency.bench.child import child_run
from latency.bench.gateway.drive import DATABASE
from latency.bench.report import Target, table_print, targets_print

QUICK = {"seconds": 2.0, "versus_seconds": 12.0}


def gateway_run(
    *, out: TextIO, streams: str = "1,20,100", seconds: float | None = None, quick: bool = False,
    profile: bool = False, versus: str = "", web_processes: int = 0, model: str = "gpt-4o-mini",
    versus_seconds: float | None = None, versus_rounds: int = 4, **_: Any,
) -> tuple[dict[str, Any], dict[str, Target]]:  # fmt: skip
    options = {
        "streams": sorted({int(s) for s in str(streams).split(",") if s.strip()}),
        "seconds": seconds or (QUICK["seconds"] if quick else 20.0),
        "versus_seconds": versus_seconds or (QUICK["versus_seconds"] if quick else 40.0),
        "versus_rounds": versus_rounds, "profile": profile, "versus": versus, "model": model,
        "web_processes": web_processes or os.cpu_count() or 1,
    }  # fmt: skip
    # Its own data folder: its own PostgreSQL server and embedded Redis, their CPU its alone.
    measured = child_run(module="latency.bench.gateway.arms",
                         arguments=["--options", json.dumps(options)], database=DATABASE,
                         data_dir=Path(settings.DATA_DIR) / "bench" / "gateway")  # fmt: skip
    results = {"options": options, **measured}
    results["load_average"] = [round(v, 2) for v in os.getloadavg()]
    _tables_print(out, results)
    targets = gateway_targets(results=results)
    targets_print(out, targets)
    return results, targets


def _arm(results: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((a for a in results["arms"] if a["name"] == name), None)


def gateway_targets(*, results: dict[str, Any]) -> dict[str, Target]:
    """The app's own TTFT cost on model answers (misses), the worse of closed and open loop."""
    targets: dict[str, Target] = {}

    def worst(streams: int, stat: str) -> float | None:
        arms = [_arm(results, f"{streams}-{loop}-miss") for loop in ("closed", "open")]
        values = [a["own_ttft_ms"].get(stat) for a in arms if a]
        return max(values) if values and None not in values else None

    for streams, stat, goal in ((20, "p50", 5), (20, "p95", 15), (100, "p95", 50),
                                (1, "p50", 12.8), (1, "p95", 19.2)):  # fmt: skip
        value = worst(streams, stat)
        if value is not None:
            targets[f"api_own_ttft_{stat}_{streams}_streams_ms"] = Target(value, goal, "ms")
    targets["errors"] = Target(sum(a["errors"] for a in results["arms"]), 0, "requests")
    # CPU at 20 streams; a run with fewer levels (a smoke test) takes its largest below that.
    closed = [a for a in results["arms"] if a["loop"] == "closed" and a["cache"] == "miss"]
    reference = max((a for a in closed if a["streams"] <= 20), key=lambda a: a["streams"],
                    default=None)  # fmt: skip
    if reference:
        targets["cpu_ms_per_streamed_request"] = Target(
            reference["cpu_ms_per_request"], 10,
            f"ms ({reference['streams']} streams, mean {reference['mean_completion_tokens']} "
            "tokens)",
        )  # fmt: skip
    for level in results.get("versus", {}).get("levels", []):
        added = level["added_ttft_ms"]
        if "subsecond" not in added or "versus" not in added:
            continue
        for stat in ("p50", "p95"):
            ours, theirs = added["subsecond"][stat], added["versus"][stat]
            targets[f"versus_added_ttft_{stat}_{level['streams']}_streams_ms"] = Target(
                ours, round(theirs / 2, 3), "ms (half of the other gateway's)"
            )
    return targets


def _t(stats: dict[str, Any]) -> list[Any]:
    return [stats.get("p50", "-"), stats.get("p95", "-"), stats.get("p99", "-")]


def _tables_print(out: TextIO, results: dict[str, Any]) -> None:
    table_print(
        out, f"API streams through the openai SDK ({results['web_processes']} web processes, "
        f"{results['seconds_per_arm']} s an arm; own = trace TTFT - simulator's planned TTFT, "
        "client own = client TTFT - planned; a hit's planned is 0), ms",
        ["arm", "req", "err", "req/s", "own p50", "p95", "p99", "client own p50", "p95", "p99",
         "client TTFT p50", "p95", "p99", "CPU ms/req", "PG ms/req", "tokens", "left out"],
        [[a["name"], a["requests"], a["errors"], a["rps"], *_t(a["own_ttft_ms"]),
          *_t(a["client_own_ttft_ms"]), *_t(a["client_ttft_ms"]), a["cpu_ms_per_request"],
          a["cpu_ms_per_request_by_role"].get("postgres"), a["mean_completion_tokens"],
          sum(a["left_out"].values())] for a in results["arms"]],
    )  # fmt: skip
    table_print(
        out, "CPU ms per request by process role (app = web + redis + other; simulator and "
        "PostgreSQL outside it), and open-loop load",
        ["arm", "web", "redis", "other", "postgres", "simulator", "offered/s", "max in flight"],
        [[a["name"], *(a["cpu_ms_per_request_by_role"].get(r) for r in
                       ("web", "redis", "other", "postgres", "simulator")),
          a["offered_rps"] or "-", a["max_in_flight"]] for a in results["arms"]],
    )  # fmt: skip
    versus = results.get("versus")
    if versus:
        table_print(
            out, f"Added TTFT against the simulator direct ({versus['target']}; interleaved, "
            f"{versus['rounds']} rounds): client TTFT p50/p95 and their difference to direct, ms",
            ["streams", "gateway", "req", "err", "TTFT p50", "p95", "added p50", "added p95",
             "client - planned p50", "p95"],
            [[level["streams"], name, g["requests"], g["errors"], g["client_ttft_ms"].get("p50"),
              g["client_ttft_ms"].get("p95"), level["added_ttft_ms"].get(name, {}).get("p50", "-"),
              level["added_ttft_ms"].get(name, {}).get("p95", "-"),
              g["client_minus_planned_ms"].get("p50", "-"),
              g["client_minus_planned_ms"].get("p95", "-")]
             for level in versus["levels"] for name, g in level["gateways"].items()],
        )  # fmt: skip
    profile = results.get("profile") or {}
    if profile.get("top"):
        table_print(
            out, f"py-spy: web process {profile['pid']} during arm {profile['arm']}, top "
            "functions by own time", ["function", "samples", "own %"],
            [[p["function"], p["samples"], p["own_pct"]] for p in profile["top"]],
        )  # fmt: skip
    elif profile:
        out.write(f"\npy-spy profile failed: {profile.get('error')}\n")

"""The load bench's tables and targets, from the child's results."""

from __future__ import annotations

from typing import Any, TextIO

from latency.bench.report import Target, table_print

# Absolute, not a share: a web process's RSS is mostly the embedding model and torch (hundreds
# of MB), behind which a share of 10% would hide a leak of tens of MB.
RSS_GROWTH_MB = 50.0
BUSY_VS_QUIET = 1.10


def _p(stats: dict[str, Any], stat: str) -> Any:
    return stats.get(stat, "-")


def _run_with(results: dict[str, Any], part: str) -> dict[str, Any] | None:
    return next((run for run in results["runs"] if part in run), None)


def tables_print(out: TextIO, results: dict[str, Any]) -> None:
    ramps = [run for run in results["runs"] if "ramp" in run]
    for run in ramps:
        table_print(
            out, f"Ramp against {run['web_processes']} web process(es): Poisson arrivals at a "
            f"constant rate, {results['options']['step_seconds']:.0f} s a step, half websocket "
            "half API stream; own = client TTFT - simulator's planned TTFT, ms",
            ["offered/s", "done/s", "streams mean", "max", "own p50", "p95", "p99", "ws p95",
             "api p95", "TTFT p50", "p95", "errors", "load avg", "held"],
            [[s["offered_rps"], s["done_rps"], s["mean_in_flight"], s["max_in_flight"],
              _p(s["own_ttft_ms"], "p50"), _p(s["own_ttft_ms"], "p95"),
              _p(s["own_ttft_ms"], "p99"), _p(s["ws_own_ttft_ms"], "p95"),
              _p(s["api_stream_own_ttft_ms"], "p95"), _p(s["client_ttft_ms"], "p50"),
              _p(s["client_ttft_ms"], "p95"), s["errors"], s["load_average"][0], s["held"]]
             for s in run["ramp"]["steps"]],
        )  # fmt: skip
    if ramps:
        table_print(
            out, "Capacity (the last step held: own TTFT p95 <= 50 ms and no errors)",
            ["web processes", "requests/s", "streams mean", "max", "own p95", "limit reached"],
            [[run["web_processes"], *_capacity_row(run)] for run in ramps],
        )  # fmt: skip
    run = _run_with(results, "soak")
    if run is not None:
        _soak_print(out, run)
    run = _run_with(results, "faults")
    if run is not None:
        _faults_print(out, run)


def _soak_print(out: TextIO, run: dict[str, Any]) -> None:
    soak = run["soak"]
    table_print(
        out, f"Soak: {soak['rate']} req/s for {soak['seconds']:.0f} s against "
        f"{run['web_processes']} web processes; busy = arrived while a document was being "
        "ingested or a batch job ran, ms",
        ["arrivals", "requests", "errors", "TTFT p50", "p95", "p99", "own p50", "p95", "p99"],
        [[name, s["requests"], s["errors"], _p(s["client_ttft_ms"], "p50"),
          _p(s["client_ttft_ms"], "p95"), _p(s["client_ttft_ms"], "p99"),
          _p(s["own_ttft_ms"], "p50"), _p(s["own_ttft_ms"], "p95"), _p(s["own_ttft_ms"], "p99")]
         for name, s in (("all", soak["all"]), ("quiet", soak["quiet"]), ("busy", soak["busy"]))],
    )  # fmt: skip
    works = soak["background"]
    for kind in ("document", "batch"):
        done = [w for w in works if w["kind"] == kind]
        spans = [round(w["ended_at"] - w["started_at"], 1) for w in done if w["ended_at"]]
        out.write(f"{kind}s during the soak: {len(done)} ({[w['outcome'] for w in done]}), "
                  f"seconds each {spans}\n")  # fmt: skip
    ledger, kept = soak["ledger"], soak["kept"]
    out.write(f"websocket answers done {ledger['answers_done']}: lost {ledger['lost']}, "
              f"duplicated {ledger['duplicated']}; answers by state {kept['by_state']}\n")
    holdings = soak["holdings"]
    table_print(
        out, f"What the app holds, idle before and after the soak "
        f"({holdings['seconds_between']:.0f} s apart)",
        ["process", "pid", "RSS before MB", "after", "growth", "open files before", "after",
         "in pools", "outside", "sockets changed (peer: after - before)"],
        [[p["name"], p["pid"], p["rss_before_mb"], p["rss_after_mb"], p["rss_growth_mb"],
          p["fds_before"], p["fds_after"], f"{p['fds_growth_pooled']:+d}",
          f"{p['fds_growth_outside_pools']:+d}",
          ", ".join(f"{k} {v:+d}" for k, v in p.get("peers_grown", {}).items()) or "-"]
         for p in holdings["processes"]],
    )  # fmt: skip
    rows = holdings["processes"]
    grown = sum(p["fds_after"] - p["fds_before"] for p in rows)
    out.write(f"open files, after - before: {grown:+d} in all, "
              f"{sum(p['fds_growth_pooled'] for p in rows):+d} of them "
              "connections in pools (to PostgreSQL, Redis and the upstream, and those servers' "
              "ends)\n")  # fmt: skip
    out.write(f"PostgreSQL connections of the app: before {holdings['postgres_before']}, after "
              f"{holdings['postgres_after']}; event-loop tasks per web process "
              f"{holdings['tasks']}\n")  # fmt: skip


def _faults_print(out: TextIO, run: dict[str, Any]) -> None:
    table_print(
        out, f"Faults under load ({run['faults']['postgres_unreachable']['rate']} req/s): what "
        "clients saw from the fault on, and when requests succeeded again after it ended",
        ["fault", "before", "err", "since", "err", "hung", "saw", "recovery s",
         "left streaming", "detail"],
        [[name, f["requests_before"], f["errors_before"], f["requests_since"], f["errors_since"],
          f["hung"], f["saw"] or "-", f["recovery_s"], f["kept"]["left_streaming"],
          _fault_detail(f)] for name, f in run["faults"].items()],
    )  # fmt: skip
    for name, fault in run["faults"].items():
        if fault["examples"]:
            out.write(f"{name}: {fault['examples']}\n")


def _capacity_row(run: dict[str, Any]) -> list[Any]:
    capacity = run["ramp"]["capacity"]
    if capacity is None:
        return ["none (the first step failed)", "-", "-", "-", run["ramp"]["limit_reached"]]
    return [capacity["offered_rps"], capacity["mean_in_flight"], capacity["max_in_flight"],
            _p(capacity["own_ttft_ms"], "p95"), run["ramp"]["limit_reached"]]  # fmt: skip


def _fault_detail(fault: dict[str, Any]) -> str:
    if "skipped" in fault:
        return fault["skipped"]
    if "killed" in fault:
        document, batch = fault.get("document", {}), fault.get("batch", {})
        return (f"back after {fault['workers_back_after_s']} s; document {document.get('outcome')}"
                f" {document.get('ended_after_kill_s')} s after the kill, duplicate chunks "
                f"{document.get('duplicate_chunks')}; batch {batch.get('outcome')} "
                f"{batch.get('ended_after_kill_s')} s after, answered twice "
                f"{batch.get('answered_twice')}")  # fmt: skip
    if "restart_s" in fault:
        return f"pg_ctl restart -m fast took {fault['restart_s']} s"
    cut = f", {fault['connections_cut']} connections cut" if "connections_cut" in fault else ""
    return f"down {fault.get('down_s')} s{cut}"


def load_targets(*, results: dict[str, Any]) -> dict[str, Target]:
    options, targets = results["options"], {}
    for run in (run for run in results["runs"] if "ramp" in run):
        capacity = run["ramp"]["capacity"]
        targets[f"capacity_rps_{run['web_processes']}_web_processes"] = Target(
            capacity["offered_rps"] if capacity else 0.0, options["rate_start"],
            "requests/s held (own TTFT p95 <= 50 ms, no errors; goal: the first step)",
            higher_is_better=True,
        )  # fmt: skip
    run = _run_with(results, "soak")
    if run is not None:
        targets.update(_soak_targets(run["soak"]))
    run = _run_with(results, "faults")
    if run is not None:
        faults = run["faults"].values()
        targets["fault_hung_streams"] = Target(sum(f["hung"] for f in faults), 0, "requests")
        targets["fault_answers_left_streaming"] = Target(
            sum(f["kept"]["left_streaming"] for f in faults), 0, "answers")
    return targets


def _soak_targets(soak: dict[str, Any]) -> dict[str, Target]:
    holdings = soak["holdings"]
    growth = max((p["rss_growth_mb"] for p in holdings["processes"]), default=0.0)
    # A pool's connections are bounded by what its process needed at once, not by time: an idle
    # moment finds them one up or down (holdings.POOLED_PEERS). The leak check counts the rest;
    # the pooled ones are reported beside it, and PostgreSQL's own count is a target.
    outside = sum(p["fds_growth_outside_pools"] for p in holdings["processes"])
    targets = {
        "soak_errors": Target(soak["all"]["errors"], 0, "requests"),
        "soak_lost_messages": Target(soak["ledger"]["lost"], 0, "answers"),
        "soak_duplicated_messages": Target(soak["ledger"]["duplicated"], 0, "answers"),
        "soak_rss_growth_mb": Target(growth, RSS_GROWTH_MB, "MB (largest of any app process)"),
        "soak_postgres_connections_growth": Target(
            holdings["postgres_after"]["total"] - holdings["postgres_before"]["total"], 0,
            "connections (idle, after - before)"),
        "soak_open_files_growth_outside_pools": Target(
            outside, 0, "file descriptors (all app processes; pooled connections apart)"),
    }  # fmt: skip
    quiet, busy = soak["quiet"]["client_ttft_ms"], soak["busy"]["client_ttft_ms"]
    if quiet.get("p95") and busy.get("p95"):
        targets["soak_ttft_p95_busy_vs_quiet"] = Target(
            busy["p95"] / quiet["p95"], BUSY_VS_QUIET,
            "x (client TTFT p95 with uploads and batch running / without)",
        )  # fmt: skip
    return targets

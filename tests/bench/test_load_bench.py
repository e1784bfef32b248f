"""`latency_bench load --quick` end to end: `serve` with two web processes in the bench's own
data folder, a short ramp, a short soak with an upload and a batch job, and the three faults
under load. Its JSON line has every part and computed targets; what no load may change holds:
nothing lost or saved twice, no stream left hanging, work killed with its worker finished."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from latency.testing.processes import ROOT

pytestmark = pytest.mark.timeout(900)

TARGETS = {
    "capacity_rps_2_web_processes", "soak_errors", "soak_lost_messages",
    "soak_duplicated_messages", "soak_rss_growth_mb", "soak_postgres_connections_growth",
    "soak_open_files_growth_outside_pools", "fault_hung_streams", "fault_answers_left_streaming",
}  # fmt: skip
FAULTS = {"workers_killed", "redis_restarted", "postgres_restarted", "postgres_unreachable",
          "endpoints_429", "endpoints_500", "endpoints_timeout", "endpoints_stall",
          "endpoints_malformed", "endpoints_reset"}  # fmt: skip


def test_load_quick_reports_capacity_soak_and_faults(tmp_path) -> None:  # noqa: ANN001
    command = [sys.executable, "manage.py", "latency_bench", "load", "--quick",
               "--out-dir", str(tmp_path)]  # fmt: skip
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=880)
    assert run.returncode == 0, run.stderr[-3000:]
    line = json.loads(run.stdout.strip().splitlines()[-1])
    assert line["scenario"] == "load"
    (result,) = line["results"]["runs"]
    assert result["web_processes"] == 2 and result["ramp"]["steps"]
    for step in result["ramp"]["steps"]:
        assert step["requests"] >= 1 and isinstance(step["held"], bool)
    soak = result["soak"]
    assert soak["all"]["requests"] >= 5 and soak["busy"]["requests"] >= 1
    assert {w["kind"] for w in soak["background"]} == {"document", "batch"}
    assert soak["ledger"]["answers_done"] >= 1
    assert soak["ledger"]["lost"] == 0 and soak["ledger"]["duplicated"] == 0
    holdings = soak["holdings"]["processes"]
    assert {p["name"] for p in holdings} >= {"web", "worker", "batch"}
    # Sockets are named by the server at their other end, so that a leak shows where it goes and
    # a pool's step up or down is told apart from it: a web process holds connections to the
    # embedded PostgreSQL and Redis (unix sockets) and the Redis server holds their other ends.
    web = [p["peers_after"] for p in holdings if p["name"] == "web"]
    assert all(peers.get("unix:postgres", 0) >= 1 for peers in web), web
    assert all(peers.get("unix:redis", 0) >= 1 for peers in web), web
    (redis,) = [p for p in holdings if p["name"] == "redis"]
    assert redis["peers_after"].get("unix:accepted", 0) >= 2, redis
    for p in holdings:
        growth = p["fds_after"] - p["fds_before"]
        assert p["fds_growth_pooled"] + p["fds_growth_outside_pools"] == growth, p
    assert set(result["faults"]) == FAULTS
    for name, fault in result["faults"].items():
        assert fault["requests_since"] >= 1, name
        assert fault["hung"] == 0, f"{name}: a stream hung instead of failing: {fault}"
        assert fault["kept"]["left_streaming"] == 0, f"{name}: an answer left streaming"
    for name in ("redis_restarted", "postgres_restarted", "postgres_unreachable"):  # waited out
        assert result["faults"][name]["process_exits"] == [], name
    killed = result["faults"]["workers_killed"]
    assert killed["workers_back_after_s"] >= 0, "serve did not start the killed workers again"
    assert killed["document"]["outcome"] == "ready" and killed["document"]["duplicate_chunks"] == 0
    assert killed["batch"]["outcome"] == "completed" and killed["batch"]["answered_twice"] == 0
    # The charts: every arrival of the soak and of each fault on its timeline, the processes'
    # memory sampled through the soak, and BENCHMARKS.md's section showing them.
    assert len(soak["timeline"]) == soak["all"]["requests"]
    first = soak["samples"][0]["processes"]
    assert len(soak["samples"]) >= 2 and any(name.startswith("web:") for name in first)
    for fault in result["faults"].values():
        assert len(fault["timeline"]) == fault["requests_before"] + fault["requests_since"]
    markdown = (tmp_path / "BENCHMARKS.md").read_text()
    assert "## Load: capacity" in markdown and "soak_errors" in markdown
    for chart in ("load_soak_ttft", "load_soak_memory", "load_faults"):
        assert (tmp_path / "docs" / "bench" / f"{chart}.png").stat().st_size > 10_000, chart
        assert f"docs/bench/{chart}.png" in markdown, chart
    assert set(line["targets"]) >= TARGETS
    for name, target in line["targets"].items():
        assert isinstance(target["met"], bool), name
        higher = name.startswith("capacity_")
        met = target["value"] >= target["target"] if higher else target["value"] <= target["target"]
        assert target["met"] is met, name

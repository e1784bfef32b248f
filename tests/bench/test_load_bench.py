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
    "soak_open_files_growth", "fault_hung_streams", "fault_answers_left_streaming",
}  # fmt: skip
FAULTS = {"workers_killed", "redis_restarted", "postgres_unreachable"}


def test_load_quick_reports_capacity_soak_and_faults() -> None:
    command = [sys.executable, "manage.py", "latency_bench", "load", "--quick"]
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
    assert {p["name"] for p in soak["holdings"]["processes"]} >= {"web", "worker", "batch"}
    assert set(result["faults"]) == FAULTS
    for name, fault in result["faults"].items():
        assert fault["requests_since"] >= 1, name
        assert fault["hung"] == 0, f"{name}: a stream hung instead of failing: {fault}"
        assert fault["kept"]["left_streaming"] == 0, f"{name}: an answer left streaming"
    for name in ("redis_restarted", "postgres_unreachable"):  # the workers wait it out
        assert result["faults"][name]["process_exits"] == [], name
    killed = result["faults"]["workers_killed"]
    assert killed["workers_back_after_s"] >= 0, "serve did not start the killed workers again"
    assert killed["document"]["outcome"] == "ready" and killed["document"]["duplicate_chunks"] == 0
    assert killed["batch"]["outcome"] == "completed" and killed["batch"]["answered_twice"] == 0
    assert set(line["targets"]) >= TARGETS
    for name, target in line["targets"].items():
        assert isinstance(target["met"], bool), name
        higher = name.startswith("capacity_")
        met = target["value"] >= target["target"] if higher else target["value"] <= target["target"]
        assert target["met"] is met, name

"""`latency_bench gateway --quick`, tiny: its one JSON line names every arm with its figures,
and every target carries a value and a computed `met`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from latency.testing.processes import ROOT

pytestmark = pytest.mark.timeout(900)

ARMS = [
    f"{streams}-{loop}-{cache}"
    for streams in (1, 2, 4)
    for loop in ("closed", "open")
    for cache in ("miss", "hit")
]
FIGURES = ("own_ttft_ms", "client_own_ttft_ms", "client_ttft_ms")


def test_gateway_quick_reports_every_arm_and_computed_targets() -> None:
    # Tiny numbers: 100 streams on a busy 2-core machine take minutes, and the shape of the
    # report is what this checks; the 20- and 100-stream targets then have no arm to come from.
    command = [sys.executable, "manage.py", "latency_bench", "gateway", "--quick",
               "--streams", "1,2,4", "--seconds", "0.5", "--web-processes", "1"]  # fmt: skip
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=880)
    assert run.returncode == 0, run.stderr[-3000:]
    line = json.loads(run.stdout.strip().splitlines()[-1])
    assert line["scenario"] == "gateway"
    arms = {arm["name"]: arm for arm in line["results"]["arms"]}
    assert sorted(arms) == sorted(ARMS)
    for name, arm in arms.items():
        assert arm["requests"] >= 1, name
        assert isinstance(arm["errors"], int)
        assert arm["rps"] >= 0 and arm["cpu_ms_per_request"] >= 0
        for figure in FIGURES:
            assert {"n"} <= set(arm[figure]), (name, figure)
        # A hedged miss is found by its trace but left out of the own-cost figures (its winner
        # started later than its plan); an arm of half a second may have only that one request.
        found = arm["joined"] + arm["left_out"].get("hedged", 0)
        assert found >= 1, f"{name}: no request found its trace: {arm['left_out']}"
    for cache in ("miss", "hit"):
        joined = sum(arm["joined"] for name, arm in arms.items() if name.endswith(cache))
        assert joined >= 1, f"no {cache} request joined to its trace and plan"
    targets = line["targets"]
    assert {"errors", "cpu_ms_per_streamed_request"} <= set(targets)
    # The 1-stream own-TTFT targets come from the worse of its closed and open miss arms: a
    # target is reported exactly when both arms measured that figure (in half a second an arm
    # may hold only one request, and a hedged one has no own-cost figure).
    for stat in ("p50", "p95"):
        measured = all(stat in arms[f"1-{loop}-miss"]["own_ttft_ms"] for loop in ("closed", "open"))
        assert (f"api_own_ttft_{stat}_1_streams_ms" in targets) is measured, stat
    for name, target in targets.items():
        assert isinstance(target["met"], bool)
        assert isinstance(target["value"], int | float)
        met = target["value"] <= target["target"]
        assert target["met"] is met, name

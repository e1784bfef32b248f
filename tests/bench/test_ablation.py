"""`latency_bench ablation --quick` end to end with tiny numbers: real simulator, daphnes and
documents worker in the bench's own database; the JSON line, BENCHMARKS.md and the charts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARMS = ("baseline", "semantic_cache", "streaming", "fast_model", "edge", "compression", "defaults")
TARGETS = (
    "baseline_p95_ms", "semantic_cache_p95_ms", "streaming_ttft_p95_ms", "fast_model_p95_ms",
    "edge_p95_ms", "combined_p95_ms", "combined_ttft_p50_ms", "p95_reduction_vs_baseline",
)  # fmt: skip
PNGS = ("ablation_distribution.png", "ablation_p95_ttft.png", "ablation_own_share.png")


# Most of the time is two daphnes loading the embedding model (1-3 min on a busy 2-core box).
@pytest.mark.timeout(900)
def test_ablation_quick_writes_every_arm_target_and_chart(tmp_path: Path) -> None:
    command = [
        sys.executable, "manage.py", "latency_bench", "ablation", "--quick", "--users", "3",
        "--arm-seconds", "4", "--rate", "0.3", "--sweep", "1,2", "--sweep-seconds", "3",
        "--out-dir", str(tmp_path),
    ]  # fmt: skip
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=880)
    assert run.returncode == 0, run.stderr[-3000:]
    line = json.loads(run.stdout.strip().splitlines()[-1])
    assert line["scenario"] == "ablation"
    assert set(line["results"]["arms"]) == set(ARMS)
    assert sum(arm["requests"] for arm in line["results"]["arms"].values()) > 0
    assert set(line["targets"]) == set(TARGETS)
    for target in line["targets"].values():
        assert isinstance(target["met"], bool)
        assert target["met"] == (
            target["value"] >= target["target"] if target["unit"] == "fraction"
            else target["value"] <= target["target"]
        )  # fmt: skip
    markdown = (tmp_path / "BENCHMARKS.md").read_text()
    assert "<!-- section:ablation -->" in markdown and "<!-- /section:ablation -->" in markdown
    assert "1 baseline" in markdown and "7 everything (defaults)" in markdown
    for name in PNGS:
        assert (tmp_path / "docs" / "bench" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"docs/bench/{name}" in markdown

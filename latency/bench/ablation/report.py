"""The ablation's figures: per arm, as the client saw it, beside the seed article's; the
targets with `met` computed; the table for the terminal and for BENCHMARKS.md."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from latency.bench.report import Target, percentiles

SEED_COMBINED_P95_MS = 600.0
SEED_COMBINED_TTFT_MS = 200.0
SEED_REDUCTION = 0.81
HEADER = (
    "arm", "n", "errors", "hit rate", "total p50", "p95", "p99", "TTFT p50", "p95", "p99",
    "own p50", "own p95", "own n", "queue p95", "upstream", "p95 vs base", "seed",
)  # fmt: skip


def arm_summary(*, samples: list[dict[str, Any]], upstream: int | None) -> dict[str, Any]:
    done = [s for s in samples if s["state"] == "done"]
    own = [s["own_ms"] for s in done if s["own_ms"] is not None]
    queue = [s["queue_ms"] for s in done if s.get("queue_ms") is not None]
    prompt = [s["prompt_tokens"] for s in done if s.get("prompt_tokens") is not None]
    return {
        "requests": len(samples),
        "errors": len(samples) - len(done),
        "hit_rate": round(sum(s["cache"] == "hit" for s in done) / len(done), 3) if done else None,
        "total_ms": percentiles([s["total_ms"] for s in done]),
        "ttft_ms": percentiles([s["ttft_ms"] for s in done]),
        "own_ms": percentiles(own),
        "queue_ms": percentiles(queue) if queue else "n/a",
        "prompt_tokens_mean": round(sum(prompt) / len(prompt), 1) if prompt else "n/a",
        "upstream_requests": upstream,
        "models": dict(sorted(_counts(s["model"] for s in done).items())),
        "clients": dict(sorted(_counts(s["client"] for s in samples).items())),
        "error_kinds": dict(_counts(s["error"][:80] or s["state"] for s in samples
                                    if s["state"] != "done")),  # fmt: skip
    }


def _counts(values: Any) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for value in values:
        counts[value] += 1
    return dict(counts)


def arms_summarise(*, result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    by_arm: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for sample in result["samples"]:
        by_arm[sample["arm"]].append(sample)
    summaries = {
        arm["key"]: arm_summary(samples=by_arm[arm["key"]],
                                upstream=result["upstream_requests"].get(arm["key"], 0))
        for arm in result["arms"]
    }  # fmt: skip
    base_p95 = summaries[result["arms"][0]["key"]]["total_ms"].get("p95")
    for summary in summaries.values():
        p95 = summary["total_ms"].get("p95")
        summary["p95_reduction"] = round(1 - p95 / base_p95, 4) if p95 and base_p95 else None
    return summaries


def sweep_summarise(*, result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    by_users: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for sample in result["sweep"]:
        by_users[sample["arm"].removeprefix("sweep_")].append(sample)
    return {users: arm_summary(samples=s, upstream=None) for users, s in by_users.items()}


def _seed_text(arm: dict[str, Any]) -> str:
    parts = []
    if arm["seed_p95_ms"]:
        parts.append(f"P95 {arm['seed_p95_ms']:.0f}")
    if arm["seed_ttft_ms"]:
        parts.append(f"TTFT {arm['seed_ttft_ms']:.0f}")
    return ", ".join(parts) or "-"


def table_rows(*, result: dict[str, Any], summaries: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for arm in result["arms"]:
        s = summaries[arm["key"]]
        total, ttft, own = s["total_ms"], s["ttft_ms"], s["own_ms"]
        queue = s["queue_ms"] if isinstance(s["queue_ms"], str) else s["queue_ms"].get("p95")
        reduction = s["p95_reduction"]
        rows.append([
            arm["label"], s["requests"], s["errors"], s["hit_rate"], total.get("p50", "-"),
            total.get("p95", "-"), total.get("p99", "-"), ttft.get("p50", "-"),
            ttft.get("p95", "-"), ttft.get("p99", "-"), own.get("p50", "-"), own.get("p95", "-"),
            own.get("n", 0), queue, s["upstream_requests"],
            f"{-100 * reduction:+.0f}%" if reduction is not None else "-", _seed_text(arm),
        ])  # fmt: skip
    return rows


def targets_compute(
    *, result: dict[str, Any], summaries: dict[str, Any]
) -> dict[str, Target]:
    """Every arm at or under the seed's figure for it (P95 of the total; TTFT P95 for the
    streaming arm, whose seed figure is a TTFT); the combined arm's P95 and TTFT P50; the
    P95 reduction against the baseline. A missing measurement counts as not met (1e9 ms)."""
    missing = 1e9
    targets: dict[str, Target] = {}
    for arm in result["arms"]:
        s = summaries[arm["key"]]
        if arm["seed_p95_ms"] and arm["key"] != result["arms"][-1]["key"]:
            value = s["total_ms"].get("p95", missing)
            targets[f"{arm['key']}_p95_ms"] = Target(value, arm["seed_p95_ms"], "ms")
        elif arm["seed_ttft_ms"] and arm["key"] != result["arms"][-1]["key"]:
            value = s["ttft_ms"].get("p95", missing)
            targets[f"{arm['key']}_ttft_p95_ms"] = Target(value, arm["seed_ttft_ms"], "ms")
    combined = summaries[result["arms"][-1]["key"]]
    targets["combined_p95_ms"] = Target(
        combined["total_ms"].get("p95", missing), SEED_COMBINED_P95_MS, "ms"
    )
    targets["combined_ttft_p50_ms"] = Target(
        combined["ttft_ms"].get("p50", missing), SEED_COMBINED_TTFT_MS, "ms"
    )
    reduction = combined["p95_reduction"]
    targets["p95_reduction_vs_baseline"] = Target(
        reduction if reduction is not None else -1.0, SEED_REDUCTION, "fraction", True
    )
    return targets

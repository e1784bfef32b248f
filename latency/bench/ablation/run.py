"""`latency_bench ablation`: the seed article's strategies switched on one by one, measured at
the client under open-loop load, beside the article's figures; table, charts, BENCHMARKS.md."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, TextIO

from latency.bench.ablation.charts import (
    distribution_chart_write,
    own_share_chart_write,
    p95_chart_write,
)
from latency.bench.ablation.report import (
    HEADER,
    arms_summarise,
    sweep_summarise,
    table_rows,
    targets_compute,
)
from latency.bench.benchmarks_md import (
    bench_command,
    benchmarks_section_write,
    charts_markdown,
    markdown_table,
    targets_markdown,
)
from latency.bench.child import child_run
from latency.bench.report import Target, cpu_model, machine_info, table_print, targets_print
from latency.testing.processes import ROOT

DATABASE = "subsecond_bench_ablation"
# Full: about 300 requests an arm (P99 on >= 100 samples), of which about 40% repeat an
# earlier question of their segment (`workload_cacheable_share`), in under 20 minutes here.
FULL = {"rounds": 3, "arm_seconds": 36.0, "sweep_seconds": 25.0}
QUICK = {"rounds": 1, "arm_seconds": 8.0, "sweep_seconds": 6.0}
SWEEP_HEADER = ("users", "n", "errors", "hit rate", "TTFT p50", "p95", "own p50", "own p95",
                "own n", "total p95")  # fmt: skip


def ablation_run(
    *, out: TextIO, users: int = 20, seed: int = 1, quick: bool = False, out_dir: str = "",
    rounds: int | None = None, arm_seconds: float | None = None, rate: float = 0.1,
    sweep: str = "1,5,20", sweep_seconds: float | None = None, **_: Any,
) -> tuple[dict[str, Any], dict[str, Target]]:  # fmt: skip
    plan = {**(QUICK if quick else FULL)}
    plan.update({k: v for k, v in (("rounds", rounds), ("arm_seconds", arm_seconds),
                                   ("sweep_seconds", sweep_seconds)) if v})  # fmt: skip
    started, load_before = time.perf_counter(), os.getloadavg()
    arguments = [
        "--users", str(users), "--seed", str(seed), "--rounds", str(plan["rounds"]),
        "--arm-seconds", str(plan["arm_seconds"]), "--rate", str(rate), "--sweep", sweep,
        "--sweep-seconds", str(plan["sweep_seconds"]),
    ]  # fmt: skip
    result = child_run(module="latency.bench.ablation.drive", arguments=arguments,
                       database=DATABASE)  # fmt: skip
    summaries, sweep_summary = arms_summarise(result=result), sweep_summarise(result=result)
    rows = table_rows(result=result, summaries=summaries)
    sweep_rows = [
        [u, s["requests"], s["errors"], s["hit_rate"], s["ttft_ms"].get("p50", "-"),
         s["ttft_ms"].get("p95", "-"), s["own_ms"].get("p50", "-"), s["own_ms"].get("p95", "-"),
         s["own_ms"].get("n", 0), s["total_ms"].get("p95", "-")]
        for u, s in sorted(sweep_summary.items(), key=lambda item: int(item[0]))
    ]  # fmt: skip
    title = (f"Ablation at {users} users ({'quick run' if quick else 'full run'}, "
             f"{plan['rounds']} round(s) x {plan['arm_seconds']:.0f} s an arm), ms at the client")
    table_print(out, title, HEADER, rows)
    table_print(out, "App's own share of TTFT against concurrency (default arm, closed loop), ms",
                SWEEP_HEADER, sweep_rows)  # fmt: skip
    targets = targets_compute(result=result, summaries=summaries)
    targets_print(out, targets)
    machine = {**machine_info(), "cpu_model": cpu_model(),
               "load_average_before": [round(v, 2) for v in load_before],
               "load_average_after": [round(v, 2) for v in os.getloadavg()]}  # fmt: skip
    results = {
        "quick": quick, "users": users, "seed": seed, **plan, "rate_per_user": rate,
        "arms": summaries, "sweep": sweep_summary, "realism": result["realism"],
        "standard_model": result["standard_model"], "catalog": result["catalog"],
        "cloud_catalog": result["cloud_catalog"], "cacheable_share": result["cacheable_share"],
        "documents_ready": result["documents_ready"], "machine": machine,
        "simulator_has_queue_ms": "queue_ms" in result["simulator_fields"],
        "work_dir": result["work_dir"],  # logs, and every sample in result.json
        "elapsed_s": 0.0,
        "samples_min_per_arm": min(s["requests"] for s in summaries.values()),
    }  # fmt: skip
    root = Path(out_dir) if out_dir else ROOT
    charts = _charts_write(root=root, result=result, summaries=summaries, sweep=sweep_summary)
    results["elapsed_s"] = round(time.perf_counter() - started, 1)
    markdown = _markdown(results=results, rows=rows, sweep_rows=sweep_rows, targets=targets,
                         charts=charts, root=root, title=title)  # fmt: skip
    results["benchmarks_md"] = str(benchmarks_section_write(
        name="ablation", markdown=markdown, path=root / "BENCHMARKS.md"))  # fmt: skip
    results["charts"] = [str(path) for path in charts]
    out.write(f"BENCHMARKS.md: {results['benchmarks_md']}\n")
    return results, targets


def _charts_write(*, root: Path, result: dict[str, Any], summaries: dict[str, Any],
                  sweep: dict[str, Any]) -> list[Path]:  # fmt: skip
    folder = root / "docs" / "bench"
    return [
        distribution_chart_write(path=folder / "ablation_distribution.png", result=result,
                                 title="Latency at the client, per arm"),
        p95_chart_write(path=folder / "ablation_p95_ttft.png", result=result,
                        summaries=summaries, title="P95 and TTFT by arm, beside the seed"),
        own_share_chart_write(path=folder / "ablation_own_share.png", sweep=sweep,
                              title="The app's own share of TTFT against concurrency"),
    ]  # fmt: skip


def _markdown(*, results: dict[str, Any], rows: list[list[Any]], sweep_rows: list[list[Any]],
              targets: dict[str, Target], charts: list[Path], root: Path, title: str) -> str:
    from latency.bench.ablation.method import METHOD

    machine = results["machine"]
    command = bench_command(scenario="ablation")
    return "\n\n".join([
        "## Ablation: the seed article's strategies one by one",
        f"**{'Quick run (`--quick`): too few samples for stable tails' if results['quick'] else 'Full run'}.** "  # noqa: E501
        f"Machine: {machine['cpus']} cores, {machine['cpu_model']}, load average "
        f"{machine['load_average_before']} before and {machine['load_average_after']} after "
        f"(a shared machine). Command: `{command}`. Took {results['elapsed_s']} s.",
        METHOD.format(**{**results, "realism": _pairs(results["realism"])},
                      cloud=_pairs(results["cloud_catalog"])),  # fmt: skip
        f"### {title}", markdown_table(header=HEADER, rows=rows),
        "### The app's own share of TTFT against concurrency (default arm)",
        markdown_table(header=SWEEP_HEADER, rows=sweep_rows),
        "### Targets", targets_markdown(targets=targets),
        "### Charts", charts_markdown(charts=charts, root=root),
    ])  # fmt: skip


def _pairs(values: dict[str, Any]) -> str:
    return ", ".join(
        f"{key}: {', '.join(map(str, v)) or 'none' if isinstance(v, list) else v}"
        for key, v in values.items()
    )

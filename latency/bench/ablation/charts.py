"""The ablation's charts as PNG files: latency distribution per arm, P95 and TTFT by arm
beside the seed article's figures, and the app's own share of TTFT against concurrency."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from latency.bench.plots import figure_save, pyplot


def distribution_chart_write(
    *, path: Path, result: dict[str, Any], title: str
) -> Path:
    plt = pyplot()
    arms = result["arms"]
    totals = [[s["total_ms"] for s in result["samples"]
               if s["arm"] == arm["key"] and s["state"] == "done"] or [0.0] for arm in arms]
    ttfts = [[s["ttft_ms"] for s in result["samples"]
              if s["arm"] == arm["key"] and s["state"] == "done"] or [0.0] for arm in arms]
    figure, axis = plt.subplots(figsize=(11, 5))
    positions = range(len(arms))
    for offset, data, colour, name in ((-0.18, totals, "#1f77b4", "total"),
                                       (0.18, ttfts, "#ff7f0e", "TTFT")):
        parts = axis.boxplot(data, positions=[p + offset for p in positions], widths=0.32,
                             whis=(1, 99), showfliers=False, patch_artist=True)
        for box in parts["boxes"]:
            box.set_facecolor(colour)
            box.set_alpha(0.6)
        axis.plot([], [], color=colour, linewidth=8, alpha=0.6, label=name)
    axis.set_xticks(list(positions), [a["label"] for a in arms], rotation=20, ha="right")
    axis.set_yscale("log")
    axis.set_ylabel("ms at the client (box: quartiles; whiskers: P1-P99)")
    axis.set_title(title)
    axis.legend()
    axis.grid(axis="y", alpha=0.3)
    return figure_save(figure, plt, path)


def p95_chart_write(*, path: Path, result: dict[str, Any], summaries: dict[str, Any],
                    title: str) -> Path:  # fmt: skip
    plt = pyplot()
    arms = result["arms"]
    p95 = [summaries[a["key"]]["total_ms"].get("p95", 0) for a in arms]
    ttft50 = [summaries[a["key"]]["ttft_ms"].get("p50", 0) for a in arms]
    ttft95 = [summaries[a["key"]]["ttft_ms"].get("p95", 0) for a in arms]
    figure, axis = plt.subplots(figsize=(11, 5))
    x = list(range(len(arms)))
    axis.bar([i - 0.27 for i in x], p95, width=0.27, label="total P95", color="#1f77b4")
    axis.bar(x, ttft95, width=0.27, label="TTFT P95", color="#ff7f0e")
    axis.bar([i + 0.27 for i in x], ttft50, width=0.27, label="TTFT P50", color="#2ca02c")
    for i, arm in enumerate(arms):
        if arm["seed_p95_ms"]:
            axis.plot([i - 0.4, i - 0.13], [arm["seed_p95_ms"]] * 2, color="black", linewidth=2)
        if arm["seed_ttft_ms"]:
            axis.plot([i - 0.13, i + 0.4], [arm["seed_ttft_ms"]] * 2, color="black",
                      linewidth=2, linestyle="--")  # fmt: skip
    axis.plot([], [], color="black", linewidth=2, label="seed article P95")
    axis.plot([], [], color="black", linewidth=2, linestyle="--", label="seed article TTFT")
    axis.set_xticks(x, [a["label"] for a in arms], rotation=20, ha="right")
    axis.set_ylabel("ms at the client")
    axis.set_title(title)
    axis.legend()
    axis.grid(axis="y", alpha=0.3)
    return figure_save(figure, plt, path)


def own_share_chart_write(*, path: Path, sweep: dict[str, Any], title: str) -> Path:
    plt = pyplot()
    users = sorted(sweep, key=int)
    figure, axis = plt.subplots(figsize=(7, 4.5))
    for key, style, name in (("p50", "-o", "own share P50"), ("p95", "-s", "own share P95")):
        axis.plot([int(u) for u in users], [sweep[u]["own_ms"].get(key, 0) for u in users],
                  style, label=name)  # fmt: skip
    axis.plot([int(u) for u in users], [sweep[u]["ttft_ms"].get("p50", 0) for u in users],
              ":^", label="client TTFT P50")  # fmt: skip
    axis.set_xlabel("concurrent users (closed loop, default settings)")
    axis.set_ylabel("ms")
    axis.set_xticks([int(u) for u in users])
    axis.set_title(title)
    axis.legend()
    axis.grid(alpha=0.3)
    return figure_save(figure, plt, path)

"""The load bench's charts as PNG files: chat TTFT through the soak with the spans of background
work shaded, each process's memory and open files through the soak, and what clients saw
second by second around each fault."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from latency.bench.plots import figure_save, pyplot

WINDOW_S = 10.0  # the soak's percentiles are taken over windows of this many seconds
BUSY_COLOUR, FAULT_COLOUR = "#ffbf00", "#d62728"


def _windows(rows: list[list[Any]], column: int, seconds: float) -> tuple[list[float], ...]:
    """Window centres and p50 / p95 of a timeline column over the done arrivals of each."""
    centres, p50, p95 = [], [], []
    for start in np.arange(0.0, seconds, WINDOW_S):
        values = [row[column] for row in rows
                  if start <= row[0] < start + WINDOW_S and row[3] and row[column] is not None]
        if values:
            centres.append(start + WINDOW_S / 2)
            p50.append(float(np.percentile(values, 50)))
            p95.append(float(np.percentile(values, 95)))
    return centres, p50, p95


def soak_chart_write(*, path: Path, soak: dict[str, Any], title: str) -> Path:
    plt = pyplot()
    rows, began = soak["timeline"], soak["started_at"]
    figure, axis = plt.subplots(figsize=(11, 4.8))
    spans = [(w["started_at"] - began, (w["ended_at"] or w["started_at"]) - began)
             for w in soak["background"]]  # fmt: skip
    for index, (start, end) in enumerate(spans):
        axis.axvspan(start, end, color=BUSY_COLOUR, alpha=0.12, linewidth=0,
                     label="a document or batch job running" if index == 0 else None)  # fmt: skip
    done = [row for row in rows if row[3] and row[1] is not None]
    axis.scatter([row[0] for row in done], [row[1] for row in done], s=2, color="#999999",
                 alpha=0.35, label="one answer's client TTFT")  # fmt: skip
    for column, colour, name in ((1, "#1f77b4", "client TTFT"), (2, "#2ca02c", "app's own")):
        centres, p50, p95 = _windows(rows, column, soak["seconds"])
        axis.plot(centres, p95, color=colour, linewidth=1.6, label=f"{name} p95 ({WINDOW_S:.0f} s)")
        axis.plot(centres, p50, color=colour, linewidth=1, linestyle="--",
                  label=f"{name} p50")  # fmt: skip
    failed = [row[0] for row in rows if not row[3]]
    if failed:
        axis.scatter(failed, [1.0] * len(failed), marker="x", color=FAULT_COLOUR, s=14,
                     label="failed")  # fmt: skip
    axis.set_yscale("log")
    axis.set_xlabel("seconds into the soak")
    axis.set_ylabel("ms")
    axis.set_title(title)
    axis.legend(fontsize=8, loc="upper right", ncol=2)
    axis.grid(alpha=0.3)
    return figure_save(figure, plt, path)


def memory_chart_write(*, path: Path, soak: dict[str, Any], title: str) -> Path:
    plt = pyplot()
    samples, began = soak["samples"], soak["started_at"]
    figure, (memory, files) = plt.subplots(1, 2, figsize=(11, 4.2))
    names = sorted({name for sample in samples for name in sample["processes"]})
    for name in names:
        points = [(sample["at"] - began, *sample["processes"][name]) for sample in samples
                  if name in sample["processes"]]  # fmt: skip
        seconds = [point[0] for point in points]
        memory.plot(seconds, [point[1] for point in points], linewidth=1.2, label=name)
        files.plot(seconds, [point[2] for point in points], linewidth=1.2, label=name)
    memory.set_ylabel("resident memory, MB")
    files.set_ylabel("open file descriptors")
    for axis in (memory, files):
        axis.set_xlabel("seconds into the soak")
        axis.grid(alpha=0.3)
    memory.legend(fontsize=7, ncol=2)
    figure.suptitle(title)
    return figure_save(figure, plt, path)


def faults_chart_write(*, path: Path, faults: dict[str, Any], title: str) -> Path:
    plt = pyplot()
    shown = {name: fault for name, fault in faults.items() if fault.get("timeline")}
    columns = min(max(len(shown), 1), 5)
    rows = -(-max(len(shown), 1) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(2.8 * columns + 1, 3.2 * rows),
                                squeeze=False)  # fmt: skip
    for axis in axes.flat[len(shown):]:
        axis.set_visible(False)
    for axis, (name, fault) in zip(axes.flat, shown.items(), strict=False):
        rows = fault["timeline"]
        edges = np.arange(0.0, max(row[0] for row in rows) + 2.0, 1.0)
        ok = np.histogram([row[0] for row in rows if row[3]], bins=edges)[0]
        failed = np.histogram([row[0] for row in rows if not row[3]], bins=edges)[0]
        axis.bar(edges[:-1], ok, width=1.0, align="edge", color="#2ca02c", label="answered")
        axis.bar(edges[:-1], failed, width=1.0, align="edge", bottom=ok, color=FAULT_COLOUR,
                 label="failed (a clear error)")  # fmt: skip
        start, end = fault["window_s"]
        axis.axvspan(start, max(end, start + 0.3), color=FAULT_COLOUR, alpha=0.15, linewidth=0,
                     label="fault")  # fmt: skip
        axis.set_title(name.replace("_", " "), fontsize=10)
        axis.set_xlabel("seconds (by arrival)")
        axis.grid(axis="y", alpha=0.3)
    for row in axes:
        row[0].set_ylabel("requests arriving each second")
    axes[0][0].legend(fontsize=7)
    figure.suptitle(title)
    return figure_save(figure, plt, path)

"""What every benchmark prints: progress, a readable table, and one last line of JSON."""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np


@dataclass(frozen=True)
class Target:
    """A target an issue names; `met` is computed from the measurement, never written by hand."""

    value: float
    target: float
    unit: str
    higher_is_better: bool = False

    def as_dict(self) -> dict[str, Any]:
        met = self.value >= self.target if self.higher_is_better else self.value <= self.target
        return {
            "value": round(self.value, 4),
            "target": self.target,
            "unit": self.unit,
            "met": bool(met),
        }


def percentiles(values: Sequence[float]) -> dict[str, float]:
    array = np.asarray(values, dtype=float)
    if array.size == 0:
        return {"n": 0}
    p50, p95, p99 = np.percentile(array, [50, 95, 99])
    return {
        "n": int(array.size),
        "p50": round(float(p50), 3),
        "p95": round(float(p95), 3),
        "p99": round(float(p99), 3),
        "mean": round(float(array.mean()), 3),
    }


def machine_info() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "processor": platform.machine(),
    }


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def progress(out: TextIO, done: int, total: int, label: str = "") -> None:
    width = 30
    filled = int(width * done / max(total, 1))
    out.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {label}   ")
    if done >= total:
        out.write("\n")
    out.flush()


def table_print(
    out: TextIO, title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    cells = [list(map(str, header))] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    out.write(f"\n{title}\n")
    for index, row in enumerate(cells):
        out.write("  ".join(value.rjust(widths[i]) for i, value in enumerate(row)) + "\n")
        if index == 0:
            out.write("  ".join("-" * w for w in widths) + "\n")


def targets_print(out: TextIO, targets: dict[str, Target]) -> None:
    """The targets as a table: value, goal, unit and whether it was met."""
    table_print(
        out, "Targets", ["target", "value", "goal", "unit", "met"],
        [[name, t.value, t.target, t.unit, t.as_dict()["met"]] for name, t in targets.items()],
    )  # fmt: skip


def histogram_print(out: TextIO, title: str, values: Sequence[float], bins: int = 12) -> None:
    """A terminal histogram: the shape of a distribution at a glance."""
    if not values:
        return
    counts, edges = np.histogram(np.asarray(values, dtype=float), bins=bins)
    peak = max(int(counts.max()), 1)
    out.write(f"\n{title}\n")
    for count, low, high in zip(counts, edges[:-1], edges[1:], strict=True):
        bar = "█" * int(round(40 * count / peak))
        out.write(f"{low:9.1f} – {high:9.1f} | {bar} {count}\n")


def result_emit(
    out: TextIO, *, scenario: str, results: dict[str, Any], targets: dict[str, Target]
) -> dict[str, Any]:
    line = {
        "scenario": scenario,
        "machine": machine_info(),
        "results": results,
        "targets": {name: target.as_dict() for name, target in targets.items()},
    }
    out.write(json.dumps(line) + "\n")
    out.flush()
    return line


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)

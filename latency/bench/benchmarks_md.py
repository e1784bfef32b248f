"""BENCHMARKS.md, written by the benchmarks from their runs: each scenario owns one section
between markers and replaces only that, so scenarios do not overwrite each other."""

from __future__ import annotations

import re
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

PREAMBLE = (
    "# Benchmarks\n\nWritten by `python manage.py latency_bench SCENARIO` from its own run; "
    "never edited by hand. Each section is one scenario's latest run.\n"
)


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- section:{name} -->", f"<!-- /section:{name} -->"


def benchmarks_section_write(*, name: str, markdown: str, path: Path) -> Path:
    """Put `markdown` between the section's markers in `path`, replacing what was there;
    a new section goes at the end, a new file starts with the preamble."""
    start, end = _markers(name)
    text = path.read_text() if path.exists() else PREAMBLE
    block = f"{start}\n{markdown.strip()}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def markdown_table(*, header: tuple[str, ...] | list[str], rows: list[list[Any]]) -> str:
    def cell(value: Any) -> str:
        return f"{value:.1f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def bench_command(*, scenario: str) -> str:
    """The command line that ran this bench (or the plain one, when a test or a child ran it)."""
    if "latency_bench" in " ".join(sys.argv):
        return shlex.join(["python", *sys.argv])
    return f"python manage.py latency_bench {scenario}"


def targets_markdown(*, targets: dict[str, Any], value: Callable[[Any], Any] = lambda v: v) -> str:
    """The targets (latency.bench.report.Target) as a table: value, goal, unit, met."""
    rows = [[name, value(t.value), t.target, t.unit, t.as_dict()["met"]]
            for name, t in targets.items()]  # fmt: skip
    return markdown_table(header=["target", "value", "goal", "unit", "met"], rows=rows)


def charts_markdown(*, charts: list[Path], root: Path) -> str:
    """The charts as images, by their path from `root` (BENCHMARKS.md's folder)."""
    return "\n\n".join(f"![{p.stem}]({p.relative_to(root).as_posix()})" for p in charts)

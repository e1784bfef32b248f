"""Lookup latency against table size, drawn twice: bars in the terminal and a log-log SVG file."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TextIO

# (method label, colour, {rows: p50 ms}, {rows} that were extrapolated)
Series = tuple[str, str, dict[int, float], set[int]]
WIDTH, HEIGHT, MARGIN = 640, 400, 60


def chart_print(out: TextIO, *, title: str, series: list[Series]) -> None:
    """One bar per method and size, on a log scale from 0.1 ms (a bar's length ~ log of ms)."""
    top = max((ms for _, _, points, _ in series for ms in points.values()), default=1.0)
    scale = 40 / max(math.log10(top / 0.1), 1e-9)
    out.write(f"\n{title}\n")
    for rows in sorted({rows for _, _, points, _ in series for rows in points}):
        for label, _, points, extrapolated in series:
            if rows in points:
                ms = points[rows]
                bar = "█" * max(1, round(scale * math.log10(max(ms, 0.1) / 0.1)))
                note = " (extrapolated)" if rows in extrapolated else ""
                out.write(f"{rows:>9,} {label:>13} | {bar} {ms:,.1f} ms{note}\n")


def chart_svg_write(path: Path, *, title: str, series: list[Series]) -> Path:
    points = [(rows, ms) for _, _, values, _ in series for rows, ms in values.items()]
    x_low, x_high = _decades(min(p[0] for p in points), max(p[0] for p in points))
    y_low, y_high = _decades(min(p[1] for p in points), max(p[1] for p in points))

    def xy(rows: float, ms: float) -> tuple[float, float]:
        x = MARGIN + (WIDTH - 2 * MARGIN) * (math.log10(rows) - x_low) / (x_high - x_low)
        y = HEIGHT - MARGIN - (HEIGHT - 2 * MARGIN) * (math.log10(ms) - y_low) / (y_high - y_low)
        return round(x, 1), round(y, 1)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        'font-family="sans-serif" font-size="11">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{WIDTH / 2}" y="20" text-anchor="middle" font-size="13">{title}</text>',
    ]
    for exponent in range(x_low, x_high + 1):
        x, _ = xy(10**exponent, 10**y_low)
        parts.append(
            f'<line x1="{x}" y1="{MARGIN}" x2="{x}" y2="{HEIGHT - MARGIN}" stroke="#ddd"/>'
        )
        parts.append(f'<text x="{x}" y="{HEIGHT - MARGIN + 15}" text-anchor="middle">'
                     f"{10**exponent:,} rows</text>")  # fmt: skip
    for exponent in range(y_low, y_high + 1):
        _, y = xy(10**x_low, 10**exponent)
        parts.append(f'<line x1="{MARGIN}" y1="{y}" x2="{WIDTH - MARGIN}" y2="{y}" stroke="#ddd"/>')
        label = f"{10**exponent:,}" if exponent >= 0 else f"{10.0**exponent:g}"
        parts.append(f'<text x="{MARGIN - 5}" y="{y + 4}" text-anchor="end">{label} ms</text>')
    for index, (label, colour, values, extrapolated) in enumerate(series):
        ordered = sorted(values.items())
        line = " ".join(f"{x},{y}" for x, y in (xy(r, ms) for r, ms in ordered))
        parts.append(f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for rows, ms in ordered:
            x, y = xy(rows, ms)
            fill = "white" if rows in extrapolated else colour
            parts.append(f'<circle cx="{x}" cy="{y}" r="4" fill="{fill}" stroke="{colour}"/>')
        legend_y = MARGIN + 16 * index
        parts.append(f'<text x="{MARGIN + 10}" y="{legend_y}" fill="{colour}">{label}</text>')
    parts.append(f'<text x="{MARGIN + 10}" y="{MARGIN + 16 * len(series)}" fill="#666">'
                 "hollow points: extrapolated (p50)</text></svg>")  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts))
    return path


def _decades(low: float, high: float) -> tuple[int, int]:
    return math.floor(math.log10(low)), max(
        math.ceil(math.log10(high)), math.floor(math.log10(low)) + 1
    )

"""The dashboard's pictures as inline SVG drawn on the server (no chart library to ship): a
latency histogram (hits stacked on model answers), percentiles over time, hit rate over time."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from latency.dashboard.stats import HistogramBar, SeriesPoint

WIDTH, HEIGHT = 560, 180
LEFT, RIGHT, TOP, BOTTOM = 48, 8, 10, 24
HIT_COLOR, MODEL_COLOR = "#3aa56b", "#2f6fed"
Line = tuple[str, Callable[[SeriesPoint], float | None], str, str]  # label, value, colour, dash
LATENCY_LINES: list[Line] = [
    ("P50", lambda p: p.total_p[0], "#2f6fed", ""),
    ("P95", lambda p: p.total_p[1], "#e08a00", ""),
    ("P99", lambda p: p.total_p[2], "#c0392b", ""),
    ("TTFT P50", lambda p: p.ttft_p[0], "#2f6fed", "4 3"),
    ("TTFT P95", lambda p: p.ttft_p[1], "#e08a00", "4 3"),
]


def _milliseconds(value: float) -> str:
    return f"{value / 1000:.1f} s" if value >= 1000 else f"{value:.0f} ms"


def _frame(title: str, body: str, legend: Sequence[tuple[str, str, str]] = ()) -> SafeString:
    keys = "".join(
        f'<g transform="translate({LEFT + 96 * i},{HEIGHT + 14})"><line x1="0" x2="16" y1="-4" '
        f'y2="-4" stroke="{color}" stroke-width="3" stroke-dasharray="{dash}"/>'
        f'<text x="20" y="0">{escape(label)}</text></g>'
        for i, (label, color, dash) in enumerate(legend)
    )
    height = HEIGHT + (20 if legend else 0)
    return mark_safe(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>{body}{keys}</svg>'
    )


def _axis(top_value: float, label: Callable[[float], str]) -> str:
    lines = []
    for step in range(5):
        value = top_value * step / 4
        y = _y(value, top_value)
        lines.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="tick" x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(label(value))}</text>"
        )
    return "".join(lines)


def _y(value: float, top_value: float) -> float:
    plot = HEIGHT - TOP - BOTTOM
    return TOP + plot - plot * (value / top_value if top_value else 0)


def histogram_svg(*, bars: Sequence[HistogramBar]) -> SafeString:
    """Counts of requests per total-latency bucket; hits and model answers stacked."""
    peak = max((bar.hits + bar.model for bar in bars), default=0) or 1
    slot = (WIDTH - LEFT - RIGHT) / max(len(bars), 1)
    body = [_axis(peak, lambda v: f"{v:.0f}")]
    for index, bar in enumerate(bars):
        x = LEFT + index * slot + 2
        model_top = _y(bar.model, peak)
        hits_top = _y(bar.model + bar.hits, peak)
        span = f"{_milliseconds(bar.low_ms)}–{_milliseconds(bar.high_ms) if bar.high_ms else '∞'}"
        tip = escape(f"{span}: {bar.model} from a model, {bar.hits} from the cache")
        body.append(
            f'<g><title>{tip}</title>'
            f'<rect x="{x:.1f}" y="{model_top:.1f}" width="{slot - 4:.1f}" '
            f'height="{HEIGHT - BOTTOM - model_top:.1f}" fill="{MODEL_COLOR}"/>'
            f'<rect x="{x:.1f}" y="{hits_top:.1f}" width="{slot - 4:.1f}" '
            f'height="{model_top - hits_top:.1f}" fill="{HIT_COLOR}"/></g>'
            f'<text class="tick" x="{x + (slot - 4) / 2:.1f}" y="{HEIGHT - 8}" '
            f'text-anchor="middle">{escape(_milliseconds(bar.low_ms))}</text>'
        )
    legend = [("model", MODEL_COLOR, ""), ("cache hit", HIT_COLOR, "")]
    return _frame("Distribution of total latency", "".join(body), legend)


def _x(at: datetime, start: datetime, seconds: float) -> float:
    share = (at - start).total_seconds() / seconds if seconds else 0
    return LEFT + (WIDTH - LEFT - RIGHT) * min(max(share, 0), 1)


def _polyline(points: Sequence[SeriesPoint], value: Callable[[SeriesPoint], float | None],
              top: float, start: datetime, seconds: float) -> str:  # fmt: skip
    coordinates = [
        f"{_x(p.at, start, seconds):.1f},{_y(v, top):.1f}"
        for p in points
        if (v := value(p)) is not None
    ]
    return " ".join(coordinates)


def series_svg(
    *, points: Sequence[SeriesPoint], start: datetime, seconds: float,
    lines: Sequence[Line] = tuple(LATENCY_LINES), percent: bool = False, title: str,
) -> SafeString:  # fmt: skip
    """Lines over the window; a bucket without requests leaves a gap-free line (no point)."""
    values = [v for p in points for _, value, _, _ in lines if (v := value(p)) is not None]
    top = 1.0 if percent else (max(values, default=0) * 1.1 or 1.0)
    body = [_axis(top, (lambda v: f"{v * 100:.0f}%") if percent else _milliseconds)]
    for label, value, color, dash in lines:
        coordinates = _polyline(points, value, top, start, seconds)
        if coordinates:
            body.append(
                f'<polyline fill="none" stroke="{color}" stroke-width="1.8" '
                f'stroke-dasharray="{dash}" points="{coordinates}"><title>{escape(label)}'
                "</title></polyline>"
            )
    legend = [(label, color, dash) for label, _, color, dash in lines]
    return _frame(title, "".join(body), legend)


def hit_rate_svg(*, points: Sequence[SeriesPoint], start: datetime, seconds: float) -> SafeString:
    lines: list[Line] = [("hit rate", lambda p: p.hit_rate, HIT_COLOR, "")]
    return series_svg(points=points, start=start, seconds=seconds, lines=lines, percent=True,
                      title="Cache hit rate over time")  # fmt: skip

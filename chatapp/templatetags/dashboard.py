"""Template filters for the dashboard: latencies, shares and labels, with a dash for no data."""

from __future__ import annotations

from django import template

register = template.Library()
NO_DATA = "—"


@register.filter
def ms(value: float | None) -> str:
    """1,234 ms under ten seconds, 12.3 s above."""
    if value is None:
        return NO_DATA
    return f"{value / 1000:.1f} s" if value >= 10_000 else f"{value:,.0f} ms"


@register.filter
def share(value: float | None) -> str:
    return NO_DATA if value is None else f"{value * 100:.1f}%"


@register.filter
def label(value: str | None) -> str:
    """An empty dimension (a cached answer has no region) reads as a dash."""
    return value or NO_DATA


@register.filter
def words(value: str) -> str:
    """exact_cache reads as "exact cache"."""
    return str(value).replace("_", " ")


@register.filter
def at(values: tuple | list, index: int) -> object:
    return values[index] if values and len(values) > index else None

"""Staff pages of the dashboard (the page, its refreshed body, one request's waterfall, the
strategy comparison) and /metrics for Prometheus. The work is in latency.dashboard.board*."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from functools import wraps

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from latency.dashboard.board import (
    dashboard_build_async,
    sync_in_own_thread,
    trace_get,
    trace_waterfall,
)
from latency.dashboard.charts import histogram_svg, hit_rate_svg, series_svg
from latency.dashboard.compare import periods_compare, strategy_sets_compare
from latency.dashboard.queries import WINDOWS
from latency.observability.alerts import alerts_evaluate
from latency.observability.metrics import metrics_render

TEMPLATE = "dashboard/dashboard.html"
AsyncView = Callable[..., Awaitable[HttpResponse]]


def staff_only(view: AsyncView) -> AsyncView:
    """Anonymous visitors go to the login page; signed-in non-staff get 403."""

    @wraps(view)
    async def wrapped(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        user = await request.auser()
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not user.is_staff:
            raise PermissionDenied
        request.user = user  # resolved: rendering the page must not query the database
        return await view(request, *args, **kwargs)

    return wrapped


alerts_evaluate_async = sync_in_own_thread(alerts_evaluate)


@staff_only
async def dashboard(request: HttpRequest) -> HttpResponse:
    window_key = request.GET.get("window", "1h")
    board, alerts = await asyncio.gather(
        dashboard_build_async(window_key=window_key), alerts_evaluate_async()
    )
    seconds = board.window.seconds
    context = {
        "board": board, "alerts": alerts, "windows": WINDOWS.values(),
        "histogram": histogram_svg(bars=board.histogram),
        "latency_chart": series_svg(points=board.series, start=board.start, seconds=seconds,
                                    title="P50/P95/P99 and TTFT over time"),
        "hit_chart": hit_rate_svg(points=board.series, start=board.start, seconds=seconds),
    }  # fmt: skip
    if request.htmx and request.htmx.target == "dashboard-body":
        return render(request, f"{TEMPLATE}#body", context)
    return render(request, TEMPLATE, context)


@staff_only
async def dashboard_request(request: HttpRequest, trace_id: int) -> HttpResponse:
    trace = await trace_get(trace_id=trace_id)
    if trace is None:
        raise Http404("No such request.")
    bars = trace_waterfall(trace=trace)
    scale = max([trace.total_ms or 0, *(bar.start_ms + bar.ms for bar in bars)], default=0)
    rows = [(bar, bar.left(scale), bar.width(scale)) for bar in bars]
    context = {"trace": trace, "rows": rows, "scale": scale}
    return render(request, f"{TEMPLATE}#waterfall", context)


def _compare(window_key: str) -> dict[str, object]:
    window = WINDOWS.get(window_key, WINDOWS["1h"])
    start, end = window.bounds(now=timezone.now())
    return {
        "window": window,
        "sets": strategy_sets_compare(start=start, end=end),
        "periods": periods_compare(start=start, end=end),
    }


_compare_async = sync_in_own_thread(_compare)


@staff_only
async def dashboard_compare(request: HttpRequest) -> HttpResponse:
    context = await _compare_async(request.GET.get("window", "1h"))
    return render(request, f"{TEMPLATE}#compare", context)


def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format; with METRICS_TOKEN set, only for `Authorization: Bearer <it>`."""
    token = settings.METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            response = HttpResponse("A bearer token is required.\n", status=401)
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    body, content_type = metrics_render()
    return HttpResponse(body, content_type=content_type)

"""Alerts: rules over a trailing window of traces ("P95 > 2 s for 5 minutes": the last 5 minutes'
P95), judged when a dashboard refreshes and by `manage.py alerts_check`. Active alerts live in
PostgreSQL; each firing and clearing is logged and POSTed to ALERT_WEBHOOK_URL when set."""

from __future__ import annotations

import json
import logging
import threading
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connections, transaction
from django.utils import timezone

from latency.models import AlertEvent, AlertRule

logger = logging.getLogger(__name__)
BASELINE_S = 3600
_MEASURE_SQL = """
SELECT count(*) FILTER (WHERE recent) AS requests,
  percentile_cont(0.95) WITHIN GROUP (ORDER BY total_ms) FILTER (WHERE recent) AS total_p95,
  percentile_cont(0.99) WITHIN GROUP (ORDER BY total_ms) FILTER (WHERE recent) AS total_p99,
  percentile_cont(0.95) WITHIN GROUP (ORDER BY ttft_ms) FILTER (WHERE recent) AS ttft_p95,
  count(*) FILTER (WHERE recent AND status = 'failed') AS failed,
  count(*) FILTER (WHERE recent AND hit) AS hits,
  count(*) FILTER (WHERE recent AND consulted) AS consulted,
  count(*) FILTER (WHERE NOT recent AND hit) AS hits_before,
  count(*) FILTER (WHERE NOT recent AND consulted) AS consulted_before
FROM (
  SELECT created_at > %(start)s AS recent, total_ms, ttft_ms, status,
    cache_outcome IN ('exact', 'semantic') AS hit, cache_outcome <> 'off' AS consulted
  FROM latency_requesttrace WHERE created_at > %(baseline_start)s AND created_at <= %(end)s
) AS window_traces
"""


@dataclass(frozen=True)
class Verdict:
    rule: AlertRule
    firing: bool
    value: float | None
    message: str


def window_measure(*, seconds: int, now: datetime, using: str = "default") -> dict[str, float]:
    """The figures rules compare: over the last `seconds`, and over the hour before them."""
    start = now - timedelta(seconds=seconds)
    params = {"start": start, "baseline_start": start - timedelta(seconds=BASELINE_S), "end": now}
    with connections[using].cursor() as cursor:
        cursor.execute(_MEASURE_SQL, params)
        names = [column.name for column in cursor.description]
        return dict(zip(names, cursor.fetchone(), strict=True))


def rule_judge(*, rule: AlertRule, figures: dict[str, float]) -> Verdict:
    requests, minutes = figures["requests"], rule.window_seconds / 60
    span = f"over the last {minutes:g} min ({requests} requests)"
    if rule.metric == AlertRule.Metric.HIT_RATE_DROP:
        consulted, before = figures["consulted"], figures["consulted_before"]
        if consulted < rule.min_requests or before < rule.min_requests:
            return Verdict(rule, False, None, "not enough cache lookups to judge")
        rate, earlier = figures["hits"] / consulted, figures["hits_before"] / before
        firing = rate < rule.threshold and earlier >= (rule.baseline or 0)
        message = f"cache hit rate {rate:.0%} {span}, {earlier:.0%} in the hour before"
        return Verdict(rule, firing, rate, message)
    if requests < rule.min_requests:
        return Verdict(rule, False, None, f"not enough requests to judge {span}")
    if rule.metric == AlertRule.Metric.ERROR_RATE:
        value = figures["failed"] / requests
        return Verdict(rule, value > rule.threshold, value, f"error rate {value:.1%} {span}")
    value = figures[rule.metric]
    label = rule.get_metric_display().split(" (")[0]
    if value is None:
        return Verdict(rule, False, None, f"no {label} {span}")
    return Verdict(rule, value > rule.threshold, value, f"{label} {value:,.0f} ms {span}")


def alerts_evaluate(
    *, now: datetime | None = None, using: str = "default", wait_for_webhook: bool = False
) -> list[AlertEvent]:  # fmt: skip
    """Judge every enabled rule, open or close its event, and return the active events."""
    now = now or timezone.now()
    figures_by_window: dict[int, dict[str, float]] = {}
    for rule in AlertRule.objects.using(using).filter(enabled=True):
        if rule.window_seconds not in figures_by_window:
            figures_by_window[rule.window_seconds] = window_measure(
                seconds=rule.window_seconds, now=now, using=using
            )
        verdict = rule_judge(rule=rule, figures=figures_by_window[rule.window_seconds])
        _event_update(verdict=verdict, now=now, using=using, wait=wait_for_webhook)
    AlertEvent.objects.using(using).filter(rule__enabled=False, resolved_at__isnull=True).update(
        resolved_at=now
    )
    return alerts_active(using=using)


def alerts_active(*, using: str = "default") -> list[AlertEvent]:
    return list(
        AlertEvent.objects.using(using).filter(resolved_at__isnull=True).select_related("rule")
    )


def _event_update(*, verdict: Verdict, now: datetime, using: str, wait: bool) -> None:
    rule = verdict.rule
    events = AlertEvent.objects.using(using)
    if verdict.firing:
        try:
            with transaction.atomic(using=using):
                event = events.create(rule=rule, value=verdict.value or 0,
                                      message=f"{rule.name}: {verdict.message}"[:300])  # fmt: skip
        except IntegrityError:
            return  # already active (opened by this or another process)
        logger.warning("alert %s (%s): %s", rule.severity, rule.name, verdict.message)
        _webhook_send(event=event, state="firing", using=using, wait=wait)
        return
    active = events.filter(rule=rule, resolved_at__isnull=True).first()
    if active and events.filter(id=active.id, resolved_at__isnull=True).update(resolved_at=now):
        active.resolved_at = now
        logger.info("alert cleared (%s): %s", rule.name, verdict.message)
        _webhook_send(event=active, state="resolved", using=using, wait=wait)


def _webhook_send(*, event: AlertEvent, state: str, using: str, wait: bool) -> None:
    """POST the event in a thread of its own with a short timeout: a slow receiver never holds
    up a dashboard. The command waits for it, so that a cron run does not exit first."""
    url = settings.ALERT_WEBHOOK_URL
    if not url:
        return
    payload = {
        "state": state, "rule": event.rule.name, "severity": event.rule.severity,
        "metric": event.rule.metric, "threshold": event.rule.threshold, "value": event.value,
        "message": event.message, "started_at": event.started_at.isoformat(),
        "resolved_at": event.resolved_at.isoformat() if event.resolved_at else None,
    }  # fmt: skip
    thread = threading.Thread(
        target=_webhook_post, kwargs={"url": url, "payload": payload, "event_id": event.id,
                                      "using": using}, daemon=True,
    )  # fmt: skip
    thread.start()
    if wait:
        thread.join()


def _webhook_post(*, url: str, payload: dict[str, object], event_id: int, using: str) -> None:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=settings.ALERT_WEBHOOK_TIMEOUT_S):
            pass
    except OSError as error:
        logger.error("alert webhook %s failed: %s", url, error)
        return
    try:
        AlertEvent.objects.using(using).filter(id=event_id).update(notified=True)
    finally:
        connections.close_all()

"""Alerts fire on synthetic traces, show on the dashboard, are posted to the webhook, and clear."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core.management import call_command
from django.db.models import F
from django.test import Client

from latency.models import AlertEvent, AlertRule, RequestTrace
from latency.observability.alerts import alerts_active, alerts_evaluate

SEED = [  # the seed's thresholds (also what migration 0006 creates)
    ("P95 latency over 2 s for 5 minutes", "total_p95", 2000.0, None, 300, "warning"),
    ("P95 latency over 5 s for 2 minutes", "total_p95", 5000.0, None, 120, "critical"),
    ("TTFT over 1 s for 5 minutes", "ttft_p95", 1000.0, None, 300, "warning"),
    ("Cache hit rate under 20% (was at least 40%)", "hit_rate_drop", 0.2, 0.4, 300, "warning"),
]


@pytest.fixture
def rules(db):  # noqa: ANN001, ANN201
    AlertRule.objects.all().delete()
    for name, metric, threshold, baseline, window, severity in SEED:
        AlertRule.objects.create(name=name, metric=metric, threshold=threshold, baseline=baseline,
                                 window_seconds=window, severity=severity)  # fmt: skip


def _slow(count: int, total_ms: float, ttft_ms: float, age_s: float = 30) -> list[dict]:
    return [{"total_ms": total_ms, "ttft_ms": ttft_ms, "cache_outcome": "miss", "age_s": age_s}
            for _ in range(count)]  # fmt: skip


def _time_passes(*, minutes: int) -> None:
    RequestTrace.objects.update(created_at=F("created_at") - timedelta(minutes=minutes))


@pytest.mark.django_db
def test_latency_alerts_fire_and_clear(rules, traces_make):  # noqa: ANN001
    traces_make(_slow(20, total_ms=3000, ttft_ms=1500))
    active = {event.rule.name for event in alerts_evaluate()}
    assert active == {"P95 latency over 2 s for 5 minutes", "TTFT over 1 s for 5 minutes"}
    alerts_evaluate()  # checking again does not open a second event
    assert AlertEvent.objects.count() == 2

    traces_make(_slow(20, total_ms=6000, ttft_ms=1500))
    severities = {event.rule.severity for event in alerts_evaluate()}
    assert severities == {"warning", "critical"}

    _time_passes(minutes=10)  # the slow requests leave the window…
    traces_make(_slow(30, total_ms=300, ttft_ms=100))  # …and fast ones come in
    assert alerts_evaluate() == []
    assert AlertEvent.objects.filter(resolved_at__isnull=True).count() == 0
    assert AlertEvent.objects.filter(resolved_at__isnull=False).count() == 3


@pytest.mark.django_db
def test_too_few_requests_make_no_verdict(rules, traces_make):  # noqa: ANN001
    traces_make(_slow(3, total_ms=9000, ttft_ms=5000))
    assert alerts_evaluate() == []


@pytest.mark.django_db
def test_hit_rate_drop_fires_only_after_a_good_hour(rules, traces_make):  # noqa: ANN001
    before = [{"cache_outcome": "exact" if i % 2 else "miss", "total_ms": 100.0,
               "ttft_ms": 20.0, "age_s": 1200 + i} for i in range(40)]  # fmt: skip
    now = [{"cache_outcome": "miss" if i % 10 else "semantic", "total_ms": 100.0,
            "ttft_ms": 20.0, "age_s": 60} for i in range(30)]  # fmt: skip
    traces_make(before + now)
    [event] = alerts_evaluate()
    assert event.rule.metric == "hit_rate_drop"
    assert event.value == pytest.approx(3 / 30)
    assert "50%" in event.message  # the hour before


@pytest.mark.django_db
def test_hit_rate_low_all_along_does_not_fire(rules, traces_make):  # noqa: ANN001
    rows = [{"cache_outcome": "miss", "total_ms": 100.0, "ttft_ms": 20.0, "age_s": age}
            for age in [60] * 30 + [1200] * 30]  # fmt: skip
    traces_make(rows)
    assert alerts_evaluate() == []


class _Receiver(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["content-length"]))
        _Receiver.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.django_db(transaction=True)  # the webhook thread records delivery on its own
def test_alerts_show_on_the_dashboard_and_post_to_the_webhook(
    rules, traces_make, staff_user, settings, caplog
):  # noqa: ANN001
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.ALERT_WEBHOOK_URL = f"http://127.0.0.1:{server.server_port}/hook"
    _Receiver.received.clear()
    try:
        traces_make(_slow(20, total_ms=2600, ttft_ms=300))
        call_command("alerts_check")  # as cron would; waits for the webhook
        assert [p["state"] for p in _Receiver.received] == ["firing"]
        assert _Receiver.received[0]["rule"] == "P95 latency over 2 s for 5 minutes"
        assert AlertEvent.objects.get().notified
        assert "P95 latency over 2 s" in caplog.text

        client = Client()
        client.force_login(staff_user)
        page = client.get("/dashboard/?window=5m").content.decode()
        assert 'class="alert warning"' in page and "P95 latency over 2 s" in page

        _time_passes(minutes=10)
        traces_make(_slow(20, total_ms=200, ttft_ms=50))
        alerts_evaluate(wait_for_webhook=True)
        assert [p["state"] for p in _Receiver.received] == ["firing", "resolved"]
        assert alerts_active() == []
    finally:
        server.shutdown()

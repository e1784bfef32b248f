"""The latency domain: every strategy that makes an answer feel instant, one module each."""

from __future__ import annotations

from django.apps import AppConfig


class LatencyConfig(AppConfig):
    name = "latency"
    default_auto_field = "django.db.models.BigAutoField"

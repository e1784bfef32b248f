"""The Django project and its thin web edge."""

from __future__ import annotations

from django.apps import AppConfig


class ChatappConfig(AppConfig):
    name = "chatapp"

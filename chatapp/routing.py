"""Websocket routes."""

from __future__ import annotations

from django.urls import path

from chatapp.consumers.chat import ChatConsumer
from chatapp.consumers.dashboard import DashboardConsumer

websocket_urlpatterns = [
    path("ws/chat/<int:conversation_id>/", ChatConsumer.as_asgi()),
    path("ws/dashboard/", DashboardConsumer.as_asgi()),
]

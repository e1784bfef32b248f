"""Websocket `/ws/dashboard/`: staff only; each new trace arrives as a row for the recent table."""

from __future__ import annotations

from datetime import datetime

from channels.generic.websocket import AsyncWebsocketConsumer
from django.template.loader import render_to_string

from latency.observability.live import GROUP

TEMPLATE = "dashboard/dashboard.html"


class DashboardConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_staff:
            await self.close(code=4403)  # before accept: the handshake is refused (403)
            return
        await self.channel_layer.group_add(GROUP, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(GROUP, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """The dashboard only listens."""

    async def dashboard_trace(self, event: dict) -> None:
        trace = dict(event["trace"])
        trace["created_at"] = datetime.fromisoformat(trace["created_at"])
        html = render_to_string(f"{TEMPLATE}#live_row", {"trace": trace})
        await self.send(text_data=html)

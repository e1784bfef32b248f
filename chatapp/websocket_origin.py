"""Websocket origin check: a page may open our sockets only from this server's own origin.

Channels' AllowedHostsOriginValidator compares the Origin's host with ALLOWED_HOSTS and ignores
its port, so a page served from 127.0.0.1:9999 could open a socket on 127.0.0.1:8000 with the
user's cookies. Here the Origin's host and port must be the Host the browser connected to (a
host in ALLOWED_HOSTS), or an origin listed in CSRF_TRUSTED_ORIGINS; no Origin is refused.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

Scope = dict[str, Any]


def origin_allowed(*, origin: str, host: str) -> bool:
    """Whether a handshake with these Origin and Host headers comes from our own pages."""
    parts = urlsplit(origin)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        return False
    if f"{parts.scheme}://{parts.netloc}".lower() in {
        o.rstrip("/").lower() for o in settings.CSRF_TRUSTED_ORIGINS
    }:
        return True
    domain, _port = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return False
    # Browsers leave a scheme's default port out of both headers, so the two spell it alike.
    return parts.netloc.lower() == host.lower()


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


class OriginValidator:
    """ASGI middleware: refuses the handshake (HTTP 403) unless `origin_allowed`."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket" and not origin_allowed(
            origin=_header(scope, b"origin"), host=_header(scope, b"host")
        ):
            denier = WebsocketDenier()
            return await denier(scope, receive, send)
        return await self.application(scope, receive, send)

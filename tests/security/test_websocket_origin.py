"""The chat and dashboard sockets open only from this server's own origin (host and port)."""

from __future__ import annotations

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model

from latency.models import Conversation

pytestmark = pytest.mark.django_db(transaction=True)

HOST = "127.0.0.1:8000"


async def _opens(path: str, headers: list[tuple[bytes, bytes]], user=None) -> bool:  # noqa: ANN001
    from chatapp.asgi import application

    communicator = WebsocketCommunicator(application, path, headers=headers)
    if user is not None:
        communicator.scope["user"] = user
    connected, _ = await communicator.connect(timeout=10)
    await communicator.disconnect()
    return connected


@pytest.mark.parametrize(
    ("origin", "host", "opens"),
    [
        ("http://127.0.0.1:8000", HOST, True),
        ("http://127.0.0.1:9999", HOST, False),  # same host, another port: another site
        ("http://localhost:8000", HOST, False),
        ("http://evil.example:8000", HOST, False),
        ("null", HOST, False),
        (None, HOST, False),  # no Origin at all
        ("http://evil.example", "evil.example", False),  # Host not in ALLOWED_HOSTS
        ("https://chat.example.com", "chat.example.com", False),
    ],
)
async def test_chat_socket_origin(origin, host, opens):  # noqa: ANN001
    user = await get_user_model().objects.acreate_user("origin-owner", password="x-unused-1")
    conversation = await Conversation.objects.acreate(user=user)
    headers = [(b"host", host.encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    assert await _opens(f"/ws/chat/{conversation.id}/", headers, user=user) is opens


async def test_trusted_origins_may_open_it(settings):  # noqa: ANN001
    settings.CSRF_TRUSTED_ORIGINS = ["https://chat.example.com"]
    staff = await get_user_model().objects.acreate_user("origin-staff", password="x-unused-1",
                                                        is_staff=True)  # fmt: skip
    headers = [(b"host", b"internal:8000"), (b"origin", b"https://chat.example.com")]
    assert await _opens("/ws/dashboard/", headers, user=staff)
    forged = [(b"host", b"internal:8000"), (b"origin", b"https://chat.example.com:444")]
    assert not await _opens("/ws/dashboard/", forged, user=staff)

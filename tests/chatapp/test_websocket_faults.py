"""A socket that meets an unreachable database is told so and closed with 1013, not dropped."""

from __future__ import annotations

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.db import OperationalError

from chatapp.websocket_faults import DATABASE_DOWN, DATABASE_DOWN_REASON
from latency.models import Conversation

pytestmark = pytest.mark.django_db(transaction=True)

HEADERS = [(b"host", b"127.0.0.1:8000"), (b"origin", b"http://127.0.0.1:8000")]


async def _fails(*_: object, **__: object) -> None:
    raise OperationalError("connection to server on socket failed: No such file or directory")


@pytest.mark.parametrize("stage", ["session", "conversation"])
async def test_database_fault_at_connect_closes_with_a_reason(monkeypatch, stage):  # noqa: ANN001
    from chatapp.asgi import application

    user = await get_user_model().objects.acreate_user(f"db-down-{stage}", password="x-unused-1")
    conversation = await Conversation.objects.acreate(user=user)
    communicator = WebsocketCommunicator(application, f"/ws/chat/{conversation.id}/",
                                         headers=HEADERS)  # fmt: skip
    if stage == "session":  # the user is read from the session as the handshake comes in
        monkeypatch.setattr("channels.auth.get_user", _fails)
    else:  # the user is known; the consumer reads the conversation
        communicator.scope["user"] = user
        monkeypatch.setattr("chatapp.consumers.chat.conversation_get_for_user", _fails)
    connected, _ = await communicator.connect(timeout=10)
    assert connected, "accepted, so that the socket can say why it ends"
    assert DATABASE_DOWN_REASON in await communicator.receive_from(timeout=10)
    closed = await communicator.receive_output(timeout=10)
    assert closed == {"type": "websocket.close", "code": DATABASE_DOWN,
                      "reason": DATABASE_DOWN_REASON}  # fmt: skip
    await communicator.wait(timeout=10)


async def test_the_socket_opens_again_once_the_database_is_back(monkeypatch):  # noqa: ANN001
    from chatapp.asgi import application

    user = await get_user_model().objects.acreate_user("db-back", password="x-unused-1")
    conversation = await Conversation.objects.acreate(user=user)
    monkeypatch.setattr("chatapp.consumers.chat.conversation_get_for_user", _fails)
    down = WebsocketCommunicator(application, f"/ws/chat/{conversation.id}/", headers=HEADERS)
    down.scope["user"] = user
    await down.connect(timeout=10)
    assert DATABASE_DOWN_REASON in await down.receive_from(timeout=10)
    assert (await down.receive_output(timeout=10))["code"] == DATABASE_DOWN
    monkeypatch.undo()
    back = WebsocketCommunicator(application, f"/ws/chat/{conversation.id}/", headers=HEADERS)
    back.scope["user"] = user
    connected, _ = await back.connect(timeout=10)
    assert connected
    await back.disconnect()

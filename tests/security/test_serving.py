"""daphne as `make run` starts it: slow request bodies are cut off, oversized, binary and
non-UTF-8 frames say why."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from latency.models import Conversation
from latency.testing.processes import ROOT, Child, daphne_start

BODY_TIMEOUT_S = 3


@pytest.fixture(scope="module")
def bounded_app(test_database_env, simulator) -> Iterator[Child]:  # noqa: ANN001
    child_env = {**test_database_env, "SIMULATOR_URL": simulator.url,
                 "HTTP_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S)}  # fmt: skip
    (ROOT / ".data").mkdir(exist_ok=True)
    app = daphne_start(
        env=child_env, log_path=ROOT / ".data" / "test-daphne-serving.log", timeout_s=300
    )
    yield app
    app.stop()


def test_a_body_sent_a_byte_a_second_is_cut_off(bounded_app):  # noqa: ANN001
    address = urlsplit(bounded_app.url)
    with socket.create_connection((address.hostname, address.port), timeout=2) as connection:
        connection.sendall(
            b"POST /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\n"
        )
        started = time.monotonic()
        answer = b""
        closed = False
        while time.monotonic() - started < BODY_TIMEOUT_S + 12:
            try:
                connection.sendall(b"a")
                chunk = connection.recv(4096)
            except TimeoutError:
                continue  # nothing to read yet: one more byte, a second later
            except OSError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            answer += chunk
        held_s = time.monotonic() - started
    assert closed, f"still open after {held_s:.0f} s"
    assert held_s < BODY_TIMEOUT_S + 6
    assert answer.startswith(b"HTTP/1.1 408")


def _chat_socket(app: Child, name: str):  # noqa: ANN202
    """A websocket to a new conversation of a new signed-in user, as the browser opens it."""
    from websockets.sync.client import connect

    user = get_user_model().objects.create_user(name, password="x-unused-42")
    conversation = Conversation.objects.create(user=user)
    client = Client()
    client.force_login(user)
    session = client.cookies["sessionid"].value
    url = app.url.replace("http://", "ws://") + f"/ws/chat/{conversation.id}/"
    return connect(url, origin=app.url, additional_headers={"Cookie": f"sessionid={session}"},
                   open_timeout=10)  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_an_oversized_frame_closes_the_socket_with_a_reason(bounded_app):  # noqa: ANN001
    from websockets.exceptions import ConnectionClosed

    with _chat_socket(bounded_app, "frame-sender") as websocket:
        websocket.send('{"message": "' + "x" * (1024 * 1024 + 100) + '"}')
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                websocket.recv(timeout=10)
    assert closed.value.rcvd is not None, "dropped without a close frame"
    assert closed.value.rcvd.code == 1009
    assert "exceeds payload limit" in closed.value.rcvd.reason


@pytest.mark.django_db(transaction=True)
def test_binary_and_non_utf8_frames_say_why_and_the_server_serves_on(bounded_app):  # noqa: ANN001
    from websockets.exceptions import ConnectionClosed

    with _chat_socket(bounded_app, "binary-sender") as websocket:
        websocket.send(b"\x00\x01 not text")  # a binary frame: refused, the socket stays
        assert "Binary frames are not supported" in websocket.recv(timeout=10)
        websocket.send(b"\xff\xfe not UTF-8", text=True)  # a text frame that is not UTF-8
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                websocket.recv(timeout=10)
    assert closed.value.rcvd is not None, "dropped without a close frame"
    assert closed.value.rcvd.code == 1007  # invalid frame payload data (RFC 6455)
    with _chat_socket(bounded_app, "after-the-bad-frame") as websocket:
        websocket.send('{"message": "Still serving?"}')
        frames = []
        while not any('data-state="done"' in frame for frame in frames):
            frames.append(websocket.recv(timeout=30))

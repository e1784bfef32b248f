"""Live: a saved trace reaches an open dashboard socket, in one process and across two daphne
processes that share Redis."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.test import Client

from chatapp.consumers.dashboard import DashboardConsumer
from latency.gateway.keys import api_key_create
from latency.observability.tracing import TraceRecorder, trace_save
from latency.testing.processes import ROOT, daphne_start

REDIS_URL = "redis://127.0.0.1:6379/13"


@pytest.mark.django_db(transaction=True)
async def test_a_saved_trace_reaches_an_open_dashboard(staff_user):  # noqa: ANN001
    communicator = WebsocketCommunicator(DashboardConsumer.as_asgi(), "/ws/dashboard/")
    communicator.scope["user"] = staff_user
    connected, _ = await communicator.connect()
    assert connected
    recorder = TraceRecorder(received_at=time.perf_counter() - 0.25, feature="chat", source="ws")
    recorder.first_token()
    recorder.set(model="gpt-4o-mini", cache_outcome="miss", status="ok", region="edge-eu")
    began = time.monotonic()
    trace = await trace_save(recorder=recorder)
    html = await communicator.receive_from(timeout=2)
    assert time.monotonic() - began < 2
    assert f'data-trace-id="{trace.id}"' in html
    assert 'hx-swap-oob="afterbegin"' in html and "gpt-4o-mini" in html
    await communicator.disconnect()


def _redis_available() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.mark.django_db(transaction=True)
def test_a_trace_served_by_one_process_reaches_a_dashboard_on_the_other(
    simulator,  # noqa: ANN001
    test_database_env,  # noqa: ANN001
) -> None:
    if not _redis_available():
        pytest.fail(f"Redis is needed at {REDIS_URL} (the channel layer of several processes)")
    from websockets.sync.client import connect

    staff = get_user_model().objects.create_user("watcher", password="x" * 12, is_staff=True)
    client = Client()
    client.force_login(staff)
    session = client.cookies["sessionid"].value
    key = api_key_create(user=get_user_model().objects.create_user("caller", password="y" * 12))
    child_env = {
        **test_database_env, "REDIS_URL": REDIS_URL, "SIMULATOR_URL": simulator.url,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
    }  # fmt: skip
    logs = ROOT / ".data"
    serving = daphne_start(env=child_env, log_path=logs / "test-dashboard-a.log")
    watching = daphne_start(env=child_env, log_path=logs / "test-dashboard-b.log")
    try:
        url = watching.url.replace("http://", "ws://") + "/ws/dashboard/"
        headers = {"Cookie": f"sessionid={session}"}
        with connect(url, origin=watching.url, additional_headers=headers) as socket:
            time.sleep(0.3)  # the consumer joins its group just after the handshake
            body = {"model": "gpt-4o-mini", "stream": False,
                    "messages": [{"role": "user", "content": "Hello there"}]}  # fmt: skip
            request = urllib.request.Request(
                f"{serving.url}/v1/chat/completions", data=json.dumps(body).encode(),
                headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
            )  # fmt: skip
            with urllib.request.urlopen(request, timeout=30) as response:
                assert response.status == 200
                answered_at = time.monotonic()
            html = socket.recv(timeout=5)
            assert time.monotonic() - answered_at < 2
        assert "data-trace-id=" in html and "gpt-4o-mini" in html
    finally:
        serving.stop()
        watching.stop()


@pytest.mark.django_db(transaction=True)
def test_the_dashboard_socket_refuses_anonymous_clients_over_the_wire(live_app):  # noqa: ANN001
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    url = live_app.url.replace("http://", "ws://") + "/ws/dashboard/"
    with pytest.raises(InvalidStatus) as refused:
        connect(url, origin=live_app.url)
    assert refused.value.response.status_code == 403

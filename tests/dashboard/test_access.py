"""Staff only: anonymous visitors are sent to log in, others get 403; /metrics wants its token."""

from __future__ import annotations

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser
from django.test import Client

from chatapp.consumers.dashboard import DashboardConsumer

PAGES = ["/dashboard/", "/dashboard/?window=5m", "/settings/", "/dashboard/compare/"]


@pytest.mark.django_db
@pytest.mark.parametrize("path", PAGES)
def test_anonymous_visitors_are_sent_to_log_in(path: str):
    response = Client().get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.django_db
@pytest.mark.parametrize("path", PAGES)
def test_signed_in_non_staff_get_403(path: str, plain_user):  # noqa: ANN001
    client = Client()
    client.force_login(plain_user)
    assert client.get(path).status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize("path", PAGES)
def test_staff_see_the_pages(path: str, staff_user, traces_make):  # noqa: ANN001
    traces_make([{"total_ms": 300.0, "ttft_ms": 90.0, "feature": "chat", "model": "gpt-4o"}])
    client = Client()
    client.force_login(staff_user)
    response = client.get(path)
    assert response.status_code == 200


@pytest.mark.django_db
def test_waterfall_fragment_is_staff_only(staff_user, plain_user, traces_make):  # noqa: ANN001
    [trace_id] = traces_make([{"total_ms": 500.0, "ttft_ms": 200.0,
                               "stages": {"exact_cache": 0.5, "embed": 8.0, "routing": 0.1}}])
    url = f"/dashboard/request/{trace_id}/"
    assert Client().get(url).status_code == 302
    client = Client()
    client.force_login(plain_user)
    assert client.get(url).status_code == 403
    client.force_login(staff_user)
    page = client.get(url).content.decode()
    assert 'data-stage="embed"' in page and 'data-stage="generation"' in page
    assert client.get("/dashboard/request/999999999/").status_code == 404


@pytest.mark.django_db
def test_metrics_token(settings):  # noqa: ANN001
    settings.METRICS_TOKEN = ""
    assert Client().get("/metrics").status_code == 200
    settings.METRICS_TOKEN = "s3cret-token"
    assert Client().get("/metrics").status_code == 401
    wrong = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer nope")
    assert wrong.status_code == 401
    right = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token")
    assert right.status_code == 200
    assert right["Content-Type"].startswith("text/plain")


async def _dashboard_connect(user) -> tuple[bool, object, WebsocketCommunicator]:  # noqa: ANN001
    communicator = WebsocketCommunicator(DashboardConsumer.as_asgi(), "/ws/dashboard/")
    communicator.scope["user"] = user
    connected, detail = await communicator.connect()
    return connected, detail, communicator


@pytest.mark.django_db(transaction=True)
async def test_dashboard_socket_refuses_non_staff(plain_user, staff_user):  # noqa: ANN001
    for user in (AnonymousUser(), plain_user):
        connected, _, communicator = await _dashboard_connect(user)
        assert not connected
    connected, _, communicator = await _dashboard_connect(staff_user)
    assert connected
    await communicator.disconnect()

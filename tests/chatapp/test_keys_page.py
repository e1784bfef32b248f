"""/keys/: make a key (shown once), list, limit and revoke one's own keys, never another's."""

from __future__ import annotations

import re
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from latency.models import ApiKey

pytestmark = pytest.mark.django_db


def _logged_in() -> tuple[Client, object]:
    user = get_user_model().objects.create_user(f"kp-{uuid.uuid4().hex[:6]}", password="x" * 12)
    client = Client()
    client.force_login(user)
    return client, user


def test_create_shows_the_token_once_then_lists_the_key() -> None:
    client, user = _logged_in()
    page = client.get("/keys/")
    assert (
        page.status_code == 200 and b"No keys yet" in page.content and b"API keys" in page.content
    )
    made = client.post("/keys/", {"name": "my app"}, HTTP_HX_REQUEST="true")
    token = re.search(rb"<code data-token>(sk-sub-[\w-]+)</code>", made.content).group(1).decode()
    assert b"<html" not in made.content, "htmx gets the panel only"
    key = ApiKey.objects.get(user=user)
    assert key.name == "my app" and key.prefix == token[:12] and key.key_hash != token
    again = client.get("/keys/").content.decode()
    assert token not in again and f"{key.prefix}…" in again and "never" in again


def test_revoke_and_limits_of_ones_own_key() -> None:
    client, user = _logged_in()
    client.post("/keys/", {"name": "a"})
    key = ApiKey.objects.get(user=user)
    client.post(f"/keys/{key.id}/limits/", {"requests_per_minute": 7, "tokens_per_minute": 700})
    key.refresh_from_db()
    assert (key.requests_per_minute, key.tokens_per_minute) == (7, 700)
    refused = client.post(
        f"/keys/{key.id}/limits/",
        {"requests_per_minute": 0, "tokens_per_minute": 1},
        HTTP_HX_REQUEST="true",
    )
    assert b'role="alert"' in refused.content
    assert client.post(f"/keys/{key.id}/revoke/").status_code == 302
    key.refresh_from_db()
    assert key.revoked and b'data-revoked="true"' in client.get("/keys/").content


def test_nobody_sees_or_revokes_another_users_key() -> None:
    owner, owner_user = _logged_in()
    owner.post("/keys/", {"name": "secret-app"})
    key = ApiKey.objects.get(user=owner_user)
    other, _ = _logged_in()
    assert b"secret-app" not in other.get("/keys/").content
    assert other.post(f"/keys/{key.id}/revoke/").status_code == 404
    limits = {"requests_per_minute": 1, "tokens_per_minute": 1}
    assert other.post(f"/keys/{key.id}/limits/", limits).status_code == 404
    key.refresh_from_db()
    assert not key.revoked and key.requests_per_minute == 500


def test_login_and_csrf_are_required() -> None:
    assert Client().get("/keys/").status_code == 302
    client, user = _logged_in()
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    assert strict.post("/keys/", {"name": "x"}).status_code == 403
    assert not ApiKey.objects.filter(user=user).exists()
    page = strict.get("/keys/")
    token = page.cookies["csrftoken"].value
    made = strict.post("/keys/", {"name": "x", "csrfmiddlewaretoken": token})
    assert made.status_code == 200 and ApiKey.objects.filter(user=user).count() == 1
    assert b'href="/keys/"' in page.content, "the nav links the page"

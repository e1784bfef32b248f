"""Staff browse, search and delete cached answers in the Django admin; others cannot."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from latency.models import CacheEntry

pytestmark = pytest.mark.django_db


def _entry(query: str) -> CacheEntry:
    return CacheEntry.objects.create(
        scope_key="s" * 64, query=query, query_normalized=query.lower(),
        embedding=np.ones(384, dtype=np.float32) / np.sqrt(384), response=f"about {query}",
        model="gpt-4o-mini", expires_at=timezone.now() + timedelta(hours=1),
    )  # fmt: skip


def test_staff_search_and_delete_entries(client) -> None:  # noqa: ANN001
    staff = get_user_model().objects.create_user("staff", password="pw-123456789", is_staff=True,
                                                 is_superuser=True)
    peru, chile = _entry("capital of Peru"), _entry("capital of Chile")
    client.force_login(staff)
    page = client.get("/admin/latency/cacheentry/", {"q": "Peru"})
    assert page.status_code == 200
    assert "capital of Peru" in page.text and "capital of Chile" not in page.text
    response = client.post(
        "/admin/latency/cacheentry/",
        {"action": "delete_with_exact_tier", "_selected_action": [peru.id]},
    )
    assert response.status_code == 302
    assert list(CacheEntry.objects.values_list("id", flat=True)) == [chile.id]


def test_non_staff_cannot_open_the_cache_admin(client) -> None:  # noqa: ANN001
    user = get_user_model().objects.create_user("user", password="pw-123456789")
    client.force_login(user)
    assert client.get("/admin/latency/cacheentry/").status_code == 302

"""Staff browse, search and delete cached answers in the Django admin (others cannot), and see
what each entry learned from use there and on the dashboard."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from latency.models import CacheEntry, CacheLabel, StrategySettings

pytestmark = pytest.mark.django_db


def _entry(query: str) -> CacheEntry:
    return CacheEntry.objects.create(
        scope_key="s" * 64, query=query, query_normalized=query.lower(),
        embedding=np.ones(384, dtype=np.float32) / np.sqrt(384), response=f"about {query}",
        model="gpt-4o-mini", expires_at=timezone.now() + timedelta(hours=1),
    )  # fmt: skip


def _staff():  # noqa: ANN202
    return get_user_model().objects.create_user("staff", password="pw-123456789", is_staff=True,
                                                is_superuser=True)  # fmt: skip


def test_staff_search_and_delete_entries(client) -> None:  # noqa: ANN001
    staff = _staff()
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
    # A staff deletion is a wrong answer in the observed error rate.
    label = CacheLabel.objects.get()
    assert (label.source, label.correct, label.user, label.entry) == ("staff", False, staff, None)


def test_non_staff_cannot_open_the_cache_admin(client) -> None:  # noqa: ANN001
    user = get_user_model().objects.create_user("user", password="pw-123456789")
    client.force_login(user)
    assert client.get("/admin/latency/cacheentry/").status_code == 302


def _learned() -> CacheEntry:
    """An entry one of whose semantic hits was marked wrong at 0.911 and one kept at 0.95."""
    entry = _entry("capital of Italy")
    CacheLabel.objects.create(entry=entry, source="wrong", correct=False, similarity=0.911)
    CacheLabel.objects.create(entry=entry, source="kept", correct=True, similarity=0.95)
    CacheEntry.objects.filter(id=entry.id).update(
        learned_threshold=0.912, label_count=2, label_wrong=1
    )
    return entry


def test_each_entry_shows_its_learned_threshold_and_error_against_the_bound(client) -> None:  # noqa: ANN001
    StrategySettings.objects.update_or_create(id=1, defaults={"cache_error_bound": 0.05})
    entry = _learned()
    _entry("capital of Peru")
    client.force_login(_staff())
    page = client.get("/admin/latency/cacheentry/").text
    assert "learned 0.912" in page and "50.0% &gt; δ 5.0%" in page
    assert "global 0.700" in page and "— (δ 5.0%)" in page  # the entry nobody judged yet
    detail = client.get(f"/admin/latency/cacheentry/{entry.id}/change/").text
    assert "kept at 0.950, WRONG at 0.911" in detail


@pytest.mark.django_db(transaction=True)
def test_the_dashboard_shows_what_the_cache_learned(client) -> None:  # noqa: ANN001
    _learned()
    wrong = _entry("capital of Peru")
    client.force_login(_staff())
    client.post("/admin/latency/cacheentry/",
                {"action": "delete_with_exact_tier", "_selected_action": [wrong.id]})  # fmt: skip
    page = client.get("/dashboard/").text
    assert "1 entry with a learned threshold" in page
    assert "3 verdicts, 2 wrong (1 staff deletion)" in page
    assert "66.7%</strong> against δ 2.0%" in page
    assert "capital of Italy</td>" in page and "learned 0.912" in page

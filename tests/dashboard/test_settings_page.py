"""The staff settings page: a change is saved, and a fresh read of the settings sees it."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from chatapp.views.settings import AlertRuleFormSet, StrategySettingsForm
from latency.models import AlertRule, StrategySettings
from latency.strategies import strategy_settings_forget, strategy_settings_get


def _post_data(row: StrategySettings, **changes: object) -> dict[str, object]:
    """What the page posts back unchanged, with `changes` made (False unticks a box)."""
    form = StrategySettingsForm(instance=row, prefix="s")
    rules = AlertRuleFormSet(queryset=AlertRule.objects.all(), prefix="rules")
    data: dict[str, object] = {f"rules-{k}": v for k, v in rules.management_form.initial.items()}
    for bound in [*form, *(field for rule in rules.forms for field in rule)]:
        value = bound.value()
        if getattr(bound.field.widget, "input_type", "") == "checkbox":
            if value:
                data[bound.html_name] = "on"
        elif value is not None and bound.name != "DELETE":
            data[bound.html_name] = value
    for name, value in changes.items():
        data.pop(f"s-{name}", None)
        if value is not False:
            data[f"s-{name}"] = "on" if value is True else value
    return data


@pytest.mark.django_db(transaction=True)
async def test_a_change_reaches_a_fresh_read():
    def save() -> tuple[int, str]:
        from django.contrib.auth import get_user_model

        user = get_user_model().objects.create_user("chief", password="x" * 12, is_staff=True)
        row, _ = StrategySettings.objects.get_or_create(id=1)
        client = Client()
        client.force_login(user)
        page = client.get("/settings/")
        assert page.status_code == 200 and b"Semantic threshold" in page.content
        data = _post_data(row, semantic_threshold=0.81, streaming=False, rag_top_k=7)
        response = client.post("/settings/", data)
        return response.status_code, response.get("Location", "")

    await strategy_settings_get()  # this process holds a copy now
    status, location = await sync_to_async(save)()
    assert status == 302 and location.endswith("?saved=1")
    strategy_settings_forget()  # what a second later looks like in any worker
    fresh = await strategy_settings_get()
    assert fresh.semantic_threshold == pytest.approx(0.81)
    assert fresh.streaming is False
    assert fresh.rag_top_k == 7


@pytest.mark.django_db
def test_an_invalid_value_is_refused_and_shown(staff_user):  # noqa: ANN001
    row, _ = StrategySettings.objects.get_or_create(id=1)
    client = Client()
    client.force_login(staff_user)
    response = client.post("/settings/", _post_data(row, semantic_threshold=1.7))
    assert response.status_code == 200
    assert b"errorlist" in response.content
    row.refresh_from_db()
    assert row.semantic_threshold != 1.7


@pytest.mark.django_db
def test_alert_thresholds_are_editable(staff_user):  # noqa: ANN001
    row, _ = StrategySettings.objects.get_or_create(id=1)
    rule = AlertRule.objects.create(name="slow", metric="total_p95", threshold=2000)
    client = Client()
    client.force_login(staff_user)
    data = _post_data(row)
    index = next(i for i in range(10) if data.get(f"rules-{i}-id") == rule.id)
    data[f"rules-{index}-threshold"] = 2500
    assert client.post("/settings/", data).status_code == 302
    rule.refresh_from_db()
    assert rule.threshold == 2500

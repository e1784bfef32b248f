"""A staff member in Chromium watches the dashboard; a new request appears without a reload."""

from __future__ import annotations

import json
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

from latency.testing.browser import page_log_in

# No django_db mark: Playwright's sync API runs an event loop in this thread, so the ORM is
# reached from a worker thread; daphne (live_app) serves the same test database.


def _in_thread(django_db_blocker, function):  # noqa: ANN001, ANN202
    def run():  # noqa: ANN202
        from django.db import connections

        try:
            return function()
        finally:
            connections.close_all()

    with django_db_blocker.unblock(), ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result()


def _people(suffix: str) -> tuple[str, str, str]:
    from django.contrib.auth import get_user_model

    from latency.gateway.keys import api_key_create

    users = get_user_model().objects
    staff = users.create_user(f"staff-{suffix}", password="a-long-passphrase-42", is_staff=True)
    caller = users.create_user(f"caller-{suffix}", password="a-long-passphrase-42")
    return staff.username, "a-long-passphrase-42", api_key_create(user=caller)


def _ask(base_url: str, key: str) -> None:
    request = urllib.request.Request(
        f"{base_url}/v1/chat/completions",
        data=json.dumps({"model": "gpt-4o-mini", "stream": False,
                         "messages": [{"role": "user", "content": "Is this live?"}]}).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200


def test_a_new_request_appears_on_the_open_dashboard(live_app, browser, django_db_blocker):  # noqa: ANN001
    username, password, key = _in_thread(django_db_blocker, lambda: _people(uuid.uuid4().hex[:8]))
    # Playwright evaluates its waits with eval, which the app's CSP rightly forbids.
    page = browser.new_context(bypass_csp=True).new_page()
    page_log_in(page=page, base_url=live_app.url, username=username, password=password)

    page.goto(f"{live_app.url}/dashboard/?window=5m")
    page.wait_for_selector('#live-state[data-state="live"]', timeout=10_000)
    page.evaluate("window.__notReloaded = true")
    before = page.evaluate(
        "[...document.querySelectorAll('#recent-rows tr')].map(r => r.dataset.traceId)"
    )
    requests_before = int(page.inner_text(".cards .figure strong"))

    _ask(live_app.url, key)
    page.wait_for_function(
        "ids => [...document.querySelectorAll('#recent-rows tr')]"
        ".some(r => !ids.includes(r.dataset.traceId))",
        arg=before, timeout=2_000,
    )  # fmt: skip
    assert page.evaluate("window.__notReloaded") is True
    new_row = page.locator("#recent-rows tr").first
    assert "gpt-4o-mini" in new_row.inner_text()

    figure = "parseInt(document.querySelector('.cards .figure strong').textContent)"
    page.wait_for_function(f"{figure} > {requests_before}", timeout=10_000)  # figures refresh
    new_row.click()
    page.wait_for_selector("#waterfall ol.waterfall li[data-stage]")
    assert page.locator("#waterfall li[data-stage='generation']").count() == 1
    assert page.evaluate("window.__notReloaded") is True
    page.close()

"""A person in Chromium: sign up, chat, watch the answer stream in, stop one midway."""

from __future__ import annotations

import uuid

from latency.testing.browser import page_sign_up

# No django_db mark: Playwright's sync API runs an event loop in this thread, so the test never
# touches the ORM itself. The daphne process writes to the test database; users are unique.

RECORD_GROWTH = """
() => {
  window.__growth = [];
  const messages = document.getElementById('messages');
  new MutationObserver(() => {
    const streaming = messages.querySelector('article.assistant[data-state="streaming"]');
    if (streaming) window.__growth.push(streaming.textContent.trim().length);
  }).observe(messages, {childList: true, subtree: true, characterData: true});
}
"""



def test_answer_streams_into_the_page_and_stop_keeps_a_partial(live_app, browser, simulator):  # noqa: ANN001
    # Playwright evaluates its waits with eval, which the app's CSP rightly forbids.
    page = browser.new_context(bypass_csp=True).new_page()
    page_sign_up(page=page, base_url=live_app.url)
    page.click("#new-conversation")
    page.wait_for_selector("#composer textarea")
    page.wait_for_function("document.querySelector('[ws-connect]') !== null")
    page.evaluate(RECORD_GROWTH)

    # A question of its own: another test's same question would be a cache hit, whole at once.
    page.fill("#composer textarea", f"How do websockets keep latency low ({uuid.uuid4().hex[:8]})?")
    page.keyboard.press("Enter")
    done = page.wait_for_selector('article.assistant[data-state="done"]', timeout=20_000)
    growth = [n for n in page.evaluate("window.__growth") if n > 0]
    assert len(set(growth)) >= 2, f"the answer should grow in steps, saw {growth}"
    assert done.get_attribute("data-model")
    assert float(done.get_attribute("data-ttft-ms")) <= float(done.get_attribute("data-total-ms"))
    assert done.get_attribute("data-cache") in {"hit", "miss", "off"}
    assert "TTFT" in done.inner_text() and "seen here" in done.inner_text()
    assert page.input_value("#composer textarea") == "", "the box is cleared after sending"

    simulator.configure(time_scale=5.0)  # slow pacing, so there is time to press stop
    try:
        page.fill("#composer textarea", "Now write a much longer answer please")
        page.click("#send")
        page.wait_for_function(
            "() => { const a = document.querySelector("
            "'article.assistant[data-state=\"streaming\"]');"
            " return a && a.textContent.trim().length > 0; }",
            timeout=20_000,
        )
        page.click("#stop")
        stopped = page.wait_for_selector('article.assistant[data-state="stopped"]', timeout=10_000)
    finally:
        simulator.configure(time_scale=0.1)
    assert stopped.inner_text().strip()
    assert "stopped" in stopped.inner_text()

    page.reload()
    assert page.locator("article.assistant[data-state=done]").count() == 1
    assert page.locator("article.assistant[data-state=stopped]").count() == 1
    assert page.locator("article.user").count() == 2
    page.close()


def test_other_users_cannot_open_my_conversation(live_app, browser):  # noqa: ANN001
    # Playwright evaluates its waits with eval, which the app's CSP rightly forbids.
    owner = browser.new_context(bypass_csp=True).new_page()
    page_sign_up(page=owner, base_url=live_app.url)
    owner.click("#new-conversation")
    owner.wait_for_selector("#composer textarea")
    conversation_url = owner.url
    owner.close()

    intruder = browser.new_context(bypass_csp=True).new_page()
    page_sign_up(page=intruder, base_url=live_app.url)
    response = intruder.goto(conversation_url)
    assert response.status == 404
    intruder.close()


def test_a_socket_the_server_closes_says_why_on_the_page(live_app, browser):  # noqa: ANN001
    # A flood of frames (here, the composer submitted 60 times at once) ends the socket with 1008;
    # the page says why rather than going quiet (daphne passes no close reason on).
    page = browser.new_context(bypass_csp=True).new_page()
    page_sign_up(page=page, base_url=live_app.url)
    page.click("#new-conversation")
    page.wait_for_selector("#composer textarea")
    page.wait_for_function("document.querySelector('[ws-connect]') !== null")
    page.wait_for_timeout(500)  # the socket opens
    page.evaluate(
        "() => { const form = document.getElementById('composer');"
        " for (let i = 0; i < 60; i++) {"
        " form.querySelector('textarea').value = 'again ' + i; form.requestSubmit(); } }"
    )
    page.wait_for_function(
        "() => document.getElementById('notices').textContent.includes('Too many messages')",
        timeout=20_000,
    )
    page.close()

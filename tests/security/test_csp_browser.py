"""The pages work under the Content-Security-Policy: in Chromium, chat sends a message and shows
the answer, the documents page loads, and the browser reports no CSP violation."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from latency.testing.browser import page_sign_up
from latency.testing.processes import ROOT, Child, daphne_start

# No django_db mark: Playwright's sync API runs an event loop in this thread (see
# tests/browser/test_chat_browser.py); daphne writes to the test database, users are unique.

RECORD_VIOLATIONS = """
() => {
  window.__violations = [];
  document.addEventListener('securitypolicyviolation', (event) => {
    window.__violations.push(event.violatedDirective + ' ' + event.blockedURI);
  });
}
"""


@pytest.fixture(scope="module")
def live_app(test_database_env, simulator) -> Iterator[Child]:  # noqa: ANN001
    """As tests/conftest.py's, with more time to start: on a loaded 2-core machine the embedding
    model takes longer than its 60 s to load."""
    child_env = {**test_database_env, "SIMULATOR_URL": simulator.url,
                 "ALLOWED_HOSTS": "127.0.0.1,localhost"}  # fmt: skip
    (ROOT / ".data").mkdir(exist_ok=True)
    app = daphne_start(env=child_env, log_path=ROOT / ".data" / "test-daphne-csp.log",
                       timeout_s=300)  # fmt: skip
    yield app
    app.stop()


def test_chat_works_under_the_policy_with_no_violations(live_app, browser):  # noqa: ANN001
    context = browser.new_context()
    page = context.new_page()
    console = []
    page.on("console", lambda message: console.append(message.text))
    page.add_init_script(f"({RECORD_VIOLATIONS})()")
    policies = []
    page.on("response", lambda response: policies.append(
        response.headers.get("content-security-policy")) if response.request.resource_type
        == "document" else None)  # fmt: skip
    page_sign_up(page=page, base_url=live_app.url)
    page.click("#new-conversation")
    page.wait_for_selector("#composer textarea")
    page.wait_for_function("document.querySelector('[ws-connect]') !== null")
    page.fill("#composer textarea", "How do websockets keep latency low?")
    page.keyboard.press("Enter")
    done = page.wait_for_selector('article.assistant[data-state="done"]', timeout=30_000)
    assert done.inner_text().strip()
    assert page.input_value("#composer textarea") == "", "cleared by chat.js, not inline hx-on"
    chat_violations = page.evaluate("window.__violations")

    page.goto(f"{live_app.url}/documents/")
    page.wait_for_selector("#upload-form")
    document_violations = page.evaluate("window.__violations")
    context.close()

    assert policies and all(policy and "default-src 'self'" in policy for policy in policies)
    assert chat_violations == [] and document_violations == []
    assert not [text for text in console if "Content Security Policy" in text], console

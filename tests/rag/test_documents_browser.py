"""A person in Chromium uploads several files at once, watches them ingest, and reads a clear
error for the broken ones. daphne (`live_app`) and the real task worker run on the test DB."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from latency.core.db_async import connection_params
from latency.testing.browser import page_sign_up
from tests.rag import samples

# No django_db mark: Playwright's sync API runs an event loop in this thread, so the test never
# touches the ORM itself; daphne and the worker write to the test database.

RECORD = """
() => {
  window.__progress = [];
  window.__statuses = [];
  htmx.on('#upload-form', 'htmx:xhr:progress', (e) => window.__progress.push(e.detail.loaded));
  document.body.addEventListener('htmx:load', (e) => {
    const row = e.target.closest && e.target.closest('tr.document');
    if (row) window.__statuses.push(row.dataset.status + ':' + row.id);
  });
}
"""


@contextmanager
def _chunk_writes_held() -> Iterator[None]:
    """Holds back every write to the chunk index, so ingestion stays in its processing stage
    long enough for a person (and the page's 1 s poll) to see it, however fast embedding is."""
    with psycopg.connect(**connection_params()) as held:
        held.execute("LOCK TABLE latency_chunk IN SHARE MODE")
        yield
        held.rollback()


def _row(page, filename: str):  # noqa: ANN001, ANN202
    return page.locator("tr.document", has_text=filename)


def test_upload_several_files_and_watch_them_ingest(live_app, documents_worker, browser):  # noqa: ANN001
    # Playwright evaluates its waits with eval, which the app's CSP rightly forbids.
    page = browser.new_context(bypass_csp=True).new_page()
    page_sign_up(page=page, base_url=live_app.url, prefix="docs")
    page.click("text=Documents")
    page.wait_for_url(f"{live_app.url}/documents/")
    page.evaluate(RECORD)

    markdown = samples.markdown_long(sections=3, paragraphs=6).encode()
    docx = samples.docx_bytes(title="Report", sections={"Findings": ["Latency fell by half."]})
    page.set_input_files(
        "#upload-files",
        [
            {"name": "handbook.md", "mimeType": "text/markdown", "buffer": markdown},
            {"name": "report.docx", "mimeType": "application/octet-stream", "buffer": docx},
            {"name": "broken.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.7\nnope"},
            {"name": "latin1.txt", "mimeType": "text/plain", "buffer": b"caf\xe9 cr\xe8me"},
        ],
    )
    with _chunk_writes_held():
        page.click("#upload-button")
        page.wait_for_selector("#upload-results li.outcome >> nth=3")
        results = page.inner_text("#upload-results")
        assert results.count("queued for ingestion") == 3
        assert "latin1.txt: The text is not UTF-8" in results
        assert page.eval_on_selector("#upload-progress", "p => p.value") == 100
        assert page.evaluate("window.__progress.length") > 0, "the bar followed the upload"
        processing = page.wait_for_selector("tr.document[data-status=processing]", timeout=60_000)
        assert processing.query_selector("progress[aria-label='Ingestion progress']")

    ready = "tr.document[data-status=ready]"
    for filename in ("handbook.md", "report.docx", "broken.pdf"):
        _row(page, filename).wait_for()
    page.wait_for_function(f"document.querySelectorAll('{ready}').length === 2", timeout=180_000)
    failed = page.wait_for_selector("tr.document[data-status=failed]", timeout=30_000)
    assert "broken.pdf" in failed.inner_text() and "damaged" in failed.inner_text()
    assert int(_row(page, "handbook.md").locator(".doc-chunks").inner_text()) > 3
    statuses = page.evaluate("window.__statuses")
    assert any(status.startswith("processing:") for status in statuses), statuses
    assert any(status.startswith("ready:") for status in statuses), statuses
    assert page.locator("tr.document[hx-trigger]").count() == 0, "finished rows stop polling"

    page.on("dialog", lambda dialog: dialog.accept())
    _row(page, "report.docx").locator("button.danger").click()
    _row(page, "report.docx").wait_for(state="detached")
    page.reload()
    assert page.locator("tr.document").count() == 2
    page.close()

"""A person in Chromium: start a job on /batch/ from pasted lines, watch its bar move to the
end, download the results as CSV."""

from __future__ import annotations

import csv
import io
import uuid
from pathlib import Path

import pytest

from latency.testing.browser import page_sign_up
from tests.batching.conftest import INSTRUCTION, worker_start

# No django_db mark: Playwright's sync API runs an event loop in this thread (see
# tests/browser/). The daphne and worker processes write to the test database.


@pytest.fixture
def slow(simulator):  # noqa: ANN001, ANN201
    # The page polls its row once a second: a job that ends within a second or two (a quiet
    # machine at time scale 0.5) shows only 0 and 60. At twice the profiles' real time the job's
    # two waves of chunks take a few seconds, as a person watching a bar would see them.
    simulator.configure(time_scale=2.0)
    yield
    simulator.configure(time_scale=0.1)


def test_job_bar_moves_and_results_download(live_app, browser, worker_env, slow) -> None:  # noqa: ANN001
    worker = worker_start(env=worker_env, name="browser")
    try:
        # Playwright evaluates its waits with eval, which the app's CSP rightly forbids.
        page = browser.new_context(bypass_csp=True).new_page()
        page_sign_up(page=page, base_url=live_app.url, prefix="batch")
        page.goto(f"{live_app.url}/batch/")
        salt = uuid.uuid4().hex[:6]
        lines = "\n".join(f"Review {salt} number {n}: it was fine" for n in range(60))
        page.fill("textarea[name=lines]", lines)
        page.fill("input[name=instruction]", INSTRUCTION)
        page.click("#batch-form button[type=submit]")
        row = page.wait_for_selector("tr.batch", timeout=10_000)
        seen = set()
        for _ in range(600):
            row = page.query_selector("tr.batch")
            seen.add(int(row.get_attribute("data-done")))
            if row.get_attribute("data-status") == "completed":
                break
            page.wait_for_timeout(100)
        assert row.get_attribute("data-status") == "completed"
        assert len(seen) >= 3, f"the bar should move in steps, saw {sorted(seen)}"
        assert page.get_attribute("tr.batch progress", "value") == "60"
        with page.expect_download() as download:
            page.click("tr.batch a.download-csv")
        rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
        assert len(rows) == 60 and all(r["state"] == "done" and r["answer"] for r in rows)
    finally:
        worker.stop()

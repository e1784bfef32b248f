"""`latency_bench overhead`: the TTFT a person sees in Chromium against the TTFT the upstream was
asked to produce. The difference is what the app adds (websocket, pipeline, database, DOM)."""

from __future__ import annotations

import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any, TextIO

from django.contrib.auth import get_user_model

from latency.bench.report import histogram_print, percentiles, progress, table_print
from latency.testing.browser import chromium_launch, page_log_in
from latency.testing.processes import daphne_start, simulator_start

QUESTIONS = [
    "What is a websocket?",
    "How does streaming reduce perceived latency?",
    "Explain time to first token.",
    "Why do caches help LLM apps?",
    "What is pgvector used for?",
    "How does HNSW search work?",
    "When should I use a smaller model?",
    "What is a heavy tail in latency?",
    "How do I measure p95 latency?",
    "What does htmx do?",
]


def overhead_run(
    *, out: TextIO, messages: int = 60, concurrency: int = 1, **_: Any
) -> tuple[dict, dict]:
    """One person in Chromium when `concurrency` is 1; N websocket conversations otherwise."""
    if concurrency > 1:
        from latency.bench.overhead_ws import overhead_concurrent_run

        return overhead_concurrent_run(out=out, messages=messages, concurrency=concurrency)
    from latency.cache.service import cache_entries_forget
    from latency.models import CacheEntry, Message, RequestTrace

    work = Path(tempfile.mkdtemp(prefix="bench-overhead-"))
    # This measures misses (the model answers): forget what earlier runs cached for these
    # questions, and leave hits out of the comparison below.
    asked = [_question(index) for index in range(messages)]
    cache_entries_forget(entries=CacheEntry.objects.filter(query__in=asked))
    username, password = f"bench-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    get_user_model().objects.create_user(username, password=password)
    simulator = simulator_start(time_scale=1.0, seed=7, stderr_path=work / "simulator.err")
    web = daphne_start(env={"SIMULATOR_URL": simulator.url}, log_path=work / "daphne.log")
    try:
        seen = _browser_chat(url=web.url, username=username, password=password, count=messages)
    finally:
        web.stop()
    rows, hedged = [], 0
    for message_id, browser_ttft, browser_total in seen:
        message = Message.objects.get(id=message_id)
        trace = RequestTrace.objects.get(uid=message.trace_uid)
        if not trace.upstream_id:
            continue  # a cache hit: nothing upstream to compare with
        if "hedged to" in trace.decision:
            # Two upstream calls, the winner started later: its planned TTFT is no reference.
            hedged += 1
            continue
        planned = simulator.log(completion_id=trace.upstream_id)[-1]["planned_ttft_ms"]
        rows.append(
            {
                "browser_ttft_ms": browser_ttft,
                "server_ttft_ms": message.ttft_ms,
                "planned_ttft_ms": planned,
                "added_ms": browser_ttft - planned,
                "server_added_ms": message.ttft_ms - planned,
                "browser_total_ms": browser_total,
                "model": message.model,
            }
        )
    simulator.stop()
    stats = {
        key: percentiles([row[key] for row in rows])
        for key in (
            "planned_ttft_ms",
            "server_ttft_ms",
            "browser_ttft_ms",
            "added_ms",
            "server_added_ms",
            "browser_total_ms",
        )
    }
    table_print(
        out,
        f"TTFT over {len(rows)} model answers ({hedged} hedged left out), ms",
        ["measure", "n", "p50", "p95", "p99", "mean"],
        [[name, s["n"], s["p50"], s["p95"], s["p99"], s["mean"]] for name, s in stats.items()],
    )
    histogram_print(
        out, "Added latency seen in the browser (ms)", [row["added_ms"] for row in rows]
    )
    return {
        "stats": stats,
        "messages": len(rows),
        "hedged_left_out": hedged,
        "cache_hits_left_out": len(seen) - len(rows) - hedged,
    }, {}


def _browser_chat(*, url: str, username: str, password: str, count: int) -> list[tuple]:
    from playwright.sync_api import sync_playwright

    seen = []
    with sync_playwright() as playwright:
        browser = chromium_launch(playwright=playwright)
        # Playwright evaluates its waits with eval, which the app's CSP rightly forbids.
        page = browser.new_context(bypass_csp=True).new_page()
        page_log_in(page=page, base_url=url, username=username, password=password)
        for index in range(count):
            if index % 10 == 0:  # a fresh conversation every ten turns keeps prompts comparable
                page.goto(f"{url}/")
                page.click("#new-conversation")
                page.wait_for_selector("#composer textarea")
                page.wait_for_timeout(300)  # let the websocket open
            done_before = page.locator("article.assistant[data-state=done]").count()
            page.fill("#composer textarea", _question(index))
            page.keyboard.press("Enter")
            page.wait_for_function(
                f"document.querySelectorAll('article.assistant[data-state=done]').length > "
                f"{done_before}",
                timeout=30_000,
            )
            article = page.locator("article.assistant[data-state=done]").last
            seen.append(
                (
                    int(article.get_attribute("id").removeprefix("msg-")),
                    float(article.get_attribute("data-seen-ttft-ms")),
                    float(article.get_attribute("data-seen-total-ms")),
                )
            )
            progress(sys.stderr, index + 1, count, "messages")
        browser.close()
    return seen


def _question(index: int) -> str:
    return f"{QUESTIONS[index % len(QUESTIONS)]} ({index})"

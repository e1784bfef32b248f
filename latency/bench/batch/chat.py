"""Chat while a job runs: N people chatting over the websocket as the browser does (the
overhead bench's conversations), against serve's web processes, without a job, with a job of
`items` running in serve's batch worker, and without again; time to the first token fragment
at the client. Only turns sent while the job still had items open count as "with"."""

from __future__ import annotations

import asyncio
import time
from typing import Any, TextIO

from latency.bench.batch.arms import items_done, job_make, job_wait, reviews_make
from latency.bench.overhead_ws import conversations_run
from latency.bench.report import percentiles
from latency.testing.serve import ServeChild
from latency.testing.sessions import session_key_make

START_TIMEOUT_S = 120.0  # until the worker has answered the job's first items


def _ttfts(answers: list[dict[str, Any]], *, until: float | None = None) -> list[float]:
    return [
        a["client_ttft_ms"] for a in answers
        if not a["error"] and a.get("client_ttft_ms") is not None
        and (until is None or a["sent_at"] < until)
    ]  # fmt: skip


def chat_arms(*, serve: ServeChild, items: int, users: int, messages: int,
              out: TextIO) -> dict[str, Any]:  # fmt: skip
    from django.contrib.auth import get_user_model

    from latency.batching.jobs import job_cancel
    from latency.models import BatchJob

    user = get_user_model().objects.create_user(f"bench-batch-chat-{time.time_ns()}")
    session = session_key_make(user=user)

    def chat(count: int) -> list[dict[str, Any]]:
        return asyncio.run(conversations_run(url=serve.url, user=user, session=session,
                                             concurrency=users, messages=count))  # fmt: skip

    out.write(f"\nchat: {users} people, {messages // 2} + {messages // 2} answers without a job, "
              f"{messages} with a {items}-item job running\n")  # fmt: skip
    chat(min(users, 4) * 2)  # untimed: a fresh web process's first answers pay its lazy starts
    before = chat(messages // 2)
    job = job_make(reviews=reviews_make(count=items, seed=29), name="latency_bench batch: chat")
    deadline = time.monotonic() + START_TIMEOUT_S
    while items_done(job_id=job.id) == 0:
        if time.monotonic() > deadline:
            raise RuntimeError("the batch worker answered nothing of the chat arm's job")
        time.sleep(0.1)
    done_at_start, started = items_done(job_id=job.id), time.time()
    during = chat(messages)
    ended = time.time()
    job.refresh_from_db()
    done_at_end = items_done(job_id=job.id)
    finished_at = job.completed_at.timestamp() if job.completed_at else None
    if not job.finished:
        job_cancel(job=job)  # takes effect within a second: the "after" arm runs without it
    job = job_wait(job_id=job.id, out=out, label="chat job stopped", timeout_s=120)
    after = chat(messages // 2)
    without = _ttfts(before) + _ttfts(after)
    with_job = _ttfts(during, until=finished_at)
    errors = sum(bool(a["error"]) for a in before + during + after)
    return {
        "users": users, "job_items": items, "errors": errors,
        "without_ms": percentiles(without), "with_job_ms": percentiles(with_job),
        "before_ms": percentiles(_ttfts(before)), "after_ms": percentiles(_ttfts(after)),
        "with_job_turns_left_out": len(_ttfts(during)) - len(with_job),
        "job_items_during_chat": done_at_end - done_at_start,
        "job_items_per_s_during_chat": round((done_at_end - done_at_start) / (ended - started), 2),
        "job_status_after": job.status,
        "job_cancelled": job.status == BatchJob.Status.CANCELLED,
    }  # fmt: skip

"""The throughput arms: asking the simulator directly (one at a time, or concurrently and
unpacked: each item alone, the reference for every answer) and a real job of the app's, run
by the batch worker that `manage.py serve` started, from its creation to its last answer."""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
import uuid
from typing import Any, TextIO

import openai

from latency.bench.report import progress

INSTRUCTION = "Classify the sentiment of this review as positive, negative or neutral: {text}"
MODEL = "gpt-4o-mini"
CONCURRENCY = 16  # the unpacked arm's requests in flight: BATCH_MAX_CONCURRENCY's default
_OPENERS = ["The battery", "Customer support", "The screen", "Delivery", "The price", "Setup",
            "The camera", "Build quality", "The app", "Sound"]  # fmt: skip
_VERDICTS = ["was excellent", "broke after a week", "is fine, nothing special", "exceeded hopes",
             "was a let-down", "works as described", "is confusing", "made my day"]  # fmt: skip


def reviews_make(*, count: int, seed: int = 13, repeat_share: float = 0.2) -> list[str]:
    """`count` short reviews, about `repeat_share` of them repeats of earlier ones; a fresh salt
    a call, so that no cache has seen them."""
    rng, salt = random.Random(seed), uuid.uuid4().hex[:6]
    reviews: list[str] = []
    for n in range(count):
        if reviews and rng.random() < repeat_share:
            reviews.append(rng.choice(reviews))
        else:
            reviews.append(f"{rng.choice(_OPENERS)} {rng.choice(_VERDICTS)} (order {salt}-{n}).")
    return reviews


async def _alone(client: openai.AsyncOpenAI, prompt: str, stats: dict[str, int]) -> str:
    while True:
        try:
            completion = await client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": prompt}]
            )
        except openai.RateLimitError as error:
            stats["rate_limited"] += 1
            await asyncio.sleep(float(error.response.headers.get("retry-after", "1")))
            continue
        stats["requests"] += 1
        stats["prompt_tokens"] += completion.usage.prompt_tokens if completion.usage else 0
        return completion.choices[0].message.content or ""


async def arm_direct(*, base_url: str, prompts: list[str], concurrency: int, out: TextIO,
                     label: str) -> dict[str, Any]:  # fmt: skip
    """Every prompt asked alone, `concurrency` at a time, honouring 429s' Retry-After."""
    stats = {"requests": 0, "prompt_tokens": 0, "rate_limited": 0}
    client = openai.AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0)
    gate, done, answers = asyncio.Semaphore(concurrency), 0, [""] * len(prompts)

    async def one(index: int) -> None:
        nonlocal done
        async with gate:
            answers[index] = await _alone(client, prompts[index], stats)
        done += 1
        if done % 10 == 0 or done == len(prompts):
            progress(sys.stderr, done, len(prompts), label)

    start = time.perf_counter()
    try:
        await asyncio.gather(*(one(i) for i in range(len(prompts))))
    finally:
        await client.close()
    wall = time.perf_counter() - start
    return {**stats, "items": len(prompts), "wall_s": wall, "answers": answers,
            "accounted": len(prompts), "answered_twice": 0}  # fmt: skip


def job_make(*, reviews: list[str], name: str) -> Any:
    """A job as the /batch/ page makes one (pasted lines, the instruction), for a fresh user."""
    from django.contrib.auth import get_user_model

    from latency.batching.inputs import rows_parse
    from latency.batching.jobs import job_create
    from latency.models import BatchJob

    user = get_user_model().objects.create_user(f"bench-batch-{uuid.uuid4().hex[:8]}")
    parsed = rows_parse(data="\n".join(reviews).encode(), filename="pasted",
                        instruction=INSTRUCTION, model=MODEL)  # fmt: skip
    return job_create(owner=user, parsed=parsed, source=BatchJob.Source.PAGE, name=name)


def items_done(*, job_id: int) -> int:
    from latency.models import BatchItem

    return BatchItem.objects.filter(job_id=job_id, state=BatchItem.State.DONE).count()


def job_wait(*, job_id: int, out: TextIO, label: str, timeout_s: float) -> Any:
    """Poll until the job has finished (any final status), showing its progress."""
    from latency.models import BatchJob

    deadline = time.monotonic() + timeout_s
    while True:
        job = BatchJob.objects.get(id=job_id)
        if job.finished:
            progress(sys.stderr, job.total, job.total, label)
            return job
        progress(sys.stderr, items_done(job_id=job_id), job.total, label)
        if time.monotonic() > deadline:
            raise RuntimeError(f"the {label} job is still {job.status} after {timeout_s:.0f} s")
        time.sleep(0.25)


def job_outcome(*, job: Any) -> dict[str, Any]:
    """What a finished job gave back: answers by index, items accounted for (in the output file
    with an answer, or in the error file with a reason, each once), answered twice."""
    from latency.models import BatchItem

    items = list(BatchItem.objects.filter(job=job).order_by("index"))
    lines = []
    for file in (job.output_file, job.error_file):
        lines += [json.loads(line) for line in bytes(file.data).splitlines()] if file else []
    ids = [line["custom_id"] for line in lines]
    explained = {
        line["custom_id"] for line in lines
        if (line.get("response") or {}).get("status_code") == 200
        or (line.get("error") or {}).get("message")
    }  # fmt: skip
    return {
        "requests": job.upstream_requests, "prompt_tokens": job.prompt_tokens,
        "completion_tokens": job.completion_tokens, "rate_limited": job.rate_limited,
        "answers": [i.answer for i in items], "status": job.status,
        "accounted": len(explained & {i.custom_id for i in items}),
        "answered_twice": len(ids) - len(set(ids)),
        "from_cache": sum(i.from_cache for i in items),
        "repeats": sum(i.duplicate_of_id is not None for i in items),
        "packed": sum(i.packed for i in items),
        "failed": sum(i.state in ("failed", "expired") for i in items),
    }  # fmt: skip


def arm_job(*, reviews: list[str], out: TextIO) -> dict[str, Any]:
    """The app's default: a job made as the page makes it, run by serve's batch worker; wall
    time from the job's creation (its rows included) to its last answer."""
    start = time.perf_counter()
    job = job_make(reviews=reviews, name="latency_bench batch: default")
    job = job_wait(job_id=job.id, out=out, label="default", timeout_s=1800)
    wall = time.perf_counter() - start
    return {"items": len(reviews), "wall_s": wall, **job_outcome(job=job)}

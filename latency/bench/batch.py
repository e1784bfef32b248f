"""`latency_bench batch`: a classification task of N items (~20% repeats) against the simulator,
three arms: one at a time; concurrent, unpacked; the app's default (cache + packing + adaptive
rate, a real job run). Items/s, wall time, upstream requests, prompt tokens, 429s, and answers
that differ from the one-at-a-time arm."""

from __future__ import annotations

import asyncio
import json
import os
import random
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, TextIO

import openai
from django.contrib.auth import get_user_model

from latency.bench.report import Target, progress, table_print
from latency.testing.processes import simulator_start

INSTRUCTION = "Classify the sentiment of this review as positive, negative or neutral: {text}"
MODEL = "gpt-4o-mini"
CONCURRENCY = 16
_OPENERS = ["The battery", "Customer support", "The screen", "Delivery", "The price", "Setup",
            "The camera", "Build quality", "The app", "Sound"]  # fmt: skip
_VERDICTS = ["was excellent", "broke after a week", "is fine, nothing special", "exceeded hopes",
             "was a let-down", "works as described", "is confusing", "made my day"]  # fmt: skip


def reviews_make(*, count: int, seed: int = 13, repeat_share: float = 0.2) -> list[str]:
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


async def _arm_direct(*, base_url: str, prompts: list[str], concurrency: int, out: TextIO,
                      label: str) -> dict[str, Any]:  # fmt: skip
    stats = {"requests": 0, "prompt_tokens": 0, "rate_limited": 0}
    client = openai.AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0)
    gate, done, answers = asyncio.Semaphore(concurrency), 0, [""] * len(prompts)

    async def one(index: int) -> None:
        nonlocal done
        async with gate:
            answers[index] = await _alone(client, prompts[index], stats)
        done += 1
        if done % 10 == 0 or done == len(prompts):
            progress(out, done, len(prompts), label)

    start = time.perf_counter()
    try:
        await asyncio.gather(*(one(i) for i in range(len(prompts))))
    finally:
        await client.close()
    wall = time.perf_counter() - start
    return {**stats, "wall_s": wall, "answers": answers, "accounted": len(prompts),
            "answered_twice": 0}  # fmt: skip


def _arm_default(*, reviews: list[str], out: TextIO) -> dict[str, Any]:
    from latency.batching.inputs import rows_parse
    from latency.batching.jobs import job_create
    from latency.batching.runner import job_run
    from latency.models import BatchItem, BatchJob

    user = get_user_model().objects.create_user(f"bench-batch-{uuid.uuid4().hex[:8]}")
    parsed = rows_parse(data="\n".join(reviews).encode(), filename="pasted",
                        instruction=INSTRUCTION, model=MODEL)  # fmt: skip
    job = job_create(owner=user, parsed=parsed, source=BatchJob.Source.PAGE, name="bench")
    start = time.perf_counter()
    asyncio.run(_job_watched(job_run, job, out))
    wall = time.perf_counter() - start
    job.refresh_from_db()
    items = list(BatchItem.objects.filter(job=job).order_by("index"))
    settled = sum(1 for i in items if i.state in ("done", "failed"))
    output = bytes(job.output_file.data).splitlines() if job.output_file else []
    ids = [json.loads(line)["custom_id"] for line in output]
    return {
        "requests": job.upstream_requests, "prompt_tokens": job.prompt_tokens,
        "rate_limited": job.rate_limited, "wall_s": wall, "answers": [i.answer for i in items],
        "accounted": settled, "answered_twice": len(ids) - len(set(ids)),
        "from_cache": sum(i.from_cache for i in items),
        "repeats": sum(i.duplicate_of_id is not None for i in items),
        "packed": sum(i.packed for i in items), "status": job.status,
    }  # fmt: skip


async def _job_watched(job_run, job, out: TextIO) -> None:  # noqa: ANN001
    from latency.models import BatchItem

    task = asyncio.create_task(job_run(job_id=job.id, worker_id=uuid.uuid4()))
    while not task.done():
        await asyncio.sleep(0.5)
        done = await BatchItem.objects.filter(job_id=job.id, state="done").acount()
        progress(out, done, job.total, "default") if done < job.total else None
    await task
    progress(out, job.total, job.total, "default")


def batch_run(*, out: TextIO, items: int = 2000, **_: Any) -> tuple[dict, dict]:
    from latency.embeddings.local import embedding_model_load
    from latency.providers.catalog import catalog_load
    from latency.providers.clients import clients

    work = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    simulator = simulator_start(time_scale=1.0, seed=11, stderr_path=work / "simulator.err")
    os.environ["SIMULATOR_URL"] = simulator.url  # the catalog's endpoints: this simulator
    catalog_load.cache_clear()
    clients.forget()
    embedding_model_load()
    reviews = reviews_make(count=items)
    prompts = [INSTRUCTION.format(text=review) for review in reviews]
    base_url = f"{simulator.url}/edge-eu/v1"
    try:
        arms = {
            "sequential": asyncio.run(_arm_direct(base_url=base_url, prompts=prompts,
                                                  concurrency=1, out=out, label="sequential")),
            "concurrent": asyncio.run(_arm_direct(base_url=base_url, prompts=prompts,
                                                  concurrency=CONCURRENCY, out=out,
                                                  label="concurrent")),
            "default": _arm_default(reviews=reviews, out=out),
        }  # fmt: skip
    finally:
        simulator.stop()
    reference = arms["sequential"]["answers"]
    results: dict[str, Any] = {"items": items, "unique": len(set(reviews))}
    rows = []
    for name, arm in arms.items():
        different = sum(a != b for a, b in zip(arm.pop("answers"), reference, strict=True))
        arm.update(items_per_s=items / arm["wall_s"], different_answers=different)
        results[name] = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in arm.items()}
        rows.append([name, arm["items_per_s"], arm["wall_s"], arm["requests"],
                     arm["prompt_tokens"], arm["rate_limited"], different])  # fmt: skip
    table_print(out, f"Batch: {items} classification items ({results['unique']} unique)",
                ["arm", "items/s", "wall s", "requests", "prompt tokens", "429s", "differ"],
                rows)  # fmt: skip
    default, unpacked = arms["default"], arms["concurrent"]
    targets = {
        "speedup_vs_sequential": Target(
            value=default["items_per_s"] / arms["sequential"]["items_per_s"], target=10.0,
            unit="x", higher_is_better=True),
        "prompt_tokens_saved_vs_unpacked": Target(
            value=1 - default["prompt_tokens"] / max(unpacked["prompt_tokens"], 1), target=0.5,
            unit="share", higher_is_better=True),
        "items_accounted_for": Target(value=default["accounted"] / items, target=1.0,
                                      unit="share", higher_is_better=True),
        "items_answered_twice": Target(value=default["answered_twice"], target=0, unit="items"),
        "different_answers": Target(value=default["different_answers"], target=0, unit="items"),
    }  # fmt: skip
    return results, targets

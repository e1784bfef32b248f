"""Background work beside the chat load, through the paths users take: a document posted to the
upload form (the documents worker ingests it) and a batch job through the openai SDK's Batch API
(the batch worker runs it); each timed from submission to its end."""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

import httpx

from latency.bench.ablation.clients import Target
from latency.bench.batch.arms import INSTRUCTION, MODEL, reviews_make
from latency.bench.gateway.load import TOPICS

BATCH_ENDS = {"completed", "failed", "cancelled", "expired"}
DOCUMENT_ENDS = {"ready", "failed"}


@dataclass
class Work:
    """One document or batch job: when it was submitted and when it ended, and how."""

    kind: str  # document or batch
    name: str
    started_at: float
    ended_at: float | None = None
    outcome: str = ""
    detail: dict[str, Any] | None = None


def document_text(*, salt: str, kilobytes: int) -> bytes:
    """Markdown of sections on varied topics, unique to `salt` (an upload of the same bytes is
    refused as already uploaded)."""
    rng, parts, size, section = random.Random(salt), [f"# Field notes {salt}\n"], 0, 0
    while size < kilobytes * 1024:
        topic, other = rng.sample(TOPICS, 2)
        sentences = " ".join(
            f"Survey {salt}-{section}-{n} counted {rng.randint(3, 9000)} samples of {topic} "
            f"near {other}, and the {rng.choice(TOPICS)} team noted a {rng.randint(2, 60)} "
            "percent change over the season." for n in range(8)
        )  # fmt: skip
        parts.append(f"\n## {topic.title()} and {other}, part {section}\n\n{sentences}\n")
        size, section = size + len(parts[-1]), section + 1
    return "".join(parts).encode()


async def document_post(*, target: Target, name: str, data: bytes) -> Work:
    """The upload form, as a browser posts it: the page for its CSRF token, then the file."""
    work = Work(kind="document", name=name, started_at=time.time())
    cookies = {"sessionid": target.session}
    async with httpx.AsyncClient(base_url=target.url, cookies=cookies, timeout=60) as http:
        await http.get("/documents/")
        response = await http.post(
            "/documents/upload/", data={"csrfmiddlewaretoken": http.cookies.get("csrftoken", "")},
            files={"files": (name, data, "text/markdown")},
            headers={"Referer": f"{target.url}/documents/"},
        )  # fmt: skip
    if response.status_code != 200:
        work.ended_at, work.outcome = time.time(), f"upload answered {response.status_code}"
    return work


async def work_wait(
    *, work: Work, status: Callable[[], Awaitable[str]], ends: set[str],
    detail: Callable[[], Awaitable[dict[str, Any]]], timeout_s: float,
) -> Work:  # fmt: skip
    """Poll `status()` until it is one of `ends` (then `detail()` says how it ended) or the
    time is up (the outcome is then "still <status>")."""
    deadline = time.monotonic() + timeout_s
    while work.ended_at is None:
        state = await status()
        if state in ends:
            work.ended_at, work.outcome = time.time(), state
            work.detail = await detail()
        elif time.monotonic() > deadline:
            work.ended_at, work.outcome = time.time(), f"still {state}"
        else:
            await asyncio.sleep(0.5)
    return work


async def document_wait(*, work: Work, user_id: int, timeout_s: float) -> Work:
    from latency.models import Chunk, Document

    rows = Document.objects.filter(owner_id=user_id, filename=work.name)

    async def status() -> str:
        return await rows.values_list("status", flat=True).afirst() or "not saved"

    async def chunks() -> dict[str, Any]:
        document_id, count = await rows.values_list("id", "chunk_count").aget()
        ordinals = [o async for o in Chunk.objects.filter(document_id=document_id)
                    .values_list("ordinal", flat=True)]  # fmt: skip
        return {"chunks": len(ordinals), "chunk_count": count,
                "duplicate_chunks": len(ordinals) - len(set(ordinals))}  # fmt: skip

    return await work_wait(work=work, status=status, ends=DOCUMENT_ENDS, detail=chunks,
                           timeout_s=timeout_s)  # fmt: skip


async def batch_post(*, api: Any, items: int, salt: str) -> tuple[Work, str]:
    """A classification job of `items` lines (a fifth repeats) through the Batch API."""
    lines = [
        {"custom_id": f"{salt}-{n}", "method": "POST", "url": "/v1/chat/completions",
         "body": {"model": MODEL, "messages": [
             {"role": "user", "content": INSTRUCTION.format(text=review)}]}}
        for n, review in enumerate(reviews_make(count=items))
    ]  # fmt: skip
    work = Work(kind="batch", name=salt, started_at=time.time())
    data = "".join(json.dumps(line) + "\n" for line in lines).encode()
    file = await api.files.create(file=(f"{salt}.jsonl", data), purpose="batch")
    batch = await api.batches.create(input_file_id=file.id, endpoint="/v1/chat/completions",
                                     completion_window="24h")  # fmt: skip
    return work, batch.id


async def batch_wait(*, api: Any, work: Work, batch_id: str, timeout_s: float) -> Work:
    last: list[Any] = []

    async def status() -> str:
        last[:] = [await api.batches.retrieve(batch_id)]
        return last[0].status

    async def answers() -> dict[str, Any]:
        batch, ids = last[0], []
        if batch.output_file_id:
            text = (await api.files.content(batch.output_file_id)).text
            ids = [json.loads(line)["custom_id"] for line in text.splitlines() if line]
        counts = batch.request_counts
        return {"total": counts.total if counts else None, "answered": len(set(ids)),
                "answered_twice": len(ids) - len(set(ids))}  # fmt: skip

    return await work_wait(work=work, status=status, ends=BATCH_ENDS, detail=answers,
                           timeout_s=timeout_s)  # fmt: skip


async def document_run(*, target: Target, kilobytes: int, timeout_s: float) -> Work:
    name = f"load-{uuid.uuid4().hex[:10]}.md"
    data = document_text(salt=name, kilobytes=kilobytes)
    work = await document_post(target=target, name=name, data=data)
    return await document_wait(work=work, user_id=target.user.pk, timeout_s=timeout_s)


async def batch_run(*, api: Any, items: int, timeout_s: float) -> Work:
    work, batch_id = await batch_post(api=api, items=items, salt=f"load-{uuid.uuid4().hex[:8]}")
    return await batch_wait(api=api, work=work, batch_id=batch_id, timeout_s=timeout_s)


async def background_during(
    *, target: Target, windows: list[tuple[float, float]], kilobytes: int, items: int,
    timeout_s: float,
) -> list[Work]:  # fmt: skip
    """In each (start, end) window of wall-clock time: one document after another, and beside
    them one batch job after another, each begun while the window is open."""
    from openai import AsyncOpenAI

    api = AsyncOpenAI(base_url=f"{target.url}/v1", api_key=target.api_key, max_retries=0)
    done: list[Work] = []

    async def loop(start: Any) -> None:
        for opens, closes in windows:
            await asyncio.sleep(max(0.0, opens - time.time()))
            while time.time() < closes:
                done.append(await start())

    try:
        await asyncio.gather(
            loop(lambda: document_run(target=target, kilobytes=kilobytes, timeout_s=timeout_s)),
            loop(lambda: batch_run(api=api, items=items, timeout_s=timeout_s)),
        )
    finally:
        await api.close()
    return done


def works_dicts(works: list[Work]) -> list[dict[str, Any]]:
    return [asdict(work) for work in works]

"""A job run in this process against the simulator: every item answered once, duplicates sent
once, the cache answering a second job, cancel, and leases lost to another worker."""

from __future__ import annotations

import time
import uuid

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model

from latency.batching.claims import Answer, item_answer, items_claim
from latency.batching.inputs import rows_parse
from latency.batching.jobs import job_cancel, job_create
from latency.batching.runner import job_run
from latency.models import BatchItem, BatchJob, RequestTrace
from tests.batching.conftest import INSTRUCTION, REVIEWS

pytestmark = pytest.mark.django_db(transaction=True)
REDIS_DB = 11  # this module's own Redis database: its clients are counted
REDIS_URL = f"redis://127.0.0.1:6379/{REDIS_DB}"


async def _job(name: str, reviews: list[str] = REVIEWS) -> BatchJob:
    user, _ = await get_user_model().objects.aget_or_create(username=name)
    data = "\n".join(reviews).encode()
    parsed = rows_parse(data=data, filename="pasted", instruction=INSTRUCTION, model="gpt-4o-mini")
    return await sync_to_async(job_create)(owner=user, parsed=parsed, source="page")


async def _items(job: BatchJob) -> list[BatchItem]:
    return [item async for item in BatchItem.objects.filter(job=job).order_by("index")]


async def test_job_answers_each_item_once_as_alone(alone_answer) -> None:  # noqa: ANN001
    job = await _job("runner-a")
    assert await job_run(job_id=job.id, worker_id=uuid.uuid4()) == "done"
    job = await BatchJob.objects.aget(id=job.id)
    assert job.status == BatchJob.Status.COMPLETED and job.completed_at is not None
    items = await _items(job)
    assert [i.state for i in items] == ["done"] * len(REVIEWS)
    assert items[3].duplicate_of_id == items[0].id and items[3].answer == items[0].answer
    for item, review in zip(items, REVIEWS, strict=True):
        assert item.answer == await alone_answer(INSTRUCTION.format(text=review))
    assert job.output_file_id is not None and job.error_file_id is None
    traces = RequestTrace.objects.filter(feature="background", source="batch")
    assert await traces.acount() >= 1


async def test_second_job_answered_from_cache() -> None:
    first = await _job("runner-b", ["Cached review one", "Cached review two"])
    await job_run(job_id=first.id, worker_id=uuid.uuid4())
    second = await _job("runner-c", ["Cached review one", "Cached review two"])
    await job_run(job_id=second.id, worker_id=uuid.uuid4())
    items = await _items(second)
    assert all(i.from_cache and i.state == "done" for i in items)
    assert [i.answer for i in items] == [i.answer for i in await _items(first)]
    second = await BatchJob.objects.aget(id=second.id)
    assert second.upstream_requests == 0 and second.saved_cache_tokens > 0


async def test_answer_with_a_lost_lease_is_not_written() -> None:
    job = await _job("runner-d", ["one", "two"])
    first, second = uuid.uuid4(), uuid.uuid4()
    claimed = await sync_to_async(items_claim)(job_id=job.id, worker_id=first, limit=1, lease_s=-1)
    # The lease already ran out: another worker takes the item over.
    taken = await sync_to_async(items_claim)(job_id=job.id, worker_id=second, limit=5, lease_s=30)
    assert claimed[0].id in {i.id for i in taken}
    late = await sync_to_async(item_answer)(item_id=claimed[0].id, worker_id=first,
                                            answer=Answer(text="late", model="m"))  # fmt: skip
    assert late is False
    assert await sync_to_async(item_answer)(item_id=claimed[0].id, worker_id=second,
                                            answer=Answer(text="mine", model="m"))  # fmt: skip
    assert (await BatchItem.objects.aget(id=claimed[0].id)).answer == "mine"


async def test_cancel_before_run_cancels_every_item() -> None:
    job = await _job("runner-e", ["a", "b", "c"])
    job = await sync_to_async(job_cancel)(job=job)
    assert job.status == BatchJob.Status.CANCELLED and job.cancelled_at is not None
    assert {i.state for i in await _items(job)} == {"cancelled"}
    assert await job_run(job_id=job.id, worker_id=uuid.uuid4()) == "nothing to do"


async def test_past_its_window_unfinished_items_expire_finished_ones_stay() -> None:
    from datetime import timedelta

    from django.utils import timezone

    from latency.batching.jobs import job_finalize

    job = await _job("runner-f", ["x1", "x2", "x3"])
    first = (await _items(job))[0]
    await BatchItem.objects.filter(id=first.id).aupdate(state="done", answer="kept")
    await BatchJob.objects.filter(id=job.id).aupdate(expires_at=timezone.now() - timedelta(1))
    assert await sync_to_async(job_finalize)(job_id=job.id)
    job = await BatchJob.objects.select_related("error_file", "output_file").aget(id=job.id)
    assert job.status == "expired" and job.expired_at is not None
    assert [i.state for i in await _items(job)] == ["done", "expired", "expired"]
    errors = bytes(job.error_file.data).decode()
    assert errors.count("batch_expired") == 2 and b"kept" in bytes(job.output_file.data)


async def test_retry_failed_items_runs_them_again() -> None:
    from latency.batching.jobs import job_finalize, job_retry_failed

    job = await _job("runner-g", ["retry one", "retry two"])
    await BatchItem.objects.filter(job=job).aupdate(state="failed", error="boom", attempts=3)
    await sync_to_async(job_finalize)(job_id=job.id)
    job = await BatchJob.objects.aget(id=job.id)
    assert job.status == "completed" and job.error_file_id is not None
    assert await sync_to_async(job_retry_failed)(job=job) == 2
    await job_run(job_id=job.id, worker_id=uuid.uuid4())
    job = await BatchJob.objects.aget(id=job.id)
    assert job.status == "completed" and job.error_file_id is None
    assert {i.state for i in await _items(job)} == {"done"}


def test_job_tasks_leave_no_connections_behind(settings) -> None:  # noqa: ANN001
    """Each job runs on an event loop of its own (the worker's task): the connections that loop
    opened for the cache's reads (PostgreSQL) and its exact tier (Redis) close with it,
    instead of piling up job after job until a server refuses more."""
    import redis
    from django.db import connection

    from latency.batching.tasks import batch_job_process
    from latency.core.db_async import APPLICATION_NAME

    settings.REDIS_URL = REDIS_URL
    watcher = redis.Redis.from_url(REDIS_URL)

    def open_connections() -> tuple[int, int]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
                           "AND datname = current_database()", [APPLICATION_NAME])  # fmt: skip
            postgres = cursor.fetchone()[0]
        return postgres, sum(1 for c in watcher.client_list() if int(c["db"]) == REDIS_DB)

    before = open_connections()
    for n in range(2):
        user = get_user_model().objects.create_user(f"runner-loop-{n}")
        data = "\n".join(f"{review} (job {n} {uuid.uuid4().hex[:6]})" for review in REVIEWS)
        parsed = rows_parse(data=data.encode(), filename="pasted", instruction=INSTRUCTION,
                            model="gpt-4o-mini")  # fmt: skip
        job = job_create(owner=user, parsed=parsed, source="page")
        batch_job_process.call(job_id=job.id)
        assert BatchJob.objects.get(id=job.id).status == BatchJob.Status.COMPLETED
    # A closed connection's server side ends a moment later: give it that moment.
    deadline = time.monotonic() + 3
    while open_connections() != before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert open_connections() == before


async def test_a_failed_lookup_gives_its_items_back_and_the_job_finishes(monkeypatch) -> None:  # noqa: ANN001
    import asyncio

    from latency.batching import runner

    real, calls = runner.cache_lookup, []

    async def flaky(**kwargs):  # noqa: ANN003, ANN202
        calls.append(kwargs["query"])
        if len(calls) == 1:
            raise ConnectionError("the cache's Redis went away")
        return await real(**kwargs)

    monkeypatch.setattr(runner, "cache_lookup", flaky)
    job = await _job("runner-h", ["flaky one", "flaky two", "flaky three"])
    # Before, the chunk's items stayed under a lease the worker kept renewing: no end.
    assert await asyncio.wait_for(job_run(job_id=job.id, worker_id=uuid.uuid4()), 60) == "done"
    items = await _items(job)
    assert [i.state for i in items] == ["done"] * 3
    assert {i.attempts for i in items} == {2}  # claimed again once, not failed

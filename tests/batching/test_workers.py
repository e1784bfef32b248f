"""Durable processing with real `batch_worker` processes: a worker killed with SIGKILL mid-job
leaves a job the next one finishes without answering any item twice; two workers share a job."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from django_tasks_db.models import DBTaskResult
from openai import OpenAI

from latency.batching.tasks import TASK_PATH
from latency.models import BatchItem, BatchJob
from tests.batching.conftest import api_user_make, batch_wait, lines_make, worker_start

pytestmark = pytest.mark.django_db(transaction=True)
ITEMS = 120


@pytest.fixture
def slow_simulator(simulator, request):  # noqa: ANN001, ANN201
    simulator.configure(time_scale=getattr(request, "param", 1.0))
    yield simulator
    simulator.configure(time_scale=0.1)


def _batch(live_app, username: str) -> tuple[OpenAI, str]:  # noqa: ANN001
    client = OpenAI(base_url=f"{live_app.url}/v1", api_key=api_user_make(username), max_retries=0)
    file = client.files.create(file=("in.jsonl", lines_make(ITEMS, salt=uuid.uuid4().hex)),
                               purpose="batch")  # fmt: skip
    batch = client.batches.create(input_file_id=file.id, endpoint="/v1/chat/completions",
                                  completion_window="24h")  # fmt: skip
    return client, batch.id


def _output_ids(client: OpenAI, file_id: str) -> list[str]:
    return [
        json.loads(line)["custom_id"] for line in client.files.content(file_id).text.splitlines()
    ]


def test_killed_worker_job_resumed_without_answering_twice(
    live_app, worker_env, slow_simulator
) -> None:  # noqa: ANN001
    first = worker_start(env=worker_env, name="killed")
    client, batch_id = _batch(live_app, "kill-9")
    items = BatchItem.objects.filter(job__uid=batch_id)
    deadline = time.monotonic() + 90
    while items.filter(state="done").count() < 10:
        assert time.monotonic() < deadline, "the first worker answered nothing"
        time.sleep(0.05)
    first.process.kill()  # SIGKILL: no cleanup, no release of its leases
    first.process.wait()
    first.stop()
    done_before = set(items.filter(state="done").values_list("id", flat=True))
    held = set(items.filter(state="running").values_list("id", flat=True))
    assert len(done_before) < ITEMS, "the job finished before the kill: make it longer"
    answers_before = dict(items.filter(id__in=done_before).values_list("id", "answer"))
    second = worker_start(env=worker_env, name="resumer")
    try:
        batch = batch_wait(client, batch_id, until={"completed", "failed"}, timeout=180)
    finally:
        second.stop()
    assert batch.status == "completed" and batch.request_counts.completed == ITEMS
    assert sorted(_output_ids(client, batch.output_file_id)) == sorted(
        f"r{n}" for n in range(ITEMS)
    )
    # What was answered before the kill stayed as it was; only items the dead worker held
    # were claimed a second time.
    assert dict(items.filter(id__in=done_before).values_list("id", "answer")) == answers_before
    retried = set(items.filter(attempts__gt=1).values_list("id", flat=True))
    assert retried <= held
    assert items.filter(state="done").count() == ITEMS


@pytest.mark.parametrize("slow_simulator", [0.3], indirect=True)
def test_two_workers_share_a_job_without_duplicates(live_app, worker_env, slow_simulator) -> None:  # noqa: ANN001
    workers = [worker_start(env=worker_env, name=f"pair-{n}") for n in range(2)]
    try:
        started = time.time()
        client, batch_id = _batch(live_app, "two-workers")
        batch = batch_wait(client, batch_id, until={"completed", "failed"}, timeout=180)
    finally:
        for worker in workers:
            worker.stop()
    assert batch.status == "completed"
    assert sorted(_output_ids(client, batch.output_file_id)) == sorted(
        f"r{n}" for n in range(ITEMS)
    )
    job = BatchJob.objects.get(uid=batch_id)
    runs = DBTaskResult.objects.filter(task_path=TASK_PATH, args_kwargs__kwargs__job_id=job.id)
    assert {tuple(r.worker_ids) for r in runs if r.status == "SUCCESSFUL"}.__len__() == 2
    # Every upstream call is one the job counted, and no item was sent alone twice.
    calls = [r for r in slow_simulator.log(after_ts=started) if r["started_ts"] >= started]
    assert len(calls) == job.upstream_requests
    alone = list(BatchItem.objects.filter(job=job, packed=False, from_cache=False,
                                          duplicate_of__isnull=True)
                 .values_list("request_id", flat=True))  # fmt: skip
    assert len(alone) == len(set(alone))
    # (An item may be claimed twice, after a connection error or a lease outrun on a loaded
    # machine; it is still answered once: the counts above match.)

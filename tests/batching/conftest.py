"""Batch fixtures: a user, an instruction, and the simulator's answer to one prompt alone."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from openai import AsyncOpenAI

from latency.testing.processes import ROOT, Child, batch_worker_start

INSTRUCTION = "Classify the sentiment of this review as positive, negative or neutral: {text}"
REVIEWS = ["Great phone, love it", "Battery died in a day", "It is a phone", "Great phone, love it",
           "Terrible support", "Works as described"]  # fmt: skip


@pytest.fixture
def alone_answer(simulator):  # noqa: ANN001, ANN201
    """What the simulator answers a prompt sent on its own: the reference for every arm."""

    async def answer(prompt: str, model: str = "gpt-4o-mini") -> str:
        client = AsyncOpenAI(base_url=f"{simulator.url}/edge-eu/v1", api_key="x", max_retries=0)
        try:
            completion = await client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": prompt}]
            )
        finally:
            await client.close()
        return completion.choices[0].message.content or ""

    return answer


def worker_start(*, env: dict[str, str], name: str) -> Child:
    """`manage.py batch_worker` on the test database, ready once it has said so."""
    return batch_worker_start(env=env, log_path=ROOT / ".data" / f"test-batch-worker-{name}.log")


@pytest.fixture(scope="module")
def worker_env(live_app, test_database_env, simulator) -> dict[str, str]:  # noqa: ANN001
    # No bfloat16 trial at start: on two shared cores it takes a worker's CPU for seconds.
    return {**test_database_env, "SIMULATOR_URL": simulator.url, "BATCH_LEASE_SECONDS": "2",
            "EMBEDDING_BATCH_BF16": "off"}  # fmt: skip


@pytest.fixture
def batch_worker(worker_env) -> Iterator[Child]:  # noqa: ANN001
    """One worker a test: the flush after a test deletes task rows, and django-tasks' worker
    exits when the row of the task it is running is gone."""
    worker = worker_start(env=worker_env, name="main")
    yield worker
    worker.stop()


def api_user_make(username: str) -> str:
    from django.contrib.auth import get_user_model

    from latency.gateway.keys import api_key_create

    user = get_user_model().objects.create_user(username, password="pw")
    return api_key_create(user=user)


def lines_make(count: int, *, salt: str, repeat_every: int = 0) -> bytes:
    rows = []
    for n in range(count):
        text = f"review {salt} {n % repeat_every if repeat_every else n}"
        body = {
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": INSTRUCTION.format(text=text)}],
        }
        rows.append({"custom_id": f"r{n}", "method": "POST", "url": "/v1/chat/completions",
                     "body": body})  # fmt: skip
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def batch_wait(client, batch_id: str, *, until: set[str], timeout: float = 120):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout
    while True:
        batch = client.batches.retrieve(batch_id)
        if batch.status in until:
            return batch
        if time.monotonic() > deadline:
            raise AssertionError(f"batch {batch_id} still {batch.status}: {batch}")
        time.sleep(0.2)


@pytest.fixture(scope="session")
def live_app(test_database_env, simulator) -> Iterator[Child]:  # noqa: ANN001
    """tests/conftest.py's daphne, without the bfloat16 trial at start and with a longer wait: on
    two cores shared with other work the trial alone can outlast the usual start-up timeout."""
    from latency.testing.processes import daphne_start

    child_env = {**test_database_env, "SIMULATOR_URL": simulator.url,
                 "ALLOWED_HOSTS": "127.0.0.1,localhost", "EMBEDDING_BATCH_BF16": "off"}  # fmt: skip
    (ROOT / ".data").mkdir(exist_ok=True)
    app = daphne_start(env=child_env, log_path=ROOT / ".data" / "test-batch-daphne.log",
                       timeout_s=240)  # fmt: skip
    yield app
    app.stop()

"""/healthz: what an operator reads off a running process."""

from __future__ import annotations

import pytest
from django.test import AsyncClient

pytestmark = pytest.mark.django_db(transaction=True)


async def test_health_reports_the_database_and_the_embedding_engines() -> None:
    response = await AsyncClient().get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] and body["database"]["pgvector"]
    model = body["embedding_model"]
    assert model["loaded"], "the test session loads the model first, as daphne does at start"
    # Which engine runs batches was measured as the model loaded; single questions are float32.
    assert model["batches"] in {
        "onnxruntime float32",
        "pytorch bfloat16 (batches of 4+), onnxruntime float32 below",
    }


async def test_health_names_the_process_and_counts_its_event_loop_tasks() -> None:
    import asyncio
    import os

    body = (await AsyncClient().get("/healthz")).json()
    assert body["process"]["pid"] == os.getpid()
    # This test's own task at least; `latency_bench load` compares the count before and after.
    assert 1 <= body["process"]["tasks"] <= len(asyncio.all_tasks()) + 10


def test_a_started_web_process_leaves_its_start_up_out_of_full_collections(live_app) -> None:  # noqa: ANN001
    """daphne as `make run` starts it: once its models are loaded, what start-up made is frozen
    (each full garbage collection had walked ~180,000 objects, 110-260 ms with the event loop
    stopped)."""
    import json
    import time
    import urllib.request

    deadline, body = time.monotonic() + 120, {}
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{live_app.url}/healthz", timeout=10) as response:
            body = json.load(response)
        if body["process"]["gc_frozen"]:
            break
        time.sleep(0.5)
    assert body["embedding_model"]["loaded"]
    assert body["process"]["gc_frozen"] > 50_000, body["process"]

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

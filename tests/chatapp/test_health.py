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

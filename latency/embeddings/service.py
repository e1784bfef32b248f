"""Query embeddings for the request path: the local model through the micro-batcher, or an
OpenAI-compatible `/v1/embeddings` endpoint when `EMBEDDINGS_URL` is set."""

from __future__ import annotations

from concurrent.futures import Future

import numpy as np

from latency.embeddings.batcher import embedding_batcher_get
from latency.embeddings.local import (
    embedding_model_load,
    embedding_model_ready,
    embedding_submit,
)
from latency.embeddings.remote import remote_embed, remote_embeddings_configured


async def query_embed(*, text: str) -> np.ndarray:
    if remote_embeddings_configured():
        return (await remote_embed(texts=[text]))[0]
    return await embedding_batcher_get().embed(text)


def query_embed_ready() -> bool:
    """False while the local model is still loading: the cache then skips its semantic tier
    rather than make the user wait (a remote endpoint is always ready to be asked)."""
    return remote_embeddings_configured() or embedding_model_ready()


def embeddings_warm_in_background() -> Future | None:
    """Load and warm the local model on the embedding thread, off the request path, once per
    process at start."""
    if remote_embeddings_configured():
        return None
    return embedding_submit(embedding_model_load)

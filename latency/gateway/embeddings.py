"""Embeddings for `/v1/embeddings`: many texts at once, through the app's embedding service
(the local all-MiniLM-L6-v2 on this process's embedding thread, or the configured
OpenAI-compatible endpoint), never on the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import numpy as np
from django.conf import settings

from latency.core.tokens import tokens_count
from latency.embeddings.local import (
    EMBEDDING_DIMENSIONS,
    EMBEDDING_MODEL_NAME,
    embedding_submit,
    embeddings_encode,
)

# A request of up to this many texts is one forward pass; a larger one is several, awaited one
# after another, so the chat path's query embeddings can run between them.
PASS_MAX_TEXTS = 64

_remote_client = None  # per process by nature: one HTTP client and its connection pool


def embeddings_model_name() -> str:
    return settings.EMBEDDINGS_MODEL if settings.EMBEDDINGS_URL else EMBEDDING_MODEL_NAME


def embeddings_tokens(*, texts: Sequence[str]) -> int:
    """The tokens the texts cost (o200k_base, as the rate limits count them)."""
    return sum(tokens_count(text=text) for text in texts)


async def embeddings_batch(*, texts: Sequence[str]) -> np.ndarray:
    """Unit-length embeddings of `texts`, shape (len(texts), 384), float32."""
    if settings.EMBEDDINGS_URL:
        return await _remote(list(texts))
    parts = []
    for start in range(0, len(texts), PASS_MAX_TEXTS):
        chunk = list(texts[start : start + PASS_MAX_TEXTS])
        parts.append(await asyncio.wrap_future(
            embedding_submit(lambda chunk=chunk: embeddings_encode(texts=chunk))
        ))  # fmt: skip
    if not parts:
        return np.zeros((0, EMBEDDING_DIMENSIONS), dtype=np.float32)
    return np.concatenate(parts)


async def _remote(texts: list[str]) -> np.ndarray:
    global _remote_client
    from openai import AsyncOpenAI

    if _remote_client is None:
        _remote_client = AsyncOpenAI(
            base_url=settings.EMBEDDINGS_URL, api_key=settings.EMBEDDINGS_API_KEY or "not-needed"
        )
    response = await _remote_client.embeddings.create(
        model=settings.EMBEDDINGS_MODEL, input=texts, dimensions=EMBEDDING_DIMENSIONS
    )
    ordered = sorted(response.data, key=lambda item: item.index)
    vectors = np.asarray([item.embedding for item in ordered], dtype=np.float32)
    norms = np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)
    return vectors / norms

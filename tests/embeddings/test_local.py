"""The local embedding model in ONNX Runtime against sentence-transformers, its reference."""

from __future__ import annotations

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

from latency.embeddings.local import (
    EMBEDDING_DIMENSIONS,
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
    together = embeddings_encode(texts=TEXTS)  # padded to the longest text in one pass
    assert together.shape == (len(TEXTS), EMBEDDING_DIMENSIONS)
    assert together.dtype == np.float32
    assert np.allclose(together, expected, atol=1e-5)
    for text, vector in zip(TEXTS, expected, strict=True):
        assert np.allclose(embeddings_encode(texts=[text])[0], vector, atol=1e-5)


def test_the_onnx_export_is_made_once_and_reused() -> None:
    path = onnx_model_file()
    modified = path.stat().st_mtime_ns
    assert onnx_model_file() == path
    assert path.stat().st_mtime_ns == modified
    assert path.stat().st_size > 50_000_000  # the weights are in it


def test_no_texts_give_an_empty_matrix() -> None:
    assert embeddings_encode(texts=[]).shape == (0, EMBEDDING_DIMENSIONS)

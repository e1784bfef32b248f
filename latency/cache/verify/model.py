"""The learned verifier: a logistic regression over `features.pair_features`, and word vectors.

The weights are a small JSON file beside this module (`model/verifier.json`, written by
`python -m latency.cache.verify.train`); numpy alone scores a pair. Both the weights and the
word vectors are per process by nature, loaded once, on the thread that verifies (the
embedding thread, see `cache_hit_verify_async`), never on the event loop.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

MODEL_PATH = Path(__file__).parent / "model" / "verifier.json"
WORD_CACHE_MAX = 50_000  # ~80 MB at most at 384 float32s a word; cleared when full

_word_lock = threading.Lock()
_word_vectors: dict[str, np.ndarray] = {}  # per process: a cache of the local model's output


@dataclass(frozen=True)
class VerifierModel:
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    cutoff: float  # the probability above which a pair is served, chosen on held-out folds
    names: tuple[str, ...]  # the scalar features' names; the embedding halves follow them
    meta: dict

    def probability(self, features: np.ndarray) -> float:
        z = float(((features - self.mean) / self.scale) @ self.coef) + self.intercept
        return float(1.0 / (1.0 + np.exp(-z)))

    def leading_feature(self, features: np.ndarray) -> str:
        """The feature (or embedding half, summed) that pushed hardest towards serving."""
        contributions = (features - self.mean) / self.scale * self.coef
        count = len(self.names)
        half = (len(features) - count) // 2
        groups = dict(zip(self.names, contributions[:count].tolist(), strict=True))
        groups["embedding_abs_diff"] = float(contributions[count : count + half].sum())
        groups["embedding_product"] = float(contributions[count + half :].sum())
        return max(groups, key=groups.__getitem__)

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        z = ((features - self.mean) / self.scale) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-z))


@lru_cache(maxsize=4)
def verifier_model_load(*, path: Path = MODEL_PATH) -> VerifierModel:
    data = json.loads(path.read_text())
    return verifier_model_from(data=data)


def verifier_model_from(*, data: Mapping) -> VerifierModel:
    return VerifierModel(
        mean=np.asarray(data["mean"], dtype=np.float32),
        scale=np.asarray(data["scale"], dtype=np.float32),
        coef=np.asarray(data["coef"], dtype=np.float32),
        intercept=float(data["intercept"]),
        cutoff=float(data["cutoff"]),
        names=tuple(data["names"]),
        meta=dict(data.get("meta", {})),
    )


def word_vectors_get(*, words: Sequence[str]) -> dict[str, np.ndarray]:
    """Vectors for single words from the local sentence model, encoded once per process.

    Empty when the local model is not loaded (embeddings from a remote endpoint): the model
    then sees every differing word as new, which errs towards a miss, never a wrong answer.
    """
    from latency.embeddings.local import embedding_model_ready, embeddings_encode

    wanted = sorted(set(words))
    with _word_lock:
        missing = [word for word in wanted if word not in _word_vectors]
    if missing:
        if not embedding_model_ready():
            return {}
        vectors = embeddings_encode(texts=missing)
        with _word_lock:
            if len(_word_vectors) + len(missing) > WORD_CACHE_MAX:
                _word_vectors.clear()
            _word_vectors.update(zip(missing, vectors, strict=True))
    with _word_lock:
        return {word: _word_vectors[word] for word in wanted if word in _word_vectors}

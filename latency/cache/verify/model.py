"""The learned verifier: gradient-boosted trees over `features.pair_features`, and word vectors.

The trees are a small JSON file beside this module (`model/verifier.json`, written by
`python -m latency.cache.verify.train`, which needs scikit-learn); plain Python walks them to
score a pair, so serving needs neither scikit-learn nor a pickle. The trees and the word
vectors are per process by nature, loaded once, on the thread that verifies (the embedding
thread, see `cache_hit_verify_async`), never on the event loop.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np

MODEL_PATH = Path(__file__).parent / "model" / "verifier.json"
WORD_CACHE_MAX = 50_000  # ~80 MB at most at 384 float32s a word; cleared when full

_word_lock = threading.Lock()
_word_vectors: dict[str, np.ndarray] = {}  # per process: a cache of the local model's output


@dataclass(frozen=True)
class VerifierModel:
    """Gradient-boosted trees, flattened: node i of every tree splits on `feature[i]` at
    `threshold[i]` (left when x <= threshold), or is a leaf (`feature[i]` < 0) worth `value[i]`."""

    roots: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray
    baseline: float
    cutoff: float  # the probability from which a pair is served, chosen on held-out folds
    names: tuple[str, ...]
    reference: np.ndarray  # the different pairs' median features: "what a look-alike has"
    meta: dict

    def probability(self, features: np.ndarray) -> float:
        x = features.tolist()  # Python floats: a scalar walk is faster than numpy indexing
        feature, threshold = self._lists[0], self._lists[1]
        left, right, value = self._lists[2], self._lists[3], self._lists[4]
        raw = self.baseline
        for node in self._lists[5]:
            while feature[node] >= 0:
                node = left[node] if x[feature[node]] <= threshold[node] else right[node]
            raw += value[node]
        return 1.0 / (1.0 + math.exp(-raw))

    @cached_property
    def _lists(self) -> tuple[list, ...]:
        arrays = (self.feature, self.threshold, self.left, self.right, self.value, self.roots)
        return tuple(array.tolist() for array in arrays)

    def leading_feature(self, features: np.ndarray) -> str:
        """The feature that, set to a typical look-alike's value, lowers the probability most:
        what let a pair through (for reports; ~40 scorings, off the request path)."""
        base = self.probability(features)
        drops = {}
        for index, name in enumerate(self.names):
            changed = features.copy()
            changed[index] = self.reference[index]
            drops[name] = base - self.probability(changed)
        return max(drops, key=drops.__getitem__)


@lru_cache(maxsize=4)
def verifier_model_load(*, path: Path = MODEL_PATH) -> VerifierModel:
    return verifier_model_from(data=json.loads(path.read_text()))


def verifier_model_from(*, data: Mapping) -> VerifierModel:
    trees = data["trees"]
    return VerifierModel(
        roots=np.asarray(trees["roots"], dtype=np.int64),
        feature=np.asarray(trees["feature"], dtype=np.int64),
        threshold=np.asarray(trees["threshold"], dtype=np.float64),
        left=np.asarray(trees["left"], dtype=np.int64),
        right=np.asarray(trees["right"], dtype=np.int64),
        value=np.asarray(trees["value"], dtype=np.float64),
        baseline=float(data["baseline"]),
        cutoff=float(data["cutoff"]),
        names=tuple(data["names"]),
        reference=np.asarray(data["reference"], dtype=np.float32),
        meta=dict(data.get("meta", {})),
    )


def trees_export(*, classifier: object) -> tuple[dict, float]:
    """A fitted scikit-learn HistGradientBoostingClassifier (binary) as flat node lists."""
    roots, feature, threshold, left, right, value = [], [], [], [], [], []
    for (predictor,) in classifier._predictors:  # noqa: SLF001 - no public tree accessor
        offset = len(feature)
        roots.append(offset)
        for node in predictor.nodes:
            leaf = bool(node["is_leaf"])
            feature.append(-1 if leaf else int(node["feature_idx"]))
            threshold.append(float(f"{node['num_threshold']:.9g}"))
            left.append(0 if leaf else offset + int(node["left"]))
            right.append(0 if leaf else offset + int(node["right"]))
            value.append(float(f"{node['value']:.7g}") if leaf else 0.0)
    trees = {"roots": roots, "feature": feature, "threshold": threshold, "left": left,
             "right": right, "value": value}  # fmt: skip
    return trees, float(classifier._baseline_prediction.ravel()[0])  # noqa: SLF001


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

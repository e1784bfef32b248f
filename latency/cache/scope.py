"""The cache scope: what must match before an answer may be served again.

It covers the model tier (or pinned model), the system prompt, the feature, every earlier
turn of the conversation, and the owner when the answer may rest on private documents.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

from latency.cache.normalize import query_normalize


@dataclass(frozen=True)
class CacheScope:
    key: str
    owner_id: int | None  # None: shared by every user


def cache_scope_build(
    *,
    model_scope: str,
    feature: str,
    messages: Sequence[dict[str, str]],
    owner_id: int | None,
) -> CacheScope:
    """`messages` is the whole request; its last message is the question and is not part of
    the scope. System prompts and earlier turns are, normalised, so a follow-up ("how old is
    he?") can only hit an answer given after the same earlier turns."""
    context = [
        [message.get("role", ""), query_normalize(text=str(message.get("content", "")))]
        for message in messages[:-1]
    ]
    material = json.dumps(
        {"model": model_scope, "feature": feature, "context": context, "owner": owner_id},
        sort_keys=True,
    )
    return CacheScope(key=hashlib.sha256(material.encode()).hexdigest(), owner_id=owner_id)

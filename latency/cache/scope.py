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

# Request fields that do not change what the answer says.
SCOPE_NEUTRAL = frozenset({
    "user", "metadata", "store", "service_tier", "safety_identifier", "prompt_cache_key",
    "parallel_tool_calls", "stream_options",
})  # fmt: skip


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
    options: dict[str, object] | None = None,
) -> CacheScope:
    """`messages` is the whole request; its last message is the question and is not part of
    the scope. System prompts and earlier turns are, normalised, so a follow-up ("how old is
    he?") can only hit an answer given after the same earlier turns."""
    context = [
        [message.get("role", ""), query_normalize(text=str(message.get("content", "")))]
        for message in messages[:-1]
    ]
    # What shapes an answer beyond the words (response_format, stop, seed, max tokens, ...)
    # scopes it too: a JSON answer is never served for a prose request, nor the other way.
    shaping = {k: v for k, v in (options or {}).items() if k not in SCOPE_NEUTRAL}
    material = json.dumps(
        {"model": model_scope, "feature": feature, "context": context, "owner": owner_id,
         **({"options": shaping} if shaping else {})},
        sort_keys=True, default=str,
    )  # fmt: skip
    return CacheScope(key=hashlib.sha256(material.encode()).hexdigest(), owner_id=owner_id)

"""Bearer keys for the OpenAI-compatible API: made once, shown once, stored as a SHA-256;
listed, revoked and limited by their owner."""

from __future__ import annotations

import secrets

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from latency.gateway.verify import PREFIX, api_key_forget, token_digest
from latency.models import ApiKey

NAME_MAX = 100
REQUESTS_PER_MINUTE_MAX = 1_000_000
TOKENS_PER_MINUTE_MAX = 1_000_000_000


def api_key_create(
    *, user: AbstractBaseUser, name: str = "default", unlimited: bool = False
) -> str:
    """Make a key for `user` and return its token: the only time the token is seen.
    `unlimited` gives it the highest limits a key can have (the benches' load generators, whose
    thousands of requests a minute would otherwise measure the default limit's 429s)."""
    token = PREFIX + secrets.token_urlsafe(32)
    limits = ({"requests_per_minute": REQUESTS_PER_MINUTE_MAX,
               "tokens_per_minute": TOKENS_PER_MINUTE_MAX} if unlimited else {})  # fmt: skip
    ApiKey.objects.create(user=user, name=(name.strip() or "default")[:NAME_MAX],
                          prefix=token[:12], key_hash=token_digest(token=token),
                          **limits)  # fmt: skip
    return token


def api_keys_owned(*, user: AbstractBaseUser) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(user=user).order_by("revoked", "-created_at")


def api_key_revoke(*, user: AbstractBaseUser, key_id: int) -> ApiKey | None:
    """Revoke one of `user`'s keys; None when it is not theirs (or does not exist)."""
    key = ApiKey.objects.filter(user=user, id=key_id).first()
    if key is None:
        return None
    if not key.revoked:
        key.revoked = True
        key.save(update_fields=["revoked"])
        api_key_forget(key_hash=key.key_hash)
    return key


def api_key_limits_set(
    *, user: AbstractBaseUser, key_id: int, requests_per_minute: int, tokens_per_minute: int
) -> ApiKey | None:
    """Change one of `user`'s keys' limits; None when it is not theirs."""
    key = ApiKey.objects.filter(user=user, id=key_id).first()
    if key is None:
        return None
    key.requests_per_minute = requests_per_minute
    key.tokens_per_minute = tokens_per_minute
    key.save(update_fields=["requests_per_minute", "tokens_per_minute"])
    api_key_forget(key_hash=key.key_hash)
    return key

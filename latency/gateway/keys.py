"""Bearer keys for the OpenAI-compatible API: made once, shown once, stored as a SHA-256."""

from __future__ import annotations

import hashlib
import secrets

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from latency.models import ApiKey

PREFIX = "sk-sub-"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def api_key_create(*, user: AbstractBaseUser, name: str = "default") -> str:
    token = PREFIX + secrets.token_urlsafe(32)
    ApiKey.objects.create(user=user, name=name, prefix=token[:12], key_hash=_digest(token))
    return token


async def api_key_user(*, authorization: str) -> AbstractBaseUser | None:
    """The active user behind an `Authorization: Bearer …` header, or None."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.startswith(PREFIX):
        return None
    key = (
        await ApiKey.objects.select_related("user")
        .filter(key_hash=_digest(token.strip()), revoked=False, user__is_active=True)
        .afirst()
    )
    if key is None:
        return None
    await ApiKey.objects.filter(id=key.id).aupdate(last_used_at=timezone.now())
    return key.user

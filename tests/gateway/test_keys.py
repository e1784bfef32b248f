"""Key checks off the database: cached briefly, revocation felt within a second, last use
written at most once a minute and off the request path."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async

from latency.core.background import background_wait
from latency.gateway import usage
from latency.gateway.keys import api_key_create, api_key_limits_set, api_key_revoke
from latency.gateway.redis import gateway_redis_close
from latency.gateway.verify import LOCAL_TTL_S, api_key_verify
from latency.models import ApiKey

pytestmark = pytest.mark.django_db(transaction=True)


async def _key(owner) -> tuple[str, ApiKey]:  # noqa: ANN001
    token = await sync_to_async(api_key_create)(user=owner, name="app")
    return token, await ApiKey.objects.filter(user=owner).alast()


async def test_a_key_is_checked_once_then_cached_for_at_most_a_second(key_owner) -> None:  # noqa: ANN001
    token, key = await _key(key_owner)
    grant = await api_key_verify(authorization=f"Bearer {token}")
    assert grant is not None and grant.user_id == key_owner.id and grant.key_id == key.id
    assert await api_key_verify(authorization="Bearer sk-sub-nope") is None
    assert await api_key_verify(authorization=f"Basic {token}") is None
    # Another process revokes it behind this one's back: this process notices within the TTL.
    await ApiKey.objects.filter(id=key.id).aupdate(revoked=True)
    assert await api_key_verify(authorization=f"Bearer {token}") is not None
    await asyncio.sleep(LOCAL_TTL_S + 0.05)
    assert await api_key_verify(authorization=f"Bearer {token}") is None


async def test_revoking_on_the_page_takes_effect_at_once(key_owner) -> None:  # noqa: ANN001
    token, key = await _key(key_owner)
    assert await api_key_verify(authorization=f"Bearer {token}") is not None
    assert await sync_to_async(api_key_revoke)(user=key_owner, key_id=key.id) is not None
    assert await api_key_verify(authorization=f"Bearer {token}") is None


async def test_with_redis_revocation_and_limits_reach_every_process(redis_on, key_owner) -> None:  # noqa: ANN001
    token, key = await _key(key_owner)
    assert (await api_key_verify(authorization=f"Bearer {token}")).requests_per_minute == 500
    limits_set = sync_to_async(api_key_limits_set)
    await limits_set(user=key_owner, key_id=key.id, requests_per_minute=9, tokens_per_minute=99)
    assert (await api_key_verify(authorization=f"Bearer {token}")).requests_per_minute == 9
    await sync_to_async(api_key_revoke)(user=key_owner, key_id=key.id)
    assert await api_key_verify(authorization=f"Bearer {token}") is None
    await gateway_redis_close()


async def test_last_use_is_written_once_a_minute_off_the_request_path(key_owner) -> None:  # noqa: ANN001
    _, key = await _key(key_owner)
    usage.api_key_touch(key_id=key.id)  # returns at once: the write is a task
    await background_wait()
    first = (await ApiKey.objects.aget(id=key.id)).last_used_at
    assert first is not None
    usage.api_key_touch(key_id=key.id)
    usage._touched.pop(key.id)  # as if another process: the statement itself keeps it at one
    usage.api_key_touch(key_id=key.id)
    await background_wait()
    assert (await ApiKey.objects.aget(id=key.id)).last_used_at == first

"""Per-key limits: counted atomically in PostgreSQL or Redis, shared, refused past the limit."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async

from latency.core.background import background_wait
from latency.gateway.keys import api_key_create
from latency.gateway.limits import (
    duration_format,
    rate_admit,
    rate_peek,
    rate_tokens_correct,
)
from latency.gateway.redis import gateway_redis_close
from latency.gateway.verify import KeyGrant
from latency.models import ApiKey

pytestmark = pytest.mark.django_db(transaction=True)


def test_durations_read_as_openai_writes_them() -> None:
    assert duration_format(seconds=0.02) == "20ms"
    assert duration_format(seconds=1) == "1s"
    assert duration_format(seconds=17.4361) == "17.436s"
    assert duration_format(seconds=360) == "6m0s"
    assert duration_format(seconds=61.5) == "1m1.5s"


async def _grant(owner, *, rpm: int, tpm: int) -> KeyGrant:  # noqa: ANN001
    await sync_to_async(api_key_create)(user=owner, name="limits")
    key = await ApiKey.objects.filter(user=owner).alast()
    return KeyGrant(key_id=key.id, user_id=owner.id, requests_per_minute=rpm,
                    tokens_per_minute=tpm)  # fmt: skip


@pytest.fixture(params=["postgres", "redis"])
def store(request) -> str:  # noqa: ANN001
    if request.param == "redis":
        request.getfixturevalue("redis_on")
    return request.param


async def test_requests_past_the_limit_are_refused_and_not_counted(store: str, key_owner) -> None:  # noqa: ANN001
    grant = await _grant(key_owner, rpm=3, tpm=10_000)
    states = [await rate_admit(grant=grant, tokens=10) for _ in range(5)]
    assert [s.admitted for s in states] == [True, True, True, False, False]
    refused = states[-1]
    assert refused.exceeded == "requests" and refused.requests_remaining == 0
    assert refused.requests_used == 3 and refused.tokens_used == 30
    assert 0 < refused.reset_s <= 60 and 1 <= refused.retry_after_s <= 60
    await gateway_redis_close()


async def test_tokens_limit_and_the_correction_after_the_answer(store: str, key_owner) -> None:  # noqa: ANN001
    grant = await _grant(key_owner, rpm=100, tpm=1000)
    first = await rate_admit(grant=grant, tokens=700)
    assert first.admitted and first.tokens_remaining == 300
    second = await rate_admit(grant=grant, tokens=400)
    assert not second.admitted and second.exceeded == "tokens"
    rate_tokens_correct(grant=grant, state=first, tokens_used=200)  # it cost less than reserved
    await background_wait()
    assert (await rate_peek(grant=grant)).tokens_used == 200
    assert (await rate_admit(grant=grant, tokens=400)).admitted
    too_big = await rate_admit(grant=grant, tokens=5000)  # never admissible: not counted
    assert not too_big.admitted and too_big.exceeded == "tokens" and too_big.tokens_used == 600
    await gateway_redis_close()


async def test_concurrent_requests_share_one_count(store: str, key_owner) -> None:  # noqa: ANN001
    grant = await _grant(key_owner, rpm=7, tpm=1_000_000)
    states = await asyncio.gather(*(rate_admit(grant=grant, tokens=1) for _ in range(30)))
    assert sum(s.admitted for s in states) == 7
    assert (await rate_peek(grant=grant)).requests_used == 7
    await gateway_redis_close()

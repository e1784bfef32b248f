"""Fixtures for the gateway: a key row, and Redis on a database of its own for the Redis paths."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from django.contrib.auth import get_user_model

REDIS_TEST_URL = "redis://127.0.0.1:6379/13"


@pytest.fixture
def redis_on(settings) -> Iterator[str]:  # noqa: ANN001
    """settings.REDIS_URL pointing at a Redis database that only these tests use."""
    import redis

    client = redis.Redis.from_url(REDIS_TEST_URL)
    client.ping()
    settings.REDIS_URL = REDIS_TEST_URL
    yield REDIS_TEST_URL
    client.flushdb()
    client.close()


@pytest.fixture
def key_owner():  # noqa: ANN201
    return get_user_model().objects.create_user(f"k-{uuid.uuid4().hex[:8]}", password="x" * 12)

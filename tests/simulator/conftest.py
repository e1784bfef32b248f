"""Fixtures for the simulator's own tests: SDK clients pointed at the session's simulator.

The `simulator` fixture comes from `tests.fixtures.simulator` (registered in tests/conftest.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from openai import AsyncOpenAI, OpenAI

from latency.testing.processes import SimulatorChild

ClientFactory = Callable[..., AsyncOpenAI]


# These override app-wide autouse fixtures of tests/conftest.py by name: the simulator's own
# tests need no model catalog and no Django, and must run with `-p no:django`.
@pytest.fixture(autouse=True)
def _simulator_endpoints() -> Iterator[None]:
    yield


@pytest.fixture(autouse=True)
def _async_orm_connections_close() -> Iterator[None]:
    yield


@pytest.fixture
async def client_for() -> AsyncIterator[ClientFactory]:
    """Make SDK clients (no retries) for any base URL; all are closed after the test."""
    clients: list[AsyncOpenAI] = []

    def client_make(base_url: str, **options: Any) -> AsyncOpenAI:
        clients.append(AsyncOpenAI(base_url=base_url, api_key="sk-test", max_retries=0, **options))
        return clients[-1]

    yield client_make
    for client in clients:
        await client.close()


@pytest.fixture
def client(simulator: SimulatorChild, client_for: ClientFactory) -> AsyncOpenAI:
    return client_for(simulator.v1)


@pytest.fixture
def sync_client(simulator: SimulatorChild) -> Iterator[OpenAI]:
    """The sync SDK client, for plain (not async) tests: what scripts and notebooks use."""
    with OpenAI(base_url=simulator.v1, api_key="sk-test", max_retries=0) as sync:
        yield sync

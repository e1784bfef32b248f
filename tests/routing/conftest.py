"""Routing tests start from a clean slate: no cached budgets, estimates or breakers, no probes
left running, and SDK clients that inject simulator faults per endpoint when asked."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from openai import AsyncOpenAI

from latency.providers.catalog import catalog_load
from latency.providers.clients import ClientRegistry
from latency.routing.budgets import budgets_forget
from latency.routing.estimates import observations_forget
from latency.routing.health import health_forget, prober
from latency.strategies import strategy_settings_forget

FaultyRegistry = Callable[[dict[str, str]], ClientRegistry]


def _forget() -> None:
    budgets_forget()
    observations_forget()
    health_forget()
    strategy_settings_forget()


@pytest.fixture(autouse=True)
async def _routing_state() -> AsyncIterator[None]:
    _forget()
    yield
    await prober.probes_cancel()
    _forget()


@pytest.fixture
async def faulty_registry() -> AsyncIterator[FaultyRegistry]:
    """`faulty_registry({"sim-edge-eu": "429"})`: clients whose requests to those endpoints
    carry `X-Sim-Fault`, and plain clients for the others."""
    registries: list[ClientRegistry] = []

    def registry_make(faults: dict[str, str]) -> ClientRegistry:
        registry = ClientRegistry()
        for endpoint in catalog_load().endpoints():
            if endpoint.name in faults:
                registry.register(
                    endpoint.name,
                    AsyncOpenAI(
                        base_url=endpoint.base_url, api_key="not-needed", max_retries=0,
                        default_headers={"X-Sim-Fault": faults[endpoint.name]},
                    ),
                )  # fmt: skip
        registries.append(registry)
        return registry

    yield registry_make
    for registry in registries:
        await registry.close()

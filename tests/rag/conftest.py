"""`documents_worker`: the real task worker (`manage.py documents_worker`) on the test database,
beside the `live_app` daphne, so that browser tests see ingestion run as under `make run`."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from latency.testing.processes import ROOT, Child


@pytest.fixture(scope="module")
def documents_worker(live_app: Child, test_database_env: dict[str, str]) -> Iterator[Child]:
    child_env = {**os.environ, "PYTHONUNBUFFERED": "1", **test_database_env}
    log_path = ROOT / ".data" / "test-documents-worker.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "manage.py", "documents_worker", "--interval", "0.2"],
        cwd=ROOT,
        env=child_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    worker = Child(url="", process=process, log_path=log_path, files=[log])
    yield worker
    worker.stop()

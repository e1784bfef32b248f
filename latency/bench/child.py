"""A bench's child process: `python -m module` against a database of its own (and, when asked,
a data folder of its own), so that the app's own code runs unchanged on bench data while the
app's data stays untouched; what it measured comes back as JSON."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings

from latency.testing.processes import ROOT


def child_run(
    *, module: str, arguments: list[str], database: str, data_dir: Path | None = None
) -> dict[str, Any]:
    """Run `python -m module ... --result FILE` with `database` as its default database; its
    JSON result. `data_dir`: its own embedded PostgreSQL server and Redis too, so that their CPU
    is the bench's alone and the bench may stop them without touching anyone else's."""
    if not settings.EMBEDDED_DATABASE:
        raise RuntimeError(f"{module} needs the embedded database (DATABASE_URL is set)")
    child_env = {**os.environ, "EMBEDDED_DB_NAME": database}
    if data_dir is not None:
        child_env.update({
            "DATA_DIR": str(data_dir), "EMBEDDED_DB_SHARED_BUFFERS": "256MB",
            "PROMETHEUS_MULTIPROC_DIR": str(data_dir / "metrics" / database),
        })  # fmt: skip
    with tempfile.NamedTemporaryFile(suffix=".json") as result:
        command = [sys.executable, "-m", module, *arguments, "--result", result.name]
        if subprocess.run(command, cwd=ROOT, env=child_env).returncode:
            raise RuntimeError(f"{module} failed in database {database}: see its output above")
        return json.loads(Path(result.name).read_text())


def child_main(
    argv: list[str],
    *,
    measure: Callable[[dict[str, Any]], dict[str, Any]],
    environ: Callable[[dict[str, Any]], None] | None = None,
) -> int:
    """A bench child's entry point: `--options JSON --result FILE`. `environ(options)` may set
    variables before Django starts; then Django, the child's database migrated, and
    `measure(options)`, whose result goes to FILE."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--options", required=True, help="the bench's options, JSON")
    parser.add_argument("--result", required=True)
    args = parser.parse_args(argv)
    options = json.loads(args.options)
    if environ is not None:
        environ(options)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatapp.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    Path(args.result).write_text(json.dumps(measure(options)))
    return 0

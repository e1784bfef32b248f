"""Settings a deployment relies on: DEBUG off unless asked, `check --deploy` clean in production."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

from latency.testing.processes import ROOT

# A database URL nothing listens on: the checks below never connect, and the embedded server
# is not started for them.
PRODUCTION_ENV = {
    "SUBSECOND_ENV": "production",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "chat.example.com",
    "DATABASE_URL": "postgres://subsecond:unused@127.0.0.1:9/subsecond",
}


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    unset = {"DEBUG", "SECRET_KEY", "SUBSECOND_ENV"}
    base = {k: v for k, v in os.environ.items() if k not in unset}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_has_no_warnings_in_production():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_debug_is_off_unless_asked_and_production_needs_a_secret_key():
    show = ["shell", "-c", "from django.conf import settings; print(settings.DEBUG)"]
    shown = _manage(*show, env={"DATABASE_URL": PRODUCTION_ENV["DATABASE_URL"]})
    assert shown.stdout.strip().splitlines()[-1] == "False"
    no_key = {**PRODUCTION_ENV, "SECRET_KEY": ""}
    result = _manage("check", env=no_key)
    assert result.returncode != 0
    assert "SUBSECOND_ENV=production needs SECRET_KEY" in result.stderr


def test_security_headers_on_every_page(client):  # noqa: ANN001
    response = client.get("/accounts/login/")
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy


def test_unknown_url_does_not_list_the_url_patterns(client):  # noqa: ANN001
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert b"conversation_list" not in response.content and b"URLconf" not in response.content

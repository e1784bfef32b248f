"""Debian's Chromium through Playwright, as benchmarks and browser tests drive it: launch it
with the flags this machine needs, sign up, log in."""

from __future__ import annotations

import uuid
from typing import Any

CHROMIUM = "/usr/bin/chromium"
# Without --disable-background-networking Chromium keeps dialling hosts a closed network refuses.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PASSWORD = "a-long-enough-passphrase-42"


def chromium_launch(*, playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def page_log_in(*, page: Any, base_url: str, username: str, password: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/")


def page_sign_up(*, page: Any, base_url: str, prefix: str = "user") -> str:
    """Sign up a fresh user through the form; returns the username."""
    username = f"{prefix}-{uuid.uuid4().hex[:8]}"
    page.goto(f"{base_url}/accounts/signup/")
    page.fill("#id_username", username)
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/")
    return username

"""Public ids of jobs and files: a prefix and 24 random hex digits, as OpenAI's look."""

from __future__ import annotations

import secrets


def batch_uid(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(12)}"

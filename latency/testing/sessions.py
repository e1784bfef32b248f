"""A logged-in session for a bench or test client that speaks the websocket as the browser does
(its cookie is what the chat's AuthMiddlewareStack reads)."""

from __future__ import annotations

from typing import Any


def session_key_make(*, user: Any) -> str:
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session["_auth_user_id"] = str(user.pk)
    session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    session["_auth_user_hash"] = user.get_session_auth_hash()
    session.create()
    return session.session_key

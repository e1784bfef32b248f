"""Errors the pipeline turns into clear messages for users and API clients."""

from __future__ import annotations


class SubsecondError(Exception):
    """An error with a message fit to show to the person who caused it."""

    user_message = "Something went wrong."

    def __str__(self) -> str:
        return self.user_message


class InternalError(SubsecondError):
    """A fault inside the app (a database that went away, a full queue, a bug): logged in full
    for us, and a plain message for the user."""

    user_message = "Sorry, something went wrong on our side; please try again."


class UnknownModelError(SubsecondError):
    def __init__(self, name: str, *, known: list[str]) -> None:
        self.name = name
        self.user_message = f"Unknown model {name!r}. Available: {', '.join(known)}."


class UpstreamError(SubsecondError):
    """The model endpoint failed: rate limit, server error, timeout or a broken stream."""

    def __init__(self, message: str, *, kind: str, endpoint: str) -> None:
        self.kind = kind
        self.endpoint = endpoint
        self.user_message = message

    @property
    def refused_request(self) -> bool:
        """A 4xx other than 408 and 429: the request's fault, not the endpoint's."""
        status = self.kind.removeprefix("http_")
        return status.isdigit() and status.startswith("4") and status not in {"408", "429"}

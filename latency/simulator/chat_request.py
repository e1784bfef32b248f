"""Parsing and validating a `POST /v1/chat/completions` body, with OpenAI's error wording."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from latency.simulator.profiles import PROFILES


class ApiError(Exception):
    """An error the client should see as OpenAI's error JSON with this status."""

    def __init__(
        self,
        *,
        status: int,
        message: str,
        code: str | None,
        error_type: str = "invalid_request_error",
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.error_type = error_type
        self.param = param


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: list[dict[str, Any]]
    stream: bool
    include_usage: bool
    max_tokens: int | None
    temperature: float | None


def _missing(param: str) -> ApiError:
    return ApiError(
        status=400,
        message=f"Missing required parameter: '{param}'.",
        code="missing_required_parameter",
        param=param,
    )


def _invalid(param: str, message: str) -> ApiError:
    return ApiError(status=400, message=message, code="invalid_value", param=param)


def chat_request_parse(*, body: bytes) -> ChatRequest:
    """The request in `body`, or an `ApiError` (400 for a bad body, 404 for an unknown model)."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ApiError(
            status=400,
            message="We could not parse the JSON body of your request.",
            code="invalid_json",
        ) from None
    if not isinstance(data, dict):
        raise ApiError(status=400, message="The body must be a JSON object.", code="invalid_json")
    model = data.get("model")
    if not model:
        raise _missing("model")
    if not isinstance(model, str):
        raise _invalid("model", "'model' must be a string.")
    messages = data.get("messages")
    if messages is None:
        raise _missing("messages")
    if not isinstance(messages, list) or not messages:
        raise _invalid("messages", "'messages' must be a non-empty array.")
    if not all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages):
        raise _invalid("messages", "Each message must be an object with a 'role'.")
    max_tokens = data.get("max_completion_tokens")
    if max_tokens is None:
        max_tokens = data.get("max_tokens")
    if max_tokens is not None and (
        isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1
    ):
        raise _invalid("max_tokens", "'max_tokens' must be a positive integer.")
    temperature = data.get("temperature")
    if temperature is not None and (
        isinstance(temperature, bool)
        or not isinstance(temperature, int | float)
        or not 0 <= temperature <= 2
    ):
        raise _invalid("temperature", "'temperature' must be a number between 0 and 2.")
    if data.get("n", 1) != 1:
        raise _invalid("n", "Only n=1 is supported.")
    stream_options = data.get("stream_options") or {}
    if not isinstance(stream_options, dict):
        raise _invalid("stream_options", "'stream_options' must be an object.")
    if model not in PROFILES:
        raise ApiError(
            status=404,
            message=f"The model `{model}` does not exist or you do not have access to it.",
            code="model_not_found",
        )
    return ChatRequest(
        model=model,
        messages=messages,
        stream=bool(data.get("stream")),
        include_usage=bool(data.get("stream") and stream_options.get("include_usage")),
        max_tokens=max_tokens,
        temperature=temperature,
    )

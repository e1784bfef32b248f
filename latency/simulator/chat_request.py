"""Parsing and validating a `POST /v1/chat/completions` body, with OpenAI's error wording."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from latency.simulator import chat_options as options
from latency.simulator.errors import ApiError, error_invalid, error_missing
from latency.simulator.profiles import PROFILES

__all__ = ["ApiError", "ChatRequest", "chat_request_parse"]


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: list[dict[str, Any]]
    stream: bool
    include_usage: bool
    max_tokens: int | None
    temperature: float | None
    n: int = 1
    stop: tuple[str, ...] = ()
    seed: int | None = None
    tools: list[dict[str, Any]] = field(default_factory=list)
    tool_choice: str | None = None  # none, auto, required, or a function's name
    parallel_tool_calls: bool = True
    response_format: dict[str, Any] | None = None  # json_object, or json_schema with schema
    top_logprobs: int | None = None  # None: no logprobs
    fields: tuple[str, ...] = ()  # the body's field names, for the request log


def _missing(param: str) -> ApiError:
    return error_missing(param=param)


def _invalid(param: str, message: str) -> ApiError:
    return error_invalid(param=param, message=message)


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
    parallel_tool_calls = data.get("parallel_tool_calls", True)
    if not isinstance(parallel_tool_calls, bool):
        raise _invalid("parallel_tool_calls", "'parallel_tool_calls' must be a boolean.")
    user = data.get("user")
    if user is not None and not isinstance(user, str):
        raise _invalid("user", "'user' must be a string.")
    options.messages_validate(messages=messages)
    tools = options.tools_validate(tools=data.get("tools"))
    stream_options = data.get("stream_options") or {}
    if not isinstance(stream_options, dict):
        raise _invalid("stream_options", "'stream_options' must be an object.")
    if model not in PROFILES:
        raise ApiError(
            status=404,
            message=f"The model `{model}` does not exist or you do not have access to it.",
            code="model_not_found",
        )
    options.reasoning_effort_validate(model=model, reasoning_effort=data.get("reasoning_effort"))
    return ChatRequest(
        model=model,
        messages=messages,
        stream=bool(data.get("stream")),
        include_usage=bool(data.get("stream") and stream_options.get("include_usage")),
        max_tokens=max_tokens,
        temperature=temperature,
        n=options.n_validate(n=data.get("n")),
        stop=options.stop_validate(stop=data.get("stop")),
        seed=options.seed_validate(seed=data.get("seed")),
        tools=tools,
        tool_choice=options.tool_choice_validate(tool_choice=data.get("tool_choice"), tools=tools),
        parallel_tool_calls=parallel_tool_calls,
        response_format=options.response_format_validate(
            response_format=data.get("response_format"), messages=messages
        ),
        top_logprobs=options.logprobs_validate(
            logprobs=data.get("logprobs"), top_logprobs=data.get("top_logprobs")
        ),
        fields=tuple(sorted(data)),
    )

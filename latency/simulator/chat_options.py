"""Validating the optional parts of a chat request: tools, response_format, stop, n, logprobs,
reasoning_effort.

Each check raises OpenAI's 400 (`invalid_request_error` with the offending `param`), as does a
parameter the model does not take; fields the simulator does not know are accepted and ignored.
"""

from __future__ import annotations

import re
from typing import Any

from latency.simulator.errors import error_invalid, error_missing, error_unsupported
from latency.simulator.words import message_text

MAX_CHOICES = 8
MAX_STOP = 4
MAX_TOP_LOGPROBS = 20
# The models that reason before they answer, and so take `reasoning_effort`; OpenAI refuses it
# for the others (gpt-4o, gpt-4o-mini) as an unsupported parameter.
REASONING_MODELS = frozenset(
    {"gpt-5", "gpt-5-thinking", "gemini-2.5-pro", "claude-sonnet-4.5-thinking"}
)
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")
_FUNCTION_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def tools_validate(*, tools: Any) -> list[dict[str, Any]]:
    """The function tools, each with a valid name and an object (or absent) `parameters`."""
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise error_invalid(param="tools", message="'tools' must be an array.")
    for index, tool in enumerate(tools):
        param = f"tools[{index}]"
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            raise error_invalid(param=f"{param}.type", message="Only 'function' tools exist.")
        function = tool.get("function")
        if not isinstance(function, dict):
            raise error_missing(param=f"{param}.function")
        name = function.get("name")
        if name is None:
            raise error_missing(param=f"{param}.function.name")
        if not isinstance(name, str) or not _FUNCTION_NAME.match(name):
            raise error_invalid(
                param=f"{param}.function.name",
                message=f"Invalid '{param}.function.name': use a-z, A-Z, 0-9, _ and -, 1-64.",
            )
        parameters = function.get("parameters")
        if parameters is not None and not isinstance(parameters, dict):
            raise error_invalid(
                param=f"{param}.function.parameters", message="'parameters' must be an object."
            )
    return tools


def tool_choice_validate(*, tool_choice: Any, tools: list[dict[str, Any]]) -> str | None:
    """`none`, `auto`, `required`, or the name of the one function to call."""
    if tool_choice is None:
        return "auto" if tools else None
    if not tools:
        raise error_invalid(
            param="tool_choice",
            message="'tool_choice' is only allowed when 'tools' are specified.",
        )
    if tool_choice in ("none", "auto", "required"):
        return tool_choice
    function = tool_choice.get("function") if isinstance(tool_choice, dict) else None
    name = function.get("name") if isinstance(function, dict) else None
    if not isinstance(name, str):
        raise error_invalid(
            param="tool_choice",
            message="'tool_choice' must be 'none', 'auto', 'required' or a named function.",
        )
    if name not in {tool["function"]["name"] for tool in tools}:
        raise error_invalid(
            param="tool_choice", message=f"Tool choice '{name}' is not among the tools given."
        )
    return name


def response_format_validate(
    *, response_format: Any, messages: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """`None` for text, else `{"type": "json_object"}` or the json_schema object."""
    if response_format is None:
        return None
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        # OpenAI refuses JSON mode unless the messages ask for JSON themselves.
        if not any("json" in message_text(message=m).lower() for m in messages):
            raise error_invalid(
                param="messages",
                message="'messages' must contain the word 'json' in some form, to use "
                "'response_format' of type 'json_object'.",
            )
        return {"type": "json_object"}
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        if not isinstance(spec, dict):
            raise error_missing(param="response_format.json_schema")
        name = spec.get("name")
        if not isinstance(name, str) or not _FUNCTION_NAME.match(name):
            raise error_invalid(
                param="response_format.json_schema.name",
                message="'response_format.json_schema.name' must match '^[a-zA-Z0-9_-]{1,64}$'.",
            )
        if not isinstance(spec.get("schema", {}), dict):
            raise error_invalid(
                param="response_format.json_schema.schema", message="'schema' must be an object."
            )
        return {"type": "json_schema", "schema": spec.get("schema", {})}
    raise error_invalid(
        param="response_format.type",
        message="'response_format.type' must be one of 'text', 'json_object', 'json_schema'.",
    )


def stop_validate(*, stop: Any) -> tuple[str, ...]:
    if stop is None:
        return ()
    stops = [stop] if isinstance(stop, str) else stop
    if (
        not isinstance(stops, list)
        or len(stops) > MAX_STOP
        or not all(isinstance(s, str) and s for s in stops)
    ):
        raise error_invalid(
            param="stop", message=f"'stop' must be a string or an array of up to {MAX_STOP}."
        )
    return tuple(stops)


def n_validate(*, n: Any) -> int:
    if n is None:
        return 1
    if not _whole(n) or not 1 <= n <= MAX_CHOICES:
        raise error_invalid(param="n", message=f"'n' must be an integer from 1 to {MAX_CHOICES}.")
    return n


def logprobs_validate(*, logprobs: Any, top_logprobs: Any) -> int | None:
    """`None` when logprobs are off, else how many alternatives each token lists."""
    if logprobs is not None and not isinstance(logprobs, bool):
        raise error_invalid(param="logprobs", message="'logprobs' must be a boolean.")
    if top_logprobs is not None:
        if not _whole(top_logprobs) or not 0 <= top_logprobs <= MAX_TOP_LOGPROBS:
            raise error_invalid(
                param="top_logprobs",
                message=f"'top_logprobs' must be an integer from 0 to {MAX_TOP_LOGPROBS}.",
            )
        if not logprobs:
            raise error_invalid(
                param="top_logprobs",
                message="'logprobs' must be set to true when 'top_logprobs' is used.",
            )
    return (top_logprobs or 0) if logprobs else None


def reasoning_effort_validate(*, model: str, reasoning_effort: Any) -> None:
    if reasoning_effort is None:
        return
    if model not in REASONING_MODELS:
        raise error_unsupported(param="reasoning_effort")
    if reasoning_effort not in REASONING_EFFORTS:
        raise error_invalid(
            param="reasoning_effort",
            message=f"Invalid value: {reasoning_effort!r}. Supported values are: "
            + ", ".join(f"'{effort}'" for effort in REASONING_EFFORTS)
            + ".",
        )


def seed_validate(*, seed: Any) -> int | None:
    if seed is not None and not _whole(seed):
        raise error_invalid(param="seed", message="'seed' must be an integer.")
    return seed


def messages_validate(*, messages: list[dict[str, Any]]) -> None:
    """Tool results must say which call they answer; assistant tool calls must be a list."""
    for index, message in enumerate(messages):
        if message["role"] == "tool" and not isinstance(message.get("tool_call_id"), str):
            raise error_missing(param=f"messages[{index}].tool_call_id")
        calls = message.get("tool_calls")
        if calls is not None and not isinstance(calls, list):
            raise error_invalid(
                param=f"messages[{index}].tool_calls", message="'tool_calls' must be an array."
            )

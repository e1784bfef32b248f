"""Parse and check a /v1/chat/completions body: whatever the pipeline could not take is refused
here with a 400 in OpenAI's shape, and never passed upstream. What it can take goes upstream
as the client sent it: tools and tool-calling histories, response formats, `n`, `stop`,
`seed`, `user`, logprobs, and fields this gateway does not know."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpResponse

from chatapp.api.errors import api_error, api_invalid
from chatapp.api.text import text_problem
from latency.core.tokens import messages_tokens
from latency.errors import UnknownModelError
from latency.models import Feature
from latency.pipeline import ChatRequest
from latency.providers.catalog import catalog_load

ROLES = {"system", "user", "assistant", "developer", "tool"}
MESSAGES_MAX = 2048
MAX_TOKENS_MAX = 128_000
CHOICES_MAX = 8
# Read here and passed to the pipeline as such; every other field goes upstream unchanged.
CONSUMED = frozenset({"messages", "model", "stream", "stream_options", "feature", "temperature",
                      "max_tokens", "max_completion_tokens"})  # fmt: skip


@dataclass(frozen=True)
class ChatCall:
    request: ChatRequest
    prompt_tokens: int
    reserve_tokens: int  # what admission counts: the prompt plus the longest answer allowed
    include_usage: bool


def _number(payload: dict[str, Any], name: str, low: float, high: float) -> str:
    value = payload.get(name)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return f"`{name}` must be a number."
    return "" if low <= value <= high else f"`{name}` must be between {low:g} and {high:g}."


def _integer(payload: dict[str, Any], name: str, low: int, high: int) -> str:
    value = payload.get(name)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        return f"`{name}` must be an integer from {low} to {high}."
    return ""


def _content(message: Any, index: int) -> str | None | HttpResponse:
    where = f"messages[{index}]"
    if not isinstance(message, dict) or message.get("role") not in ROLES:
        return api_invalid(f"{where} must be an object whose role is one of "
                           f"{sorted(ROLES)}.", param="messages")  # fmt: skip
    content = message.get("content")
    if content is None and message["role"] == "assistant" and message.get("tool_calls"):
        if not isinstance(message["tool_calls"], list):
            return api_invalid(f"{where}.tool_calls must be a list.", param="messages")
        return None  # an assistant turn that only called tools
    if message["role"] == "tool" and not isinstance(message.get("tool_call_id"), str):
        return api_invalid(f"{where}.tool_call_id must name the call it answers.",
                           param="messages")  # fmt: skip
    if isinstance(content, list) and content and all(
        isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)
        for part in content
    ):  # fmt: skip
        content = "\n".join(part["text"] for part in content)
    if not isinstance(content, str):
        return api_invalid(f"{where}.content must be a string or a list of text parts.",
                           param="messages")  # fmt: skip
    problem = text_problem(text=content)
    if problem:
        return api_invalid(f"{where}.content {problem}", param="messages")
    return content


def _messages(value: Any) -> list[dict[str, Any]] | HttpResponse:
    if not isinstance(value, list) or not value or len(value) > MESSAGES_MAX:
        return api_invalid(f"`messages` must be a list of 1 to {MESSAGES_MAX} messages.",
                           param="messages")  # fmt: skip
    messages = []
    for index, message in enumerate(value):
        content = _content(message, index)
        if isinstance(content, HttpResponse):
            return content
        # The fields of a turn beyond its text (name, tool_calls, tool_call_id) go on as sent.
        messages.append({**message, "content": content})
    return messages


def _tools_problem(payload: dict[str, Any]) -> str:
    tools = payload.get("tools")
    if tools is None:
        return ""
    if not isinstance(tools, list) or not all(
        isinstance(tool, dict) and tool.get("type", "function") == "function"
        and isinstance(tool.get("function"), dict)
        and isinstance(tool["function"].get("name"), str) and tool["function"]["name"]
        for tool in tools
    ):  # fmt: skip
        return "`tools` must be a list of functions, each with a name."
    return ""


def _format_problem(payload: dict[str, Any]) -> str:
    value = payload.get("response_format")
    if value is None:
        return ""
    kind = value.get("type") if isinstance(value, dict) else None
    if kind not in {"text", "json_object", "json_schema"}:
        return "`response_format` must be text, json_object or json_schema."
    if kind == "json_schema" and not isinstance((value.get("json_schema") or {}).get("schema"),
                                                dict):  # fmt: skip
        return "`response_format` json_schema needs a `json_schema.schema` object."
    return ""


def _model(value: Any) -> str | None | HttpResponse:
    if value is None or value in ("", "auto"):
        return None
    if not isinstance(value, str) or text_problem(text=value):
        return api_invalid("`model` must be a string.", param="model")
    known = catalog_load().models
    if value not in known:
        return api_error(status=404, code="model_not_found", param="model",
                         message=str(UnknownModelError(value, known=sorted(known))))  # fmt: skip
    return value


def _scalars(payload: dict[str, Any]) -> str:
    problems = [
        _number(payload, "temperature", 0, 2), _number(payload, "top_p", 0, 1),
        _number(payload, "presence_penalty", -2, 2), _number(payload, "frequency_penalty", -2, 2),
        _integer(payload, "max_tokens", 1, MAX_TOKENS_MAX),
        _integer(payload, "max_completion_tokens", 1, MAX_TOKENS_MAX),
        _integer(payload, "n", 1, CHOICES_MAX), _integer(payload, "top_logprobs", 0, 20),
        _integer(payload, "seed", -(2**63), 2**63 - 1), _tools_problem(payload),
        _format_problem(payload),
    ]  # fmt: skip
    if not isinstance(payload.get("logprobs", False), bool):
        problems.append("`logprobs` must be true or false.")
    if payload.get("user") is not None and not isinstance(payload.get("user"), str):
        problems.append("`user` must be a string.")
    if not isinstance(payload.get("stream", False), bool):
        problems.append("`stream` must be true or false.")
    if not isinstance(payload.get("stream_options") or {}, dict):
        problems.append("`stream_options` must be an object.")
    stop = payload.get("stop")
    if stop is not None and not (isinstance(stop, str) or (
        isinstance(stop, list) and len(stop) <= 4 and all(isinstance(s, str) for s in stop)
    )):  # fmt: skip
        problems.append("`stop` must be a string or a list of up to 4 strings.")
    return next((problem for problem in problems if problem), "")


def chat_call_parse(
    *, payload: dict[str, Any], user_id: int, received_at: float, request_id: str = "",
    paced: bool = False,
) -> ChatCall | HttpResponse:  # fmt: skip
    problem = _scalars(payload)
    if problem:
        return api_invalid(problem, param=problem.split("`")[1])
    messages = _messages(payload.get("messages"))
    if isinstance(messages, HttpResponse):
        return messages
    model = _model(payload.get("model"))
    if isinstance(model, HttpResponse):
        return model
    feature = payload.get("feature", Feature.CHAT)
    if feature not in Feature.values:
        return api_invalid(f"Unknown feature {feature!r}; use one of {Feature.values}.",
                           param="feature")  # fmt: skip
    max_tokens = answer_limit = payload.get("max_completion_tokens") or payload.get("max_tokens")
    prompt_tokens = messages_tokens(messages=messages)
    options = {name: value for name, value in payload.items() if name not in CONSUMED}
    if payload.get("max_completion_tokens") is not None:
        options["max_completion_tokens"] = payload["max_completion_tokens"]
        max_tokens = None  # sent as the client named it, once
    request = ChatRequest(
        messages=messages, received_at=received_at, feature=feature, user_id=user_id,
        model=model, temperature=payload.get("temperature"), max_tokens=max_tokens,
        source="api", stream=bool(payload.get("stream")), options=options,
        request_id=request_id, replay_paced=paced, prompt_tokens=prompt_tokens,
    )  # fmt: skip
    include_usage = bool((payload.get("stream_options") or {}).get("include_usage"))
    reserve = prompt_tokens + (answer_limit or settings.API_DEFAULT_MAX_TOKENS)
    return ChatCall(request=request, prompt_tokens=prompt_tokens, reserve_tokens=reserve,
                    include_usage=include_usage)  # fmt: skip

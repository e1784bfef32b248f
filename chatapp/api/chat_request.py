"""Parse and check a /v1/chat/completions body: whatever the pipeline could not take is refused
here with a 400 in OpenAI's shape, and never passed upstream."""

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

ROLES = {"system", "user", "assistant", "developer"}
MESSAGES_MAX = 2048
MAX_TOKENS_MAX = 128_000


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


def _content(message: Any, index: int) -> str | HttpResponse:
    where = f"messages[{index}]"
    if not isinstance(message, dict) or message.get("role") not in ROLES:
        return api_invalid(f"{where} must be an object whose role is one of "
                           f"{sorted(ROLES)}.", param="messages")  # fmt: skip
    content = message.get("content")
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


def _messages(value: Any) -> list[dict[str, str]] | HttpResponse:
    if not isinstance(value, list) or not value or len(value) > MESSAGES_MAX:
        return api_invalid(f"`messages` must be a list of 1 to {MESSAGES_MAX} messages.",
                           param="messages")  # fmt: skip
    messages = []
    for index, message in enumerate(value):
        content = _content(message, index)
        if isinstance(content, HttpResponse):
            return content
        messages.append({"role": message["role"], "content": content})
    return messages


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
        _integer(payload, "n", 1, 1),  # the pipeline answers one choice
    ]  # fmt: skip
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
    *, payload: dict[str, Any], user_id: int, received_at: float
) -> ChatCall | HttpResponse:
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
    max_tokens = payload.get("max_completion_tokens") or payload.get("max_tokens")
    prompt_tokens = messages_tokens(messages=messages)
    request = ChatRequest(
        messages=messages, received_at=received_at, feature=feature, user_id=user_id,
        model=model, temperature=payload.get("temperature"), max_tokens=max_tokens,
        source="api", stream=bool(payload.get("stream")),
    )  # fmt: skip
    include_usage = bool((payload.get("stream_options") or {}).get("include_usage"))
    reserve = prompt_tokens + (max_tokens or settings.API_DEFAULT_MAX_TOKENS)
    return ChatCall(request=request, prompt_tokens=prompt_tokens, reserve_tokens=reserve,
                    include_usage=include_usage)  # fmt: skip

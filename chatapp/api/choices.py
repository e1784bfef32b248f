"""A whole (non-streamed) answer's `choices` from the streamed pieces: text, tool calls put
together from their deltas (by tool index: id, name, then argument fragments), logprobs and
finish reasons, for every choice the client asked for (`n`)."""

from __future__ import annotations

from typing import Any

from latency.events import TokenEvent


def _choice_new(index: int) -> dict[str, Any]:
    return {"index": index, "content": [], "tool_calls": {}, "logprobs": [], "refusal": []}


def _tool_calls_merge(into: dict[int, dict[str, Any]], deltas: list[dict[str, Any]]) -> None:
    for delta in deltas:
        call = into.setdefault(int(delta.get("index") or 0), {
            "id": "", "type": "function", "function": {"name": "", "arguments": ""},
        })  # fmt: skip
        call["id"] = delta.get("id") or call["id"]
        call["type"] = delta.get("type") or call["type"]
        function = delta.get("function") or {}
        call["function"]["name"] += function.get("name") or ""
        call["function"]["arguments"] += function.get("arguments") or ""


def choices_collect(
    *, text: str, tokens: list[TokenEvent], reasons: dict[int, str]
) -> list[dict[str, Any]]:
    if not any(token.choices for token in tokens):
        return [{"index": 0, "finish_reason": reasons.get(0, "stop"), "logprobs": None,
                 "message": {"role": "assistant", "content": text}}]  # fmt: skip
    built: dict[int, dict[str, Any]] = {}
    for token in tokens:
        for raw in token.choices:
            choice = built.setdefault(int(raw.get("index") or 0),
                                      _choice_new(int(raw.get("index") or 0)))  # fmt: skip
            delta = raw.get("delta") or {}
            if delta.get("content"):
                choice["content"].append(delta["content"])
            if delta.get("refusal"):
                choice["refusal"].append(delta["refusal"])
            _tool_calls_merge(choice["tool_calls"], delta.get("tool_calls") or [])
            content_logprobs = (raw.get("logprobs") or {}).get("content") or []
            choice["logprobs"].extend(content_logprobs)
    answer = []
    for index in sorted(built | dict.fromkeys(reasons)):
        choice = built.get(index, _choice_new(index))
        calls = [choice["tool_calls"][i] for i in sorted(choice["tool_calls"])]
        message: dict[str, Any] = {"role": "assistant",
                                   "content": "".join(choice["content"]) or None}  # fmt: skip
        if calls:
            message["tool_calls"] = calls
        if choice["refusal"]:
            message["refusal"] = "".join(choice["refusal"])
        default = "tool_calls" if calls else "stop"
        answer.append({
            "index": index, "message": message, "finish_reason": reasons.get(index, default),
            "logprobs": {"content": choice["logprobs"]} if choice["logprobs"] else None,
        })  # fmt: skip
    return answer

"""What each choice of a completion says: text, JSON, or tool calls, cut by stop and max_tokens.

Deterministic for a given request: the model, messages, seed and choice index decide the
text; tools and response_format decide its shape.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from typing import Any

from latency.simulator.chat_request import ChatRequest
from latency.simulator.schema_values import schema_value_generate
from latency.simulator.text import answer_generate, request_seed
from latency.simulator.words import message_text, text_stems, text_tokenize, text_topic_words

TOOL_RESULT_MAX_CHARS = 400


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # a JSON text, as OpenAI sends it

    @property
    def fragments(self) -> tuple[str, ...]:
        """The argument text in streamed pieces, which join back to `arguments`."""
        return tuple(text_tokenize(text=self.arguments))


@dataclass(frozen=True)
class ChoicePlan:
    index: int
    tokens: tuple[str, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str = "stop"

    @property
    def completion_tokens(self) -> int:
        return len(self.tokens) + sum(len(call.fragments) for call in self.tool_calls)

    @property
    def steps(self) -> int:
        """How many timed deltas a stream of this choice sends (one inter-token gap each)."""
        calls = self.tool_calls
        return (
            sum(len(call.fragments) for call in calls) + max(0, len(calls) - 1) + len(self.tokens)
        )


def _question(messages: list[dict[str, Any]]) -> str:
    users = [m for m in messages if m.get("role") == "user"]
    return message_text(message=users[-1]) if users else ""


def _tools_pick(*, chat: ChatRequest, question: str) -> list[dict[str, Any]]:
    """The functions to call: the named one, else those the question mentions (or the best)."""
    functions = [tool["function"] for tool in chat.tools]
    if chat.tool_choice not in ("auto", "required"):
        return [f for f in functions if f["name"] == chat.tool_choice][:1]
    asked = text_stems(text=question)
    scored = [
        (
            len(
                asked & text_stems(text=f"{f['name'].replace('_', ' ')} {f.get('description', '')}")
            ),
            f,
        )
        for f in functions
    ]
    mentioned = [f for score, f in scored if score > 0]
    best = max(scored, key=lambda pair: pair[0])[1]
    return mentioned if chat.parallel_tool_calls and mentioned else [best]


def _tool_calls(*, chat: ChatRequest, choice: int) -> tuple[ToolCall, ...]:
    question = _question(chat.messages)
    words = text_topic_words(text=question)
    seed = request_seed(model=chat.model, messages=chat.messages, seed=chat.seed, choice=choice)
    calls = []
    for position, function in enumerate(_tools_pick(chat=chat, question=question)):
        # The id too comes from the request, so that the same request gets the same calls.
        material = f"{seed}:{function['name']}:{position}"
        rng = random.Random(material)
        arguments = schema_value_generate(
            schema=function.get("parameters") or {}, words=words, rng=rng
        )
        call_id = "call_" + hashlib.sha256(material.encode()).hexdigest()[:24]
        calls.append(ToolCall(id=call_id, name=function["name"], arguments=json.dumps(arguments)))
    return tuple(calls)


def _tool_results(messages: list[dict[str, Any]]) -> list[tuple[str, str]] | None:
    """(function name, result) of the tool messages ending the history, or None if it doesn't."""
    if not messages or messages[-1].get("role") != "tool":
        return None
    names: dict[str, str] = {}
    for message in messages:
        for call in message.get("tool_calls") or []:
            if isinstance(call, dict):
                names[call.get("id", "")] = (call.get("function") or {}).get("name", "the tool")
    results = []
    for message in reversed(messages):
        if message.get("role") != "tool":
            break
        content = message_text(message=message).strip()[:TOOL_RESULT_MAX_CHARS]
        results.append((names.get(message.get("tool_call_id", ""), "the tool"), content))
    return results[::-1]


def _tool_answer(*, results: list[tuple[str, str]], question: str) -> str:
    facts = " ".join(f"{name} returned: {content}." for name, content in results)
    topic = " ".join(text_topic_words(text=question)[:3]) or "your question"
    return f"Here is what I found about {topic}. {facts} Let me know if you need anything else."


def _json_text(*, chat: ChatRequest, choice: int, text: str) -> str:
    rng = random.Random(
        request_seed(model=chat.model, messages=chat.messages, seed=chat.seed, choice=choice)
    )
    if chat.response_format is not None and chat.response_format["type"] == "json_schema":
        words = text_topic_words(text=_question(chat.messages))
        value = schema_value_generate(schema=chat.response_format["schema"], words=words, rng=rng)
    else:
        value = {
            "answer": text,
            "topic": " ".join(text_topic_words(text=_question(chat.messages))[:3]),
        }
    return json.dumps(value)


def _cut(*, chat: ChatRequest, text: str) -> tuple[tuple[str, ...], str]:
    """The text's tokens after `stop` (cut before the first stop) and max_tokens (`length`)."""
    cuts = [text.find(stop) for stop in chat.stop if stop in text]
    if cuts:
        text = text[: min(cuts)]
    tokens = tuple(text_tokenize(text=text))
    if chat.max_tokens is not None and len(tokens) > chat.max_tokens:
        return tokens[: chat.max_tokens], "length"
    return tokens, "stop"


def _calls_cut(
    *, calls: tuple[ToolCall, ...], max_tokens: int | None
) -> tuple[tuple[ToolCall, ...], str]:
    """Tool calls within max_tokens: as OpenAI does, the arguments stop mid-JSON (`length`)."""
    if max_tokens is None or sum(len(call.fragments) for call in calls) <= max_tokens:
        return calls, "tool_calls"
    kept, budget = [], max_tokens
    for call in calls:
        if budget <= 0:
            break
        arguments = "".join(call.fragments[:budget])
        kept.append(ToolCall(id=call.id, name=call.name, arguments=arguments))
        budget -= len(call.fragments)
    return tuple(kept), "length"


def choice_plan(*, chat: ChatRequest, choice: int) -> ChoicePlan:
    """One choice of the completion for `chat`."""
    results = _tool_results(chat.messages)
    # Tools are called for a user's turn; once their results are in, the model answers.
    calls_due = chat.tools and chat.tool_choice != "none" and results is None
    if calls_due and chat.messages[-1].get("role") == "user":
        calls, finish_reason = _calls_cut(
            calls=_tool_calls(chat=chat, choice=choice), max_tokens=chat.max_tokens
        )
        return ChoicePlan(index=choice, tool_calls=calls, finish_reason=finish_reason)
    if results is not None:
        text = _tool_answer(results=results, question=_question(chat.messages))
    else:
        text = answer_generate(
            model=chat.model, messages=chat.messages, seed=chat.seed, choice=choice
        )
    if chat.response_format is not None:
        text = _json_text(chat=chat, choice=choice, text=text)
    tokens, finish_reason = _cut(chat=chat, text=text)
    return ChoicePlan(index=choice, tokens=tokens, finish_reason=finish_reason)


def choices_plan(*, chat: ChatRequest) -> tuple[ChoicePlan, ...]:
    return tuple(choice_plan(chat=chat, choice=index) for index in range(chat.n))

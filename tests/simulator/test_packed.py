"""Packed prompts (the batching contract in latency/simulator/packed.py) and classification
labels: each packed answer equals the single request's answer, and a classification prompt
gets exactly one of the labels it offers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from openai import AsyncOpenAI, OpenAI

from latency.simulator.labels import label_answer, labels_offered
from latency.simulator.packed import PACK_SYSTEM, packed_answer_split, packed_request_build
from latency.testing.processes import SimulatorChild

PROMPTS = [
    "How do websockets keep chat latency low?",
    "Classify the sentiment of this review as positive, negative or neutral: "
    "The soup was cold and the waiter was rude.",
    "Give me a list of steps to deploy Django",
    "Label this ticket as one of: billing, bug report, feature request.\n"
    "Ticket: the export button crashes the app",
    "Show me python code for retries",
]
SENTIMENT = "Classify the sentiment of this review as positive, negative or neutral: {}"


def test_the_pack_system_text_is_the_contract() -> None:
    assert PACK_SYSTEM == (
        "Several independent items follow, each on a line that starts with its number, like [1]. "
        "If a request with {item} comes first, each item stands for {item} in it. Answer each "
        "item on its own, exactly as if it were the only request. Reply [n] and that item's "
        "answer for each, in order, and nothing else."
    )


async def _single(client: AsyncOpenAI, prompt: str, **extra: Any) -> str:
    reply = await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}], **extra
    )
    return reply.choices[0].message.content


@pytest.mark.parametrize("extra", [{}, {"seed": 11, "temperature": 0.2}])
async def test_packed_answers_equal_the_single_answers(
    simulator: SimulatorChild, client: AsyncOpenAI, extra: dict[str, Any]
) -> None:
    packed = await client.chat.completions.create(
        model="gpt-4o-mini", messages=packed_request_build(prompts=PROMPTS), **extra
    )
    text = packed.choices[0].message.content
    assert text.startswith("[1] ")
    assert [n for n in range(1, len(PROMPTS) + 1) if f"\n[{n}] " in "\n" + text] == list(
        range(1, len(PROMPTS) + 1)
    )
    singles = [await _single(client, prompt, **extra) for prompt in PROMPTS]
    assert packed_answer_split(text=text) == [single.strip() for single in singles]
    assert singles[1] == "negative" and singles[3] == "bug report"
    record = await asyncio.to_thread(simulator.log_record, completion_id=packed.id)
    assert packed.usage.prompt_tokens == record["prompt_tokens"] > 60
    single_usage = await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPTS[0]}]
    )
    assert packed.usage.completion_tokens > 3 * single_usage.usage.completion_tokens


async def test_a_shared_request_is_put_back_in_each_item(client: AsyncOpenAI) -> None:
    reviews = ["The soup was cold and the waiter was rude.", "Best pizza ever", "It is a shop"]
    messages = packed_request_build(prompts=reviews, template=SENTIMENT.format("{item}"))
    assert messages[1]["content"].count("Classify") == 1
    packed = await client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    singles = [await _single(client, SENTIMENT.format(review)) for review in reviews]
    assert packed_answer_split(text=packed.choices[0].message.content) == singles
    assert singles[:2] == ["negative", "positive"]


def test_a_streamed_packed_answer_is_the_same_text(sync_client: OpenAI) -> None:
    messages = packed_request_build(prompts=PROMPTS[:3])
    whole = sync_client.chat.completions.create(model="gpt-4o", messages=messages)
    stream = sync_client.chat.completions.create(model="gpt-4o", messages=messages, stream=True)
    streamed = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert streamed == whole.choices[0].message.content


def test_a_different_system_message_is_not_packed(sync_client: OpenAI) -> None:
    messages = packed_request_build(prompts=PROMPTS[:2])
    messages[0]["content"] = "You are a helpful assistant."
    reply = sync_client.chat.completions.create(model="gpt-4o", messages=messages)
    assert not reply.choices[0].message.content.startswith("[1] ")


@pytest.mark.parametrize(
    ("prompt", "labels"),
    [
        (SENTIMENT.format("Great food"), ["positive", "negative", "neutral"]),
        ("Label the email as spam or ham: win a prize now", ["spam", "ham"]),
        (
            "Categorize this as 'urgent', 'normal' or 'low': server down",
            ["urgent", "normal", "low"],
        ),
        ("Pick one of: red, green, blue. The sky at noon", ["red", "green", "blue"]),
        (
            "Is this review positive, negative or neutral? Fine.",
            ["positive", "negative", "neutral"],
        ),
        ("Tell me about cats, dogs or birds", None),
    ],
)
def test_classification_prompts_offer_their_labels(prompt: str, labels: list[str] | None) -> None:
    assert labels_offered(prompt=prompt) == labels


def test_the_label_follows_the_text_deterministically() -> None:
    assert label_answer(prompt=SENTIMENT.format("I loved it, great service")) == "positive"
    assert label_answer(prompt=SENTIMENT.format("Terrible, slow and broken")) == "negative"
    assert label_answer(prompt=SENTIMENT.format("It arrived on Tuesday")) == "neutral"
    prompt = "Classify the ticket as billing, bug or question: where is my invoice for May?"
    assert label_answer(prompt=prompt) == label_answer(prompt=prompt)
    assert label_answer(prompt=prompt) in ("billing", "bug", "question")
    assert label_answer(prompt="How do I deploy Django?") is None


async def test_a_classification_request_answers_with_exactly_one_label(
    client: AsyncOpenAI,
) -> None:
    labels = {"positive", "negative", "neutral"}
    reviews = ["Best pizza ever", "Awful, cold food", "The shop is on Main Street", "Okay I guess"]
    answers = [await _single(client, SENTIMENT.format(review)) for review in reviews]
    assert set(answers) <= labels
    assert answers[:3] == ["positive", "negative", "neutral"]

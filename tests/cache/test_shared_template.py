"""A long shared system prompt or few-shot block must not make every request a cache hit.

A production incident served one answer to 198 different requests that shared a prompt
template. Here 50 different questions go through the cache service (real PostgreSQL + pgvector,
the real embedding model and verifier) under one template, both ways a client sends it: as
earlier messages (part of the scope; the question alone is looked up) and pasted into the user
message itself (the looked-up text is mostly template).
"""

from __future__ import annotations

import time

import pytest

from latency.cache.scope import cache_scope_build
from latency.cache.service import cache_lookup, cache_remember
from latency.models import StrategySettings
from latency.observability.tracing import TraceRecorder

pytestmark = pytest.mark.django_db(transaction=True)

SYSTEM_PROMPT = (
    "You are Ada, the support assistant of Northwind Outdoor Gear. Answer in at most three "
    "sentences, in a friendly and professional tone. Never invent order numbers, prices or "
    "delivery dates; if you do not know, say so and point the customer to the help centre at "
    "help.northwind.example. Do not discuss competitors. Use metric units unless the customer "
    "uses imperial ones. If the question is about safety in the mountains, remind the customer "
    "to check the local weather forecast and to tell someone their route before leaving. "
) * 2
FEW_SHOT = [
    {"role": "user", "content": "Do you ship to Norway?"},
    {"role": "assistant", "content": "Yes, we ship to Norway; delivery takes 3-5 working days."},
    {"role": "user", "content": "Can I pay with PayPal?"},
    {"role": "assistant", "content": "Yes, PayPal is accepted at checkout."},
    {"role": "user", "content": "How do I clean a down jacket?"},
    {"role": "assistant", "content": "Wash it cold on a gentle cycle with down soap, then "
     "tumble dry low with two clean tennis balls."},  # fmt: skip
]
QUESTIONS = [
    "What is the capital of France?", "What is the capital of Germany?",
    "How tall is Mount Everest?", "How deep is the Mariana Trench?",
    "Who wrote Pride and Prejudice?", "Who painted the Sistine Chapel ceiling?",
    "How many bones are in the human body?", "How many teeth does an adult have?",
    "What is the boiling point of water at sea level?", "What is the freezing point of mercury?",
    "How do I waterproof leather hiking boots?", "How do I repair a hole in a tent?",
    "What sleeping bag rating do I need for winter camping?", "How do I pack a backpack?",
    "What is the return window for unused items?", "How long does a refund take?",
    "Do you sell gift cards?", "Can I change my delivery address after ordering?",
    "Is there a student discount?", "Do you price match?",
    "What size climbing shoe should I buy?", "How often should I replace a climbing rope?",
    "What is the best way to treat a blister?", "How do I purify stream water?",
    "What causes altitude sickness?", "How do I read a topographic map?",
    "What is the difference between merino and synthetic base layers?",
    "How do I light a camp stove in the wind?", "What is the warranty on trekking poles?",
    "How do I adjust the straps on my backpack?", "Can I wash a sleeping bag at home?",
    "Why does my headlamp battery drain so fast?", "How do I tie a bowline knot?",
    "Which tent is best for two people?", "How heavy is your lightest tent?",
    "Do you have stores in Canada?", "What are your opening hours on Sunday?",
    "How do I track my order?", "How do I cancel my order?",
    "What is a good first ski for beginners?", "How do I wax cross-country skis?",
    "How do I prevent my goggles from fogging?", "What should be in a first aid kit?",
    "How do I store a gas canister safely?", "When is the summer sale?",
    "How do I join the loyalty programme?", "How many points do I get per euro spent?",
    "Can I rent a kayak from you?", "What is the weight limit of your hammocks?",
    "How do I avoid bears when camping?",
]  # fmt: skip
assert len(set(QUESTIONS)) == 50


async def _lookup(*, scope, question: str, settings: StrategySettings):  # noqa: ANN001, ANN202
    trace = TraceRecorder(received_at=time.perf_counter(), feature="chat", source="test")
    return await cache_lookup(query=question, scope=scope, settings=settings, trace=trace)


async def _ask_all(*, prompts: list[tuple[list[dict], str]], settings: StrategySettings) -> list:
    """Look each (earlier messages, last user message) up, then store an answer for it."""
    outcomes = []
    for before, question in prompts:
        messages = [*before, {"role": "user", "content": question}]
        scope = cache_scope_build(
            model_scope="tier:fast", feature="chat", messages=messages, owner_id=None
        )
        lookup = await _lookup(scope=scope, question=question, settings=settings)
        outcomes.append(lookup.hit)
        if lookup.hit is None:
            await cache_remember(
                lookup=lookup, query=question, scope=scope, response=f"answer: {question}",
                model="test", settings=settings,
            )  # fmt: skip
    return outcomes


@pytest.mark.parametrize("placement", ["earlier_messages", "pasted_into_message"])
async def test_fifty_questions_under_one_template_get_no_hits_but_repeats_do(
    placement: str,
) -> None:
    settings = StrategySettings()  # the defaults a fresh install runs with
    assert settings.semantic_cache and settings.semantic_verify
    template = [{"role": "system", "content": SYSTEM_PROMPT}, *FEW_SHOT]
    few_shot_text = "\n".join(f"{m['role']}: {m['content']}" for m in FEW_SHOT)

    def prompt(question: str) -> tuple[list[dict], str]:
        if placement == "earlier_messages":
            return template, question
        return [], f"{SYSTEM_PROMPT}\n\nExamples:\n{few_shot_text}\n\nuser: {question}"

    first_pass = await _ask_all(prompts=[prompt(q) for q in QUESTIONS], settings=settings)
    served = [(QUESTIONS[i], hit.candidate.query[-60:]) for i, hit in enumerate(first_pass) if hit]
    assert served == [], "different questions were served another question's answer"

    repeats = await _ask_all(prompts=[prompt(q) for q in QUESTIONS[:10]], settings=settings)
    assert all(hit is not None for hit in repeats)
    for question, hit in zip(QUESTIONS[:10], repeats, strict=True):
        assert hit.candidate.response == f"answer: {prompt(question)[1]}"

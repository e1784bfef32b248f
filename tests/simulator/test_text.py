"""Answer text: deterministic, readable, 40-120 tokens, grounded in `<context>` when given."""

from __future__ import annotations

import random

from latency.simulator.context import NOTHING_RELEVANT, context_answer
from latency.simulator.text import answer_generate
from latency.simulator.words import prompt_tokens_count, text_tokenize

QUESTIONS = [
    "How do websockets keep chat latency low?",
    "Explain pgvector HNSW indexes",
    "What is a semantic cache?",
    "Give me a list of steps to deploy Django",
    "Show me python code for retries",
    "hi",
    "",
]


def _user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_the_same_request_gives_the_same_text() -> None:
    for question in QUESTIONS:
        first = answer_generate(model="gpt-4o", messages=_user(question))
        assert first == answer_generate(model="gpt-4o", messages=_user(question))
    assert answer_generate(model="gpt-4o", messages=_user(QUESTIONS[0])) != answer_generate(
        model="gpt-4o", messages=_user(QUESTIONS[1])
    )


def test_plain_answers_are_40_to_120_tokens_about_the_question() -> None:
    for index in range(200):
        question = f"How should I tune the Postgres planner for query {index}?"
        text = answer_generate(model="gpt-5", messages=_user(question))
        assert 40 <= len(text_tokenize(text=text)) <= 120, text
        assert "Postgres" in text or "planner" in text or "tune" in text


def test_markdown_appears_when_asked_for_and_sometimes_anyway() -> None:
    assert "\n- " in answer_generate(model="gpt-4o", messages=_user(QUESTIONS[3]))
    assert "```" in answer_generate(model="gpt-4o", messages=_user(QUESTIONS[4]))
    answers = [
        answer_generate(model="gpt-4o", messages=_user(f"Tell me about topic {n}"))
        for n in range(100)
    ]
    assert 5 < sum("\n- " in answer or "```" in answer for answer in answers) < 60


def test_tokens_join_back_into_the_text() -> None:
    text = answer_generate(model="gpt-4o", messages=_user(QUESTIONS[4]))
    tokens = text_tokenize(text=text)
    assert "".join(tokens) == text
    assert all(token.strip() and " " not in token.strip() for token in tokens)


def test_prompt_tokens_are_counted_deterministically() -> None:
    messages = _user("one two three four five six")
    assert prompt_tokens_count(messages=messages) == prompt_tokens_count(messages=messages) > 6


def test_context_answers_quote_the_best_sentences_with_markers() -> None:
    context = (
        "[1] Our cache stores answers for 24 hours.\n"
        "[2] Cached answers are matched by cosine similarity. The threshold is 0.92.\n"
        "[3] Billing happens monthly."
    )
    messages = [
        {"role": "system", "content": f"Use this.\n<context>\n{context}\n</context>"},
        {"role": "user", "content": "What similarity threshold matches cached answers?"},
    ]
    text = answer_generate(model="gpt-4o-mini", messages=messages)
    best = text.index('"Cached answers are matched by cosine similarity." [2]')
    assert best < text.index('"Our cache stores answers for 24 hours." [1]')
    assert "[3]" not in text


def test_context_without_markers_or_without_overlap() -> None:
    unmarked = context_answer(
        question="When are invoices sent?",
        context="Invoices are sent on the first day of each month.",
        rng=random.Random(1),
    )
    assert '"Invoices are sent on the first day of each month."' in unmarked
    assert "[" not in unmarked
    unrelated = context_answer(
        question="What colour is the sky?",
        context="[1] Invoices go out monthly.",
        rng=random.Random(1),
    )
    assert unrelated == NOTHING_RELEVANT

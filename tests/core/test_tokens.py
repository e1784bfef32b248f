"""Token counting: OpenAI's o200k_base, exact, offline, and stable."""

from __future__ import annotations

import socket

import pytest

from latency.core import tokens
from latency.core.tokens import messages_tokens, tokens_count, tokens_encode


def test_known_ids_and_counts_of_o200k_base() -> None:
    # Ids from OpenAI's tiktoken for o200k_base (gpt-4o).
    assert tokens_encode(text="hello world") == [24912, 2375]
    assert tokens_count(text="hello world") == 2
    assert tokens_count(text="tiktoken is great!") == 6
    assert tokens_count(text="") == 0


def test_counting_is_stable_across_calls() -> None:
    text = "Expense reports must be submitted within 30 days of the purchase date. " * 20
    assert tokens_count(text=text) == tokens_count(text=text) == len(tokens_encode(text=text))


def test_the_encoder_loads_without_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object, **__: object) -> None:
        raise OSError("no network in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    tokens._encoder.cache_clear()
    assert tokens_count(text="Rotating a key keeps the old key valid for 24 hours.") > 5


def test_special_token_text_is_ordinary_text() -> None:
    # A user who types "<|endoftext|>" must not end the prompt or crash the counter.
    assert tokens_count(text="<|endoftext|>") > 1


def test_text_that_utf8_cannot_carry_is_still_counted() -> None:
    assert tokens_count(text="broken \ud800 surrogate") > 0


def test_messages_tokens_adds_openai_chat_framing() -> None:
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Hi there", "name": "ana"},
    ]
    content = sum(tokens_count(text=m["content"]) + tokens_count(text=m["role"]) for m in messages)
    framing = 3 * len(messages) + 3  # per message, and the reply's priming
    name = 1 + tokens_count(text="ana")
    assert messages_tokens(messages=messages) == content + framing + name


def test_messages_tokens_reads_list_content() -> None:
    as_string = [{"role": "user", "content": "What is the rate limit?"}]
    as_parts = [{"role": "user", "content": [{"type": "text", "text": "What is the rate limit?"}]}]
    assert messages_tokens(messages=as_parts) == messages_tokens(messages=as_string)

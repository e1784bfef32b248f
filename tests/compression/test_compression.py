"""Prompt compression: each part does its job and can be switched off; what must survive does."""

from __future__ import annotations

import copy
import re

import pytest

from latency.compression.service import PARTS, CompressionOptions, prompt_compress
from latency.core.tokens import messages_tokens
from latency.rag.context import CONTEXT_BLOCK
from latency.testing.compression_data import prompts_build, qa_load

SYSTEM = {"role": "system", "content": "You are the help desk.  Cite passages as [n]."}
QUESTION = "How long are idempotency keys remembered?"
EVIDENCE = (
    "Ledgerly stores the first response for each key for 24 hours and returns that same "
    "response for any retry with the same key."
)
CONTEXT = f"""<context>
[1] Ledgerly Payments API Reference — Idempotency
Every POST request accepts an Idempotency-Key header containing a unique value of up to 255
characters.  {EVIDENCE} Reusing a key with a different request body returns a 422 error.
Back to top
Page 3 of 12
[2] Brightdesk Privacy Notice — Cookies
We use strictly necessary cookies to keep you signed in. Analytics cookies expire after 13 months.
[3] Northwind Travel Policy — Hotels
Hotel costs are capped at 180 EUR per night in most cities. Airbnb stays are allowed.
[4] Ledgerly Payments API Reference — Idempotency
Every POST request accepts an Idempotency-Key header containing a unique value of up to 255
characters.  {EVIDENCE} Reusing a key with a different request body returns a 422 error.
</context>"""
FEW_SHOT = [
    {"role": "user", "content": "How many days do I have to return a laptop?"},
    {"role": "assistant", "content": 'The policy says: "Within 10 working days." [2]'},
]
ONLY = {name: False for name in PARTS}


def _prompt(*, history: list[dict[str, str]] | None = None) -> list[dict[str, str]]:
    last = {"role": "user", "content": f"{QUESTION}\n\n{CONTEXT}"}
    return [SYSTEM, *(history or []), last]


def _context(messages: list[dict[str, str]]) -> str:
    return "\n".join(m.group(2) for msg in messages for m in CONTEXT_BLOCK.finditer(msg["content"]))


def _squash(text: str) -> str:
    return " ".join(text.split())


def _compress(messages: list[dict[str, str]], **options: object):  # noqa: ANN202
    return prompt_compress(
        messages=messages, question=QUESTION, options=CompressionOptions(**options)
    )


def test_all_parts_off_returns_the_prompt_unchanged() -> None:
    messages = _prompt(history=FEW_SHOT * 2)
    result = _compress(messages, **ONLY)
    assert result.messages == messages
    assert result.tokens_before == result.tokens_after == messages_tokens(messages=messages)
    assert [(part.name, part.ran) for part in result.parts] == [(name, False) for name in PARTS]


def test_normalise_collapses_whitespace_and_drops_page_chrome() -> None:
    result = _compress(_prompt(), **{**ONLY, "normalise": True})
    context = _context(result.messages)
    assert "Back to top" not in context and "Page 3 of 12" not in context
    assert "  " not in context
    assert result.messages[0]["content"] == "You are the help desk. Cite passages as [n]."
    assert result.parts[0].tokens_removed > 0
    assert result.tokens_after < result.tokens_before


def test_normalise_drops_chat_filler_from_earlier_answers_only() -> None:
    history = [
        {"role": "user", "content": "Certainly! What is the hotel cap?"},
        {"role": "assistant", "content": "Certainly! It is 180 EUR a night. I hope this helps!"},
    ]
    result = _compress(_prompt(history=history), **{**ONLY, "normalise": True})
    assert result.messages[2]["content"] == "It is 180 EUR a night."
    assert result.messages[1]["content"] == "Certainly! What is the hotel cap?"


def test_dedupe_removes_repeated_few_shot_examples_and_passages() -> None:
    result = _compress(_prompt(history=FEW_SHOT * 3), **{**ONLY, "dedupe": True})
    assert result.messages[:3] == [SYSTEM, *FEW_SHOT]
    assert len(result.messages) == 4
    context = _context(result.messages)
    assert "[4]" not in context  # passage 4 repeated passage 1 word for word
    assert _squash(context).count(_squash(EVIDENCE)) == 1
    assert result.parts[1].items_removed > 0


def test_dedupe_removes_a_sentence_repeated_in_an_overlapping_chunk() -> None:
    overlap = CONTEXT.replace("[3] Northwind", f"[3] {EVIDENCE}\nNorthwind")
    messages = [SYSTEM, {"role": "user", "content": f"{QUESTION}\n\n{overlap}"}]
    result = _compress(messages, **{**ONLY, "dedupe": True})
    assert _squash(_context(result.messages)).count(_squash(EVIDENCE)) == 1
    assert "Hotel costs are capped" in _context(result.messages)


def test_prune_keeps_the_evidence_with_its_marker_and_drops_unrelated_passages() -> None:
    result = _compress(_prompt(), **{**ONLY, "prune_context": True}, budget_tokens=80)
    context = _context(result.messages)
    line = next(line for line in context.splitlines() if _squash(EVIDENCE)[:40] in line)
    assert re.match(r"^\[(1|4)\] ", line)
    assert "Hotel costs" not in context and "cookies" not in context
    assert result.parts[3].tokens_removed > 0


def test_prune_never_empties_a_context() -> None:
    messages = [SYSTEM, {"role": "user", "content": f"Tell me a joke.\n\n{CONTEXT}"}]
    result = prompt_compress(
        messages=messages,
        question="Tell me a joke.",
        options=CompressionOptions(budget_tokens=1),
    )
    context = _context(result.messages)
    assert re.search(r"^\[\d\] \S", context, re.M)


def test_prune_stays_within_the_budget_when_it_has_a_choice() -> None:
    from latency.core.tokens import tokens_count

    for budget in (40, 80, 160):
        result = _compress(_prompt(), **{**ONLY, "prune_context": True}, budget_tokens=budget)
        assert tokens_count(text=_context(result.messages)) <= budget + 4


def _history(turns: int) -> list[dict[str, str]]:
    topics = [
        ("What is the hotel cap in London?", "It is 250 EUR per night in London."),
        ("Do analytics cookies expire?", "Analytics cookies expire after 13 months."),
        ("Does an idempotency key expire?", "Keys are stored for 24 hours per idempotency key."),
        ("Who approves business class?", "A vice president approves business class."),
        ("When is the change freeze?", "From December 15 to January 5."),
        ("What is the trial length?", "Fourteen days on the Team plan."),
    ]
    history = []
    for user, assistant in topics[:turns]:
        history += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    return history


def test_compact_history_keeps_recent_turns_verbatim_and_relevant_older_ones() -> None:
    history = _history(6)
    result = _compress(
        _prompt(history=history), **{**ONLY, "compact_history": True}, history_keep_recent=2
    )
    kept = result.messages[1:-1]
    assert kept[-4:] == history[-4:]  # the last two turns, word for word
    assert history[4] in kept and history[5] in kept  # older, but about idempotency keys
    assert history[0] not in kept and history[2] not in kept  # older and unrelated
    assert result.parts[2].items_removed == 3


def test_compact_history_pins_the_first_turns_when_asked() -> None:
    history = FEW_SHOT + _history(5)
    result = _compress(
        _prompt(history=history),
        **{**ONLY, "compact_history": True},
        history_keep_first=1,
        history_keep_recent=1,
    )
    assert result.messages[1:3] == FEW_SHOT


def test_system_prompt_and_last_question_always_survive() -> None:
    messages = _prompt(history=FEW_SHOT * 2 + _history(6))
    result = _compress(messages, budget_tokens=1, history_budget_tokens=1, history_keep_recent=0)
    assert result.messages[0]["role"] == "system"
    assert _squash(result.messages[0]["content"]) == _squash(SYSTEM["content"])
    assert result.messages[-1]["role"] == "user"
    assert result.messages[-1]["content"].startswith(QUESTION)
    assert _context(result.messages).strip()


def test_the_input_is_left_as_it_was() -> None:
    messages = _prompt(history=FEW_SHOT * 2 + _history(4))
    before = copy.deepcopy(messages)
    _compress(messages)
    assert messages == before


def test_the_result_reports_tokens_before_and_after_for_the_trace() -> None:
    messages = _prompt(history=FEW_SHOT * 2 + _history(5))
    result = _compress(messages)
    assert result.tokens_before == messages_tokens(messages=messages)
    assert result.tokens_after == messages_tokens(messages=result.messages)
    assert result.tokens_before - result.tokens_after == sum(p.tokens_removed for p in result.parts)
    trace = result.trace_dict()
    assert trace["tokens_before"] == result.tokens_before
    assert trace["tokens_after"] == result.tokens_after
    assert [part["name"] for part in trace["parts"]] == list(PARTS)
    assert f"{result.tokens_before:,} → {result.tokens_after:,}" in result.label()


def test_the_question_is_taken_from_the_last_user_message_when_not_given() -> None:
    result = prompt_compress(
        messages=_prompt(), question="", options=CompressionOptions(budget_tokens=60)
    )
    assert _squash(EVIDENCE) in _squash(_context(result.messages))


def test_the_qa_set_has_a_known_evidence_sentence_for_every_question() -> None:
    data = qa_load()
    documents = {
        doc["id"]: " ".join(p for section in doc["sections"] for p in section["paragraphs"])
        for doc in data["documents"]
    }
    assert len(data["questions"]) >= 100
    for item in data["questions"]:
        assert item["evidence"] in documents[item["doc"]], item["question"]


def test_evidence_survives_compression_on_qa_items() -> None:
    prompts = [p for p in prompts_build(variants=1) if p.style == "direct"][::9]
    assert len(prompts) >= 10
    for prompt in prompts:
        result = prompt_compress(
            messages=prompt.messages,
            question=prompt.question,
            options=CompressionOptions(history_keep_first=prompt.few_shot_turns),
        )
        assert _squash(prompt.evidence) in _squash(_context(result.messages)), prompt.question
        assert result.tokens_after < result.tokens_before


@pytest.mark.parametrize("part", PARTS)
def test_each_part_can_be_switched_off_alone(part: str) -> None:
    messages = _prompt(history=FEW_SHOT * 2 + _history(6))
    on = _compress(messages, budget_tokens=80, history_keep_recent=1)
    off = _compress(messages, budget_tokens=80, history_keep_recent=1, **{part: False})
    report = {p.name: p for p in off.parts}
    assert not report[part].ran and report[part].tokens_removed == 0
    assert {p.name: p.tokens_removed > 0 for p in on.parts}[part]
    assert off.messages != on.messages

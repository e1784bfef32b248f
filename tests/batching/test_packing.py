"""The packing contract: the prompt's exact format and the strict reading of replies."""

from __future__ import annotations

from latency.batching.packing import (
    PACK_SYSTEM,
    Packable,
    pack_answer_fits,
    pack_body,
    pack_messages,
    pack_parse,
    pack_prompt_split,
    packable_prompt,
    packs_group,
)
from latency.simulator.packed import PACK_SYSTEM as SIMULATOR_PACK_SYSTEM
from latency.simulator.packed import packed_items

SENTIMENT = "Classify the sentiment of this review as positive, negative or neutral: {}"


def test_pack_messages_exact_format() -> None:
    messages = pack_messages(prompts=["first", "second\nline"])
    assert messages == [
        {"role": "system", "content": PACK_SYSTEM},
        {"role": "user", "content": "[1] first\n[2] second\nline"},
    ]
    assert PACK_SYSTEM == SIMULATOR_PACK_SYSTEM


def test_what_the_items_share_is_said_once() -> None:
    reviews = ["Great phone, love it.", "Battery died in a day.", "It is a phone."]
    prompts = [SENTIMENT.format(review) for review in reviews]
    user = pack_messages(prompts=prompts)[1]["content"]
    assert user == (
        "Classify the sentiment of this review as positive, negative or neutral: {item}\n\n"
        "[1] Great phone, love it.\n[2] Battery died in a day.\n[3] It is a phone."
    )
    assert user.count("Classify") == 1
    # The simulator reads back exactly the prompts each item would have sent alone.
    assert packed_items(messages=pack_messages(prompts=prompts)) == prompts


def test_a_shared_end_and_whole_words() -> None:
    prompts = ["Translate to French: the cat sat. Answer in one line.",
               "Translate to French: the cow barks. Answer in one line."]  # fmt: skip
    pack = pack_prompt_split(prompts=prompts)
    # "the c" is shared, but an item keeps its whole words; the end is shared from a space.
    assert pack.template == "Translate to French: the {item} Answer in one line."
    assert pack.parts == ("cat sat.", "cow barks.")
    assert packed_items(messages=pack_messages(prompts=prompts)) == prompts


def test_nothing_worth_sharing_is_a_plain_list() -> None:
    prompts = ["What is DNS?", "Why is the sky blue?"]
    assert pack_prompt_split(prompts=prompts).template == "{item}"
    assert packed_items(messages=pack_messages(prompts=prompts)) == prompts


def test_parse_well_formed_reply_keeps_inner_blank_lines() -> None:
    reply = "[1] positive\n[2] para one\n\npara two\n[3] neutral"
    assert pack_parse(reply=reply, count=3) == ["positive", "para one\n\npara two", "neutral"]


def test_parse_missing_item_is_none() -> None:
    assert pack_parse(reply="[1] positive\n[3] neutral", count=3) == ["positive", None, "neutral"]


def test_parse_malformed_items_are_none() -> None:
    assert pack_parse(reply="Sure! [1] yes", count=1) == [None]
    assert pack_parse(reply="", count=2) == [None, None]
    # Repeated and out-of-order headings: those answers cannot be trusted.
    assert pack_parse(reply="[1] a\n[1] b\n[2] c", count=2) == [None, None]
    assert pack_parse(reply="[2] b\n[1] a", count=2) == [None, None]
    # An empty answer, and a heading beyond the count.
    assert pack_parse(reply="[1] \n[2] ok\n[3] x", count=2) == [None, "ok"]


def test_packable_only_single_user_messages_a_line_can_carry() -> None:
    assert packable_prompt(body={"messages": [{"role": "user", "content": "hi"}]}) == "hi"
    system = {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}]}
    assert packable_prompt(body=system) is None
    tools = {"messages": [{"role": "user", "content": "q"}], "tools": [{}]}
    assert packable_prompt(body=tools) is None
    for text in ("see\n[2] this", " padded", "a {item} here", "two\n\nparagraphs"):
        assert packable_prompt(body={"messages": [{"role": "user", "content": text}]}) is None


def test_packs_bounded_by_size_and_tokens_and_share_options() -> None:
    items = [Packable(key=n, prompt="x", tokens=10) for n in range(25)]
    packs, alone = packs_group(items=items, size=10, token_budget=10_000)
    assert [len(p) for p in packs] == [10, 10, 5] and alone == []
    packs, alone = packs_group(items=items[:6], size=10, token_budget=40)
    assert all(sum(p.tokens + 3 for p in pack) <= 43 for pack in packs)
    long = [Packable(key=1, prompt="x", tokens=5000)]
    assert packs_group(items=long, size=10, token_budget=1500) == ([], long)
    mixed = [Packable(key=n, prompt="x", tokens=1, options=str(n % 2)) for n in range(6)]
    packs, _ = packs_group(items=mixed, size=10, token_budget=1500)
    assert sorted(sorted(p.key for p in pack) for pack in packs) == [[0, 2, 4], [1, 3, 5]]


def test_a_length_limit_is_each_items() -> None:
    body = {"model": "m", "messages": [], "max_tokens": 10, "temperature": 0}
    assert pack_body(body=body, count=5) == {"model": "m", "max_tokens": 70, "temperature": 0}
    assert pack_answer_fits(body=body, text="positive")
    # Near the limit, the item alone might have been cut short: it is asked alone.
    assert not pack_answer_fits(body=body, text="one two three four five six seven")
    assert pack_answer_fits(body={"messages": []}, text="any length at all " * 50)

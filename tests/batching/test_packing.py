"""The packing contract: the prompt's exact format and the strict reading of replies."""

from __future__ import annotations

from latency.batching.packing import (
    PACK_SYSTEM,
    Packable,
    pack_messages,
    pack_parse,
    packable_prompt,
    packs_group,
)


def test_pack_messages_exact_format() -> None:
    messages = pack_messages(prompts=["first", "second\nline"])
    assert messages == [
        {"role": "system", "content": PACK_SYSTEM},
        {"role": "user", "content": "### Item 1\nfirst\n\n### Item 2\nsecond\nline"},
    ]
    assert PACK_SYSTEM == (
        "You will receive several independent items, each under a heading '### Item <n>'. "
        "Answer each item on its own, exactly as if it were the only request. Reply with the "
        "same headings, in the same order, each followed by that item's answer and nothing else."
    )


def test_parse_well_formed_reply_keeps_inner_blank_lines() -> None:
    reply = "### Item 1\npositive\n\n### Item 2\npara one\n\npara two\n\n### Item 3\nneutral"
    assert pack_parse(reply=reply, count=3) == ["positive", "para one\n\npara two", "neutral"]


def test_parse_missing_item_is_none() -> None:
    reply = "### Item 1\npositive\n\n### Item 3\nneutral"
    assert pack_parse(reply=reply, count=3) == ["positive", None, "neutral"]


def test_parse_malformed_items_are_none() -> None:
    assert pack_parse(reply="Sure! ### Item 1\nyes", count=1) == [None]
    assert pack_parse(reply="", count=2) == [None, None]
    # Repeated and out-of-order headings: those answers cannot be trusted.
    repeated = "### Item 1\na\n\n### Item 1\nb\n\n### Item 2\nc"
    assert pack_parse(reply=repeated, count=2) == [None, None]
    backwards = "### Item 2\nb\n\n### Item 1\na"
    assert pack_parse(reply=backwards, count=2) == [None, None]
    # An empty answer, and a heading beyond the count.
    assert pack_parse(reply="### Item 1\n\n\n### Item 2\nok\n\n### Item 3\nx", count=2) == [
        None,
        "ok",
    ]


def test_packable_only_single_user_messages() -> None:
    assert packable_prompt(body={"messages": [{"role": "user", "content": "hi"}]}) == "hi"
    system = {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}]}
    assert packable_prompt(body=system) is None
    tools = {"messages": [{"role": "user", "content": "q"}], "tools": [{}]}
    assert packable_prompt(body=tools) is None


def test_packs_bounded_by_size_and_tokens() -> None:
    items = [Packable(key=n, prompt="x", tokens=10) for n in range(25)]
    packs, alone = packs_group(items=items, size=10, token_budget=10_000)
    assert [len(p) for p in packs] == [10, 10, 5] and alone == []
    packs, alone = packs_group(items=items[:6], size=10, token_budget=40)
    assert all(sum(p.tokens + 5 for p in pack) <= 45 for pack in packs)
    long = [Packable(key=1, prompt="x", tokens=5000)]
    assert packs_group(items=long, size=10, token_budget=1500) == ([], long)

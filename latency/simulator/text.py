"""Deterministic answer text: the same model and messages always give the same answer.

Plain answers are templated English about the question's topic words, with an occasional
Markdown list or code block; prompts carrying `<context>` get a grounded, quoting answer,
classification prompts one of their labels, and packed prompts one answer per item.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from typing import Any

from latency.simulator.context import context_answer, context_find, context_strip
from latency.simulator.labels import label_answer
from latency.simulator.packed import packed_answer_join, packed_items
from latency.simulator.words import message_text, text_tokenize, text_topic_words

MIN_TOKENS = 40
TARGET_MAX_TOKENS = 90  # the last sentence may overshoot this by about 20 tokens

_OPENINGS = (
    "Here is a short overview of {topic}.",
    "Good question about {topic}.",
    "{Topic} comes down to a few practical points.",
    "Let's look at {topic} step by step.",
    "There are a few things worth knowing about {topic}.",
)
_BODY = (
    "The most important factor is usually {aspect}, so measure it before changing anything.",
    "In practice, {word} behaves differently under load than in a quick local test.",
    "A common mistake is to optimise {word} before knowing where the time actually goes.",
    "Most teams get the biggest win from {aspect}, and only then tune the details.",
    "It helps to keep {word} simple at first and add complexity only when numbers ask for it.",
    "If you are unsure, run two small experiments with {word} and keep the better one.",
    "Guides about {topic} often skip the edge cases, so test those yourself.",
    "Remember that {aspect} affects both the cost and the experience of your users.",
    "A good rule of thumb is to look at the median and the tail separately.",
    "When {word} is shared between many users, caching can save a lot of repeated work.",
    "Small changes to {word} can have a surprisingly large effect on {aspect}.",
    "Watch out for hidden dependencies between {word} and the rest of the system.",
    "The defaults are usually reasonable, but they are rarely optimal for {topic}.",
    "Writing down what you expect before you measure makes the results easier to read.",
)
_ASPECTS = (
    "latency",
    "reliability",
    "the overall cost",
    "the data layout",
    "the error handling",
    "how results are cached",
    "the size of the inputs",
    "concurrency",
)
_LIST_INTROS = ("A few points to keep in mind:", "In short:", "The key steps are:")
_LIST_ITEMS = (
    "Measure before you change {word}.",
    "Keep the first version of {word} simple.",
    "Check the slowest requests, not just the average.",
    "Write a small test for {word}.",
    "Note the decision and why you made it.",
    "Revisit {aspect} once real traffic arrives.",
)
_CODE_SNIPPETS = (
    "Here is a minimal example:\n\n```python\n"
    'async def {slug}_fetch(client):\n    return await client.get("/{slug}")\n```',
    "For a quick check from the shell:\n\n```bash\ncurl -s http://localhost:8000/{slug}/\n```",
    "In code, that looks like this:\n\n```python\n"
    "result = {slug}_compute(limit=10)\nprint(result)\n```",
)
_CLOSINGS = (
    "I hope this helps you get started with {topic}.",
    "Let me know if you want to go deeper into any of these points.",
    "That should give you a solid starting point.",
)
_WANTS_LIST = re.compile(r"\b(list|steps|bullets?|points)\b", re.I)
_WANTS_CODE = re.compile(r"\b(code|python|function|script|snippet|example)\b", re.I)


def request_seed(
    *, model: str, messages: list[dict[str, Any]], seed: int | None = None, choice: int = 0
) -> int:
    """A stable seed from the model, the role and text of each message, `seed` and the choice.

    Without a seed, choice 0 keeps the value it had before either existed, so answers (and the
    benches that predict them) stay the same.
    """
    parts: list[Any] = [model, [[m.get("role"), message_text(message=m)] for m in messages]]
    if seed is not None or choice:
        parts += [seed, choice]
    canonical = json.dumps(parts, sort_keys=True)
    return int.from_bytes(hashlib.sha256(canonical.encode()).digest()[:8], "big")


def answer_generate(
    *, model: str, messages: list[dict[str, Any]], seed: int | None = None, choice: int = 0
) -> str:
    """The full answer text for a request, before any stop or max_tokens cut."""
    items = packed_items(messages=messages)
    if items is not None:
        answers = [
            answer_generate(
                model=model, messages=[{"role": "user", "content": item}], seed=seed, choice=choice
            )
            for item in items
        ]
        # Each answer as its single request would send it: tokenizing drops trailing space.
        return packed_answer_join(answers=["".join(text_tokenize(text=a)) for a in answers])
    rng = random.Random(request_seed(model=model, messages=messages, seed=seed, choice=choice))
    user_messages = [m for m in messages if m.get("role") == "user"]
    question = context_strip(text=message_text(message=user_messages[-1])) if user_messages else ""
    context = context_find(messages=messages)
    if context is not None:
        return context_answer(question=question, context=context, rng=rng)
    label = label_answer(prompt=question)
    if label is not None:
        return label
    return plain_answer_generate(question=question, rng=rng)


def plain_answer_generate(*, question: str, rng: random.Random) -> str:
    """Templated sentences about the question's topic words, 40-120 tokens long."""
    words = text_topic_words(text=question)
    topic = " ".join(words[:2]) if words else "this topic"
    slug = re.sub(r"\W+", "_", words[0].lower()) if words else "task"

    def fill(template: str) -> str:
        return template.format(
            topic=topic,
            Topic=topic[:1].upper() + topic[1:],
            word=rng.choice(words[:5]) if words else "the system",
            aspect=rng.choice(_ASPECTS),
            slug=slug,
        )

    body = [fill(sentence) for sentence in rng.sample(_BODY, len(_BODY))]
    blocks = [f"{fill(rng.choice(_OPENINGS))} {body.pop()}"]
    if _WANTS_LIST.search(question) or rng.random() < 0.2:
        items = "\n".join(f"- {fill(item)}" for item in rng.sample(_LIST_ITEMS, 3))
        blocks.append(f"{rng.choice(_LIST_INTROS)}\n\n{items}")
    if _WANTS_CODE.search(question) or rng.random() < 0.1:
        blocks.append(fill(rng.choice(_CODE_SNIPPETS)))
    closing = fill(rng.choice(_CLOSINGS))
    target = rng.randint(MIN_TOKENS, TARGET_MAX_TOKENS)
    last: list[str] = []

    def tokens_total() -> int:
        return len(text_tokenize(text="\n\n".join([*blocks, " ".join([*last, closing])])))

    while body and tokens_total() < target:
        last.append(body.pop())
    blocks.append(" ".join([*last, closing]))
    return "\n\n".join(blocks)

"""Batch fixtures: a user, an instruction, and the simulator's answer to one prompt alone."""

from __future__ import annotations

import pytest
from openai import AsyncOpenAI

INSTRUCTION = "Classify the sentiment of this review as positive, negative or neutral: {text}"
REVIEWS = ["Great phone, love it", "Battery died in a day", "It is a phone", "Great phone, love it",
           "Terrible support", "Works as described"]  # fmt: skip


@pytest.fixture
def alone_answer(simulator):  # noqa: ANN001, ANN201
    """What the simulator answers a prompt sent on its own: the reference for every arm."""

    async def answer(prompt: str, model: str = "gpt-4o-mini") -> str:
        client = AsyncOpenAI(base_url=f"{simulator.url}/edge-eu/v1", api_key="x", max_retries=0)
        try:
            completion = await client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": prompt}]
            )
        finally:
            await client.close()
        return completion.choices[0].message.content or ""

    return answer

"""Usage as OpenAI fills it, in a stream too, and the key's token count corrected to it."""

from __future__ import annotations

import json
import uuid

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.test import AsyncClient

from latency.core.background import background_wait
from latency.gateway.keys import api_key_create
from latency.models import ApiKeyWindow

pytestmark = pytest.mark.django_db(transaction=True)


async def test_streamed_usage_and_the_token_count_corrected_to_it() -> None:
    user = await get_user_model().objects.acreate_user(
        f"u-{uuid.uuid4().hex[:6]}", password="x" * 12
    )
    key = await sync_to_async(api_key_create)(user=user)
    body = {
        "model": "gpt-4o-mini", "stream": True, "stream_options": {"include_usage": True},
        "max_tokens": 4000,
        "messages": [{"role": "user", "content": f"Tell me about rivers {uuid.uuid4().hex}"}],
    }  # fmt: skip
    response = await AsyncClient().post(
        "/v1/chat/completions", data=json.dumps(body), content_type="application/json",
        headers={"Authorization": f"Bearer {key}"},
    )  # fmt: skip
    assert response.status_code == 200 and response["x-ratelimit-limit-tokens"] == "200000"
    # Admitted at the prompt + max_tokens (over 4000 tokens) before the answer.
    assert int(response["x-ratelimit-remaining-tokens"]) < 200_000 - 4000
    lines = [line async for line in response.streaming_content]
    events = [json.loads(line[6:]) for line in b"".join(lines).decode().split("\n\n")
              if line.startswith("data: {")]  # fmt: skip
    usage = events[-1]["usage"]
    assert events[-1]["choices"] == [] and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    await background_wait()
    window = await ApiKeyWindow.objects.aget(key__user=user)
    assert window.tokens == usage["total_tokens"] < 4000 and window.requests == 1

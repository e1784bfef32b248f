"""Property: whatever body arrives at /v1/chat/completions or /v1/embeddings, the answer is
never a 5xx, and every refusal is OpenAI-shaped JSON."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator

import pytest
from django.contrib.auth import get_user_model
from django.test import AsyncClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from latency.core.db_async import async_connections_close
from latency.gateway.keys import api_key_create
from latency.models import ApiKey

pytestmark = pytest.mark.django_db(transaction=True)

FIELDS = ["model", "messages", "temperature", "max_tokens", "max_completion_tokens", "n",
          "stream", "stream_options", "top_p", "stop", "feature", "input", "encoding_format",
          "dimensions"]  # fmt: skip
scalars = (st.none() | st.booleans() | st.integers(-(2**70), 2**70)
           | st.floats(allow_nan=False) | st.text(max_size=30))  # fmt: skip
values = st.recursive(scalars, lambda children: st.lists(children, max_size=4)
                      | st.dictionaries(st.text(max_size=8), children, max_size=4),
                      max_leaves=12)  # fmt: skip
content = st.text(max_size=40) | st.sampled_from(["\x00", "a\ud800b", "\udfff"])
messages = st.lists(st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "system", "assistant", "tool", "", 3])},
    optional={"content": content | values, "name": st.text(max_size=5)},
), max_size=3)  # fmt: skip
shaped = st.fixed_dictionaries({}, optional={
    **{name: values for name in FIELDS},
    "messages": messages, "model": st.sampled_from(["gpt-4o-mini", "auto", "gpt-99", ""]) | values,
    "input": st.lists(content, max_size=3) | content | st.lists(st.integers(0, 50), max_size=3),
})  # fmt: skip
json_bodies = (shaped | values).map(lambda v: json.dumps(v).encode())
garbage = st.binary(max_size=200) | st.sampled_from(
    [b"", b"{", b'{"a": NaN}', b"[" * 2000 + b"]" * 2000, b'{"messages": Infinity}', b"\xff\xfe"]
)  # fmt: skip


@pytest.fixture
def loop_and_key(live_app) -> Iterator[tuple[asyncio.AbstractEventLoop, str]]:  # noqa: ANN001
    """One event loop for all examples (so the async reads reuse its connections), and a key
    with limits no fuzzing reaches. `live_app` makes the session's simulator and database."""
    user = get_user_model().objects.create_user(f"fz-{uuid.uuid4().hex[:6]}", password="x" * 12)
    token = api_key_create(user=user)
    ApiKey.objects.filter(user=user).update(requests_per_minute=10**6, tokens_per_minute=10**9)
    loop = asyncio.new_event_loop()
    yield loop, token
    loop.close()
    async_connections_close()


def _check(loop: asyncio.AbstractEventLoop, token: str, path: str, body: bytes) -> None:
    client = AsyncClient(headers={"Authorization": f"Bearer {token}"})
    response = loop.run_until_complete(
        client.post(path, data=body, content_type="application/json")
    )
    assert response.status_code < 500, (body[:300], response.content[:300])
    assert response["x-request-id"]
    if response.status_code >= 400:
        assert response["Content-Type"].startswith("application/json")
        error = json.loads(response.content)["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert isinstance(error["message"], str) and error["message"]


fuzz = settings(max_examples=120, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])  # fmt: skip


@fuzz
@given(body=json_bodies | garbage)
def test_chat_completions_never_fail_on_bad_input(loop_and_key, body: bytes) -> None:  # noqa: ANN001
    _check(*loop_and_key, "/v1/chat/completions", body)


@fuzz
@given(body=json_bodies | garbage)
def test_embeddings_never_fail_on_bad_input(loop_and_key, body: bytes) -> None:  # noqa: ANN001
    _check(*loop_and_key, "/v1/embeddings", body)

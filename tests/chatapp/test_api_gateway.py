"""The gateway over real HTTP against daphne, with the official openai SDK: rate limits and
their headers, request ids, embeddings, and errors in OpenAI's shape wherever /v1 refuses."""

from __future__ import annotations

import time
import uuid

import httpx2 as httpx
import numpy as np
import openai
import pytest
from django.contrib.auth import get_user_model

from latency.embeddings.local import embeddings_encode
from latency.gateway.keys import api_key_create, api_key_limits_set, api_key_revoke
from latency.models import ApiKey
from tests.fixtures.openai_errors import openai_error

pytestmark = pytest.mark.django_db(transaction=True)

RATE_HEADERS = [f"x-ratelimit-{part}-{kind}" for kind in ("requests", "tokens")
                for part in ("limit", "remaining", "reset")]  # fmt: skip


def _user():  # noqa: ANN202
    return get_user_model().objects.create_user(f"gw-{uuid.uuid4().hex[:6]}", password="x" * 12)


@pytest.fixture
def key(live_app) -> str:  # noqa: ANN001
    return api_key_create(user=_user())


@pytest.fixture
def client(live_app, key: str) -> openai.OpenAI:  # noqa: ANN001
    return openai.OpenAI(base_url=f"{live_app.url}/v1", api_key=key, max_retries=0)


def test_rate_limit_headers_and_request_ids(client: openai.OpenAI) -> None:
    raw = client.models.with_raw_response.list(extra_headers={"X-Request-Id": "trace-42.a"})
    assert raw.headers["x-request-id"] == "trace-42.a"
    assert all(raw.headers[name] for name in RATE_HEADERS)
    assert raw.headers["x-ratelimit-limit-requests"] == "500"
    assert int(raw.headers["x-ratelimit-remaining-requests"]) == 499
    assert raw.headers["x-ratelimit-reset-requests"].endswith("s")
    other = client.models.with_raw_response.list(extra_headers={"X-Request-Id": "bad id\x7f"})
    assert other.headers["x-request-id"].startswith("req_")
    answer = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": f"hi {uuid.uuid4().hex}"}]
    )
    assert all(answer.headers[name] for name in RATE_HEADERS)
    assert answer.headers["x-request-id"].startswith("req_")
    usage = answer.parse().usage
    assert (
        usage.prompt_tokens > 0
        and usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    )


def test_over_the_limit_is_a_429_the_sdk_understands(client: openai.OpenAI, key: str) -> None:
    row = ApiKey.objects.get(prefix=key[:12])
    api_key_limits_set(user=row.user, key_id=row.id, requests_per_minute=2, tokens_per_minute=10**6)
    client.models.list()
    client.models.list()
    with pytest.raises(openai.RateLimitError) as refused:
        client.models.list()
    response = refused.value.response
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert response.headers["x-ratelimit-remaining-requests"] == "0"
    assert response.json()["error"] == {
        "message": response.json()["error"]["message"], "type": "requests", "param": None,
        "code": "rate_limit_exceeded"}  # fmt: skip


def test_tokens_per_minute_refuse_a_large_prompt(client: openai.OpenAI, key: str) -> None:
    row = ApiKey.objects.get(prefix=key[:12])
    api_key_limits_set(user=row.user, key_id=row.id, requests_per_minute=100, tokens_per_minute=50)
    with pytest.raises(openai.RateLimitError) as refused:
        client.embeddings.create(model="all-MiniLM-L6-v2", input=["word " * 100])
    assert refused.value.response.json()["error"]["type"] == "tokens"


def test_revoked_key_is_refused_within_a_second(client: openai.OpenAI, key: str) -> None:
    client.models.list()  # now cached by the server
    row = ApiKey.objects.get(prefix=key[:12])
    api_key_revoke(user=row.user, key_id=row.id)
    time.sleep(1.05)
    with pytest.raises(openai.AuthenticationError):
        client.models.list()


def test_embeddings_match_the_local_model(client: openai.OpenAI, live_app, key: str) -> None:  # noqa: ANN001
    texts = ["How tall is Mount Everest?", "A recipe for bread", "café au lait ☕", "x" * 3000]
    response = client.embeddings.create(model="all-MiniLM-L6-v2", input=texts)  # base64 on wire
    got = np.array([item.embedding for item in response.data], dtype=np.float32)
    expected = embeddings_encode(texts=texts)
    assert got.shape == (4, 384) and [item.index for item in response.data] == [0, 1, 2, 3]
    assert (np.sum(got * expected, axis=1) > 0.999).all()
    assert (
        response.usage.prompt_tokens > 0
        and response.usage.total_tokens == response.usage.prompt_tokens
    )
    floats = httpx.post(
        f"{live_app.url}/v1/embeddings",
        headers={"Authorization": f"Bearer {key}"},
        json={"input": texts[0], "encoding_format": "float", "dimensions": 384},
    )
    body = floats.json()
    assert body["object"] == "list" and body["data"][0]["object"] == "embedding"
    assert float(np.dot(np.array(body["data"][0]["embedding"]), expected[0])) > 0.999
    assert all(floats.headers[name] for name in RATE_HEADERS)


@pytest.mark.parametrize("body, param", [
    ({"input": [[1, 2, 3]]}, "input"), ({"input": []}, "input"), ({"input": 5}, "input"),
    ({"input": "x", "dimensions": 256}, "dimensions"),
    ({"input": "x", "encoding_format": "int8"}, "encoding_format"),
    ({"input": ["a"] * 1000}, "input"),
])  # fmt: skip
def test_embeddings_refusals(live_app, key: str, body: dict, param: str) -> None:  # noqa: ANN001
    response = httpx.post(f"{live_app.url}/v1/embeddings", json=body,
                          headers={"Authorization": f"Bearer {key}"})  # fmt: skip
    assert openai_error(response, 400)["param"] == param


def test_error_shapes_everywhere_under_v1(live_app, key: str) -> None:  # noqa: ANN001
    auth = {"Authorization": f"Bearer {key}"}
    v1 = f"{live_app.url}/v1"
    assert openai_error(httpx.get(f"{v1}/models"), 401)["code"] == "invalid_api_key"
    assert openai_error(httpx.get(f"{v1}/nothing/here", headers=auth), 404)
    assert openai_error(httpx.get(f"{v1}", headers=auth), 404)
    refused = httpx.post(f"{v1}/models", headers=auth)  # no CSRF page: a JSON 405
    assert openai_error(refused, 405) and refused.headers["allow"] == "GET"
    assert openai_error(httpx.get(f"{v1}/chat/completions", headers=auth), 405)
    assert openai_error(httpx.post(f"{v1}/chat/completions", content=b"{nope", headers=auth), 400)
    huge = b'{"messages": "' + b"x" * 3_000_000 + b'"}'  # over DATA_UPLOAD_MAX_MEMORY_SIZE
    assert openai_error(httpx.post(f"{v1}/chat/completions", content=huge, headers=auth), 413)
    large = b'{"messages": "' + b"x" * 600_000 + b'"}'  # over the API's own limit
    assert openai_error(httpx.post(f"{v1}/embeddings", content=large, headers=auth), 413)
    deep = b"[" * 5000 + b"]" * 5000
    assert openai_error(httpx.post(f"{v1}/chat/completions", content=b'{"a":' + deep + b"}",
                                   headers=auth), 400)  # fmt: skip
    assert (
        openai_error(httpx.get(f"{v1}/models/gpt-99", headers=auth), 404)["code"]
        == "model_not_found"
    )
    assert httpx.get(f"{v1}/models/gpt-4o-mini", headers=auth).json()["id"] == "gpt-4o-mini"

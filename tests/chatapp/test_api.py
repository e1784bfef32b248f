"""The OpenAI-compatible API, driven by the official openai SDK over HTTP against daphne."""

from __future__ import annotations

import uuid

import httpx2 as httpx
import openai
import pytest
from django.contrib.auth import get_user_model

from latency.gateway.keys import api_key_create

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def client(live_app) -> openai.OpenAI:  # noqa: ANN001
    user = get_user_model().objects.create_user(f"api-{uuid.uuid4().hex[:6]}", password="x" * 12)
    return openai.OpenAI(base_url=f"{live_app.url}/v1", api_key=api_key_create(user=user),
                         max_retries=0)  # fmt: skip


def test_models_are_listed(client: openai.OpenAI) -> None:
    names = {model.id for model in client.models.list()}
    assert {"gpt-4o-mini", "gpt-5", "claude-haiku-4.5"} <= names


def test_streamed_answer_then_cache_hits_with_headers(client: openai.OpenAI) -> None:
    question = f"What is the tallest mountain in region {uuid.uuid4().hex[:4]}?"
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": question}], stream=True
    )
    assert raw.headers["x-cache"] == "miss" and raw.headers["x-model"] == "gpt-4o-mini"
    chunks = list(raw.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) >= 2
    latency = chunks[-1].model_extra["x_latency"]
    assert latency["ttft_ms"] <= latency["total_ms"] and "generation" in latency["stages"]

    again = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": question.lower()}]
    )
    assert again.headers["x-cache"] == "exact" and float(again.headers["x-cache-similarity"]) == 1
    body = again.parse()
    assert body.choices[0].message.content == text
    assert body.model_extra["x_latency"]["cache"] == "exact"


def test_errors_are_openai_errors(client: openai.OpenAI, live_app, simulator) -> None:  # noqa: ANN001
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-99", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{live_app.url}/v1", api_key="sk-sub-wrong").models.list()
    response = httpx.post(f"{live_app.url}/v1/chat/completions", content=b"{not json",
                          headers={"Authorization": f"Bearer {client.api_key}"})  # fmt: skip
    assert response.status_code == 400 and "JSON" in response.json()["error"]["message"]
    simulator.configure(error_500=1.0)
    try:
        with pytest.raises(openai.APIStatusError) as failure:
            client.chat.completions.create(
                model="gpt-4o-mini", temperature=1.5,
                messages=[{"role": "user", "content": "fail please"}],
            )  # fmt: skip
    finally:
        simulator.configure(error_500=0.0)
    assert failure.value.status_code == 502
    assert client.models.list().data, "the server stays up"


def test_a_non_streamed_answer_that_breaks_after_its_first_token_is_an_error(
    client: openai.OpenAI, simulator,  # noqa: ANN001
) -> None:
    simulator.configure(stall_rate=1.0)  # every stream stops after its first tokens
    try:
        with pytest.raises(openai.APIStatusError) as failure:
            client.chat.completions.create(
                model="gpt-4o-mini", temperature=1.5,  # never cached
                messages=[{"role": "user", "content": f"stall {uuid.uuid4().hex[:6]}"}],
            )  # fmt: skip
    finally:
        simulator.configure(stall_rate=0.0)
    assert failure.value.status_code >= 500, "not a 200 with an error inside"
    assert failure.value.body["code"] == "stall"

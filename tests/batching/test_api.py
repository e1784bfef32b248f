"""The Batch API with the official openai SDK over real HTTP, against daphne, the simulator and
a real `batch_worker`: upload, create, poll, download, list, cancel, idempotency, isolation."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from django.contrib.auth import get_user_model
from openai import NotFoundError, OpenAI

from latency.models import BatchItem, BatchJob
from tests.batching.conftest import api_user_make, batch_wait, lines_make
from tests.fixtures.openai_errors import openai_error

pytestmark = pytest.mark.django_db(transaction=True)


def _client(live_app, key: str) -> OpenAI:  # noqa: ANN001
    return OpenAI(base_url=f"{live_app.url}/v1", api_key=key, max_retries=0)


def test_upload_create_poll_download(live_app, batch_worker) -> None:  # noqa: ANN001
    client = _client(live_app, api_user_make("api-flow"))
    data = lines_make(12, salt=uuid.uuid4().hex, repeat_every=8)  # 4 repeats
    file = client.files.create(file=("in.jsonl", data), purpose="batch")
    assert file.purpose == "batch" and file.bytes == len(data)
    assert client.files.retrieve(file.id).filename == "in.jsonl"
    assert client.files.content(file.id).content == data
    batch = client.batches.create(input_file_id=file.id, endpoint="/v1/chat/completions",
                                  completion_window="24h", metadata={"run": "flow"})  # fmt: skip
    assert batch.status in {"validating", "in_progress"} and batch.metadata == {"run": "flow"}
    batch = batch_wait(client, batch.id, until={"completed", "failed"})
    assert batch.status == "completed", batch.errors
    assert batch.request_counts.total == 12 and batch.request_counts.completed == 12
    assert batch.in_progress_at and batch.finalizing_at and batch.completed_at
    assert batch.error_file_id is None
    lines = [
        json.loads(line) for line in client.files.content(batch.output_file_id).text.splitlines()
    ]
    assert sorted(line["custom_id"] for line in lines) == sorted(f"r{n}" for n in range(12))
    by_id = {line["custom_id"]: line for line in lines}
    for line in lines:
        assert line["error"] is None and line["response"]["status_code"] == 200
        body = line["response"]["body"]
        assert body["object"] == "chat.completion" and body["choices"][0]["message"]["content"]
    # Identical requests get the one answer.
    assert (by_id["r0"]["response"]["body"]["choices"][0]["message"]["content"]
            == by_id["r8"]["response"]["body"]["choices"][0]["message"]["content"])  # fmt: skip
    listed = client.batches.list(limit=1)
    assert [b.id for b in listed.data] == [batch.id]
    assert client.files.delete(file.id).deleted
    with pytest.raises(NotFoundError):
        client.files.retrieve(file.id)


def test_idempotency_key_returns_the_same_batch(live_app) -> None:  # noqa: ANN001
    client = _client(live_app, api_user_make("api-idem"))
    file = client.files.create(file=("in.jsonl", lines_make(2, salt="idem")), purpose="batch")
    options = {
        "input_file_id": file.id, "endpoint": "/v1/chat/completions", "completion_window": "24h",
        "extra_headers": {"Idempotency-Key": "abc-1"},
    }  # fmt: skip
    first = client.batches.create(**options)
    second = client.batches.create(**options)
    assert first.id == second.id
    assert BatchJob.objects.filter(owner__username="api-idem").count() == 1


def _line(**changes) -> dict:  # noqa: ANN003
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    line = {"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": body}
    line.update(changes)
    return line


def _jsonl(*lines: dict) -> bytes:
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


CASES = {
    "not_utf8": (b'{"custom_id": "a"}\n\xff\xfe\n', "invalid_encoding", 2),
    "not_json": (_jsonl(_line()) + b"{nope\n", "invalid_json", 2),
    "duplicate_custom_id": (_jsonl(_line(), _line()), "duplicate_custom_id", 2),
    "wrong_url": (_jsonl(_line(url="/v1/embeddings")), "invalid_url", 1),
    "stream": (_jsonl(_line(body={**_line()["body"], "stream": True})), "stream_unsupported", 1),
    "empty": (b"\n", "empty_file", None),
    "too_many_lines": (b"{}\n" * 50_001, "too_many_lines", None),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_invalid_input_fails_with_the_line_and_makes_nothing(live_app, case: str) -> None:  # noqa: ANN001
    data, code, line = CASES[case]
    client = _client(live_app, api_user_make(f"api-bad-{case}"))
    file = client.files.create(file=("bad.jsonl", data), purpose="batch")
    batch = client.batches.create(input_file_id=file.id, endpoint="/v1/chat/completions",
                                  completion_window="24h")  # fmt: skip
    assert batch.status == "failed" and batch.failed_at
    error = batch.errors.data[0]
    assert error.code == code and error.line == line
    if line is not None:
        assert f"Line {line}" in error.message
    assert not BatchItem.objects.filter(job__uid=batch.id).exists()


def test_bad_create_parameters_are_openai_errors(live_app) -> None:  # noqa: ANN001
    import openai

    client = _client(live_app, api_user_make("api-params"))
    file = client.files.create(file=("in.jsonl", lines_make(1, salt="p")), purpose="batch")
    with pytest.raises(openai.BadRequestError) as caught:
        client.batches.create(
            input_file_id=file.id, endpoint="/v1/chat/completions", completion_window="48h"
        )  # type: ignore[arg-type]
    assert caught.value.body["param"] == "completion_window"
    with pytest.raises(openai.NotFoundError):
        client.batches.create(input_file_id="file-missing", endpoint="/v1/chat/completions",
                              completion_window="24h")  # fmt: skip
    with pytest.raises(openai.AuthenticationError):
        OpenAI(base_url=f"{live_app.url}/v1", api_key="sk-sub-wrong", max_retries=0).batches.list()


def test_cancel_stops_upstream_calls_within_a_second(live_app, batch_worker, simulator) -> None:  # noqa: ANN001
    client = _client(live_app, api_user_make("api-cancel"))
    simulator.configure(time_scale=1.0)
    try:
        file = client.files.create(file=("in.jsonl", lines_make(400, salt=uuid.uuid4().hex)),
                                   purpose="batch")  # fmt: skip
        batch = client.batches.create(input_file_id=file.id, endpoint="/v1/chat/completions",
                                      completion_window="24h")  # fmt: skip
        batch_wait(client, batch.id, until={"in_progress"}, timeout=60)
        while BatchItem.objects.filter(job__uid=batch.id, state="done").count() < 3:
            time.sleep(0.1)
        cancelled_at = time.time()
        batch = client.batches.cancel(batch.id)
        assert batch.status in {"cancelling", "cancelled"}
        batch = batch_wait(client, batch.id, until={"cancelled"}, timeout=5)
        assert time.time() - cancelled_at < 5
    finally:
        simulator.configure(time_scale=0.1)
    assert batch.cancelling_at and batch.cancelled_at
    assert 0 < batch.request_counts.completed < 400
    late = [r for r in simulator.log(after_ts=cancelled_at) if r["started_ts"] > cancelled_at + 1]
    assert late == []
    states = set(BatchItem.objects.filter(job__uid=batch.id).values_list("state", flat=True))
    assert states <= {"done", "cancelled"}


def test_users_see_only_their_own_batches_and_files(live_app, client) -> None:  # noqa: ANN001
    owner = _client(live_app, api_user_make("api-owner"))
    other = _client(live_app, api_user_make("api-other"))
    file = owner.files.create(file=("in.jsonl", lines_make(1, salt="own")), purpose="batch")
    batch = owner.batches.create(input_file_id=file.id, endpoint="/v1/chat/completions",
                                 completion_window="24h")  # fmt: skip
    for call in (lambda: other.files.retrieve(file.id), lambda: other.files.content(file.id),
                 lambda: other.files.delete(file.id), lambda: other.batches.retrieve(batch.id),
                 lambda: other.batches.cancel(batch.id)):  # fmt: skip
        with pytest.raises(NotFoundError):
            call()
    assert other.batches.list().data == []
    # The page and its downloads: a job made by the API shows on its owner's /batch/ only.
    users = get_user_model().objects
    client.force_login(users.get(username="api-other"))
    assert batch.id not in client.get("/batch/").content.decode()
    assert client.get(f"/batch/{batch.id}/").status_code == 404
    assert client.get(f"/batch/{batch.id}/results.csv").status_code == 404
    client.force_login(users.get(username="api-owner"))
    assert batch.id in client.get("/batch/").content.decode()
    assert client.get(f"/batch/{batch.id}/results.jsonl").status_code == 200


def test_files_and_batches_carry_request_ids_and_refuse_in_openais_shape(live_app) -> None:  # noqa: ANN001
    import httpx2 as httpx

    key = api_user_make("api-edge")
    client = _client(live_app, key)
    traced = {"X-Request-Id": "batch-trace-1"}
    raw = client.files.with_raw_response.create(file=("in.jsonl", lines_make(1, salt="edge")),
                                                purpose="batch", extra_headers=traced)  # fmt: skip
    assert raw.headers["x-request-id"] == "batch-trace-1"
    assert raw.headers["x-ratelimit-remaining-requests"]
    file = raw.parse()
    assert [f.id for f in client.files.list(purpose="batch")] == [file.id]
    content = client.files.with_raw_response.content(file.id)
    assert content.headers["x-request-id"].startswith("req_")
    batch = client.batches.with_raw_response.create(
        input_file_id=file.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    assert batch.headers["x-request-id"].startswith("req_")
    listed = client.batches.with_raw_response.list()
    assert listed.headers["x-request-id"] and listed.headers["x-ratelimit-limit-requests"]

    v1, auth = f"{live_app.url}/v1", {"Authorization": f"Bearer {key}"}
    assert openai_error(httpx.get(f"{v1}/files"), 401)["code"] == "invalid_api_key"
    assert openai_error(httpx.get(f"{v1}/batches/batch_nope", headers=auth), 404)
    assert openai_error(httpx.get(f"{v1}/files/file-nope/content", headers=auth), 404)
    refused = httpx.get(f"{v1}/batches/{batch.parse().id}/cancel", headers=auth)
    assert openai_error(refused, 405) and refused.headers["allow"] == "POST"
    assert openai_error(httpx.put(f"{v1}/files/{file.id}", headers=auth), 405)
    bad_json = httpx.post(f"{v1}/batches", content=b"{nope", headers=auth)
    assert "JSON" in openai_error(bad_json, 400)["message"]
    not_an_object = httpx.post(f"{v1}/batches", json=[1], headers=auth)
    assert openai_error(not_an_object, 400)
    no_file = httpx.post(f"{v1}/files", data={"purpose": "batch"}, headers=auth)
    assert openai_error(no_file, 400)["param"] == "file"
    assert openai_error(httpx.get(f"{v1}/files?limit=0", headers=auth), 400)["param"] == "limit"

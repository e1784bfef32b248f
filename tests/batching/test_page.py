"""The /batch/ page: login, create from pasted lines or a CSV (columns by name), errors that
name the line, progress rows, downloads; the same jobs through the API; staff metrics."""

from __future__ import annotations

import csv
import html
import io

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from latency.batching.inputs import BatchInputError, openai_lines_parse, rows_parse
from latency.gateway.keys import api_key_create
from latency.models import BatchItem, BatchJob
from tests.batching.conftest import INSTRUCTION

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def user_client(client):  # noqa: ANN001, ANN201
    user = get_user_model().objects.create_user("page-user", password="pw")
    client.force_login(user)
    client.user = user
    return client


def test_login_required(client) -> None:  # noqa: ANN001
    assert client.get("/batch/").status_code == 302


def test_create_from_pasted_lines_shows_a_progress_row(user_client) -> None:  # noqa: ANN001
    response = user_client.post("/batch/new/", {"instruction": INSTRUCTION,
                                                "lines": "good\nbad\n\ngood\n"})  # fmt: skip
    assert response.status_code == 302
    job = BatchJob.objects.get(owner=user_client.user)
    assert job.total == 3 and job.source == "page"
    items = list(BatchItem.objects.filter(job=job).order_by("index"))
    assert items[0].body["messages"][0]["content"] == INSTRUCTION.format(text="good")
    assert items[2].duplicate_of_id == items[0].id
    page = user_client.get("/batch/").content.decode()
    assert f'id="batch-{job.uid}"' in page and 'hx-trigger="every 1s"' in page
    row = user_client.get(f"/batch/{job.uid}/").content.decode()
    assert "<progress" in row and "0 done" in row
    assert user_client.get(f"/batch/{job.uid}/results.csv").status_code == 200
    # The API shows the job made on the page.
    key = api_key_create(user=user_client.user)
    listed = user_client.get("/v1/batches", HTTP_AUTHORIZATION=f"Bearer {key}").json()
    assert [b["id"] for b in listed["data"]] == [job.uid]


def test_csv_columns_by_name(user_client) -> None:  # noqa: ANN001
    buffer = io.StringIO()
    csv.writer(buffer).writerows([["id", "review"], ["1", "Lovely"], ["2", "Awful"]])
    upload = SimpleUploadedFile("reviews.csv", buffer.getvalue().encode())
    instruction = "Classify the sentiment of this review as positive, negative or neutral: {review}"
    user_client.post("/batch/new/", {"instruction": instruction, "file": upload})
    job = BatchJob.objects.get(owner=user_client.user)
    contents = [i.body["messages"][0]["content"] for i in job.items.order_by("index")]
    assert contents == [instruction.format(review="Lovely"), instruction.format(review="Awful")]


def test_csv_without_the_placeholder_column_is_refused(user_client) -> None:  # noqa: ANN001
    upload = SimpleUploadedFile("reviews.csv", b"id,body\n1,Lovely\n")
    response = user_client.post("/batch/new/", {"instruction": INSTRUCTION, "file": upload})
    assert response.status_code == 400
    assert "Line 1: the CSV has no column 'text'" in html.unescape(response.content.decode())
    assert not BatchJob.objects.exists()


def test_other_users_job_is_hidden(user_client) -> None:  # noqa: ANN001
    other = get_user_model().objects.create_user("page-other", password="pw")
    parsed = rows_parse(data=b"x", filename="pasted", instruction=INSTRUCTION, model="gpt-4o-mini")
    from latency.batching.jobs import job_create

    job = job_create(owner=other, parsed=parsed, source="page")
    assert job.uid not in user_client.get("/batch/").content.decode()
    for path in (f"/batch/{job.uid}/", f"/batch/{job.uid}/results.jsonl"):
        assert user_client.get(path).status_code == 404
    assert user_client.post(f"/batch/{job.uid}/cancel/").status_code == 404


def test_limits_on_size_and_lines() -> None:
    line = b'{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {}}\n'
    with override_settings(BATCH_MAX_FILE_BYTES=50), pytest.raises(BatchInputError) as caught:
        openai_lines_parse(data=line, known_models={"gpt-4o-mini"})
    assert caught.value.errors[0].code == "file_too_large"
    with override_settings(BATCH_MAX_LINES=2), pytest.raises(BatchInputError) as caught:
        openai_lines_parse(data=line * 3, known_models={"gpt-4o-mini"})
    assert caught.value.errors[0].code == "too_many_lines"


def test_staff_metrics_show_batch_counters(client) -> None:  # noqa: ANN001
    from latency.batching import metrics

    metrics.item_outcome(outcome="answered")
    metrics.queue_depth_observe()
    staff = get_user_model().objects.create_user("page-staff", password="pw", is_staff=True)
    client.force_login(staff)
    text = client.get("/metrics").content.decode()
    assert "subsecond_batch_items_total" in text and "subsecond_batch_queue_depth" in text

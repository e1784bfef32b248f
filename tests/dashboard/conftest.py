"""Fixtures for the dashboard tests: staff and plain users, and traces of a chosen age."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from latency.models import RequestTrace, TraceRollup


@pytest.fixture
def staff_user(db):  # noqa: ANN001, ANN201
    return get_user_model().objects.create_user("boss", password="a-long-passphrase-42",
                                                is_staff=True)  # fmt: skip


@pytest.fixture
def plain_user(db):  # noqa: ANN001, ANN201
    return get_user_model().objects.create_user("pleb", password="a-long-passphrase-42")


def traces_insert(rows: list[dict[str, Any]]) -> list[int]:
    """Insert traces; each row's `age_s` (default 1) says how long ago it was made."""
    objects = [RequestTrace(**{k: v for k, v in row.items() if k != "age_s"}) for row in rows]
    ids = [trace.id for trace in RequestTrace.objects.bulk_create(objects)]
    ages = [float(row.get("age_s", 1.0)) for row in rows]
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE latency_requesttrace AS t SET created_at = now() - make_interval(secs => a.age)"
            " FROM unnest(%s::bigint[], %s::float8[]) AS a(id, age) WHERE t.id = a.id",
            [ids, ages],
        )
    return ids


@pytest.fixture
def traces_make(db) -> Callable[[list[dict[str, Any]]], list[int]]:  # noqa: ANN001
    RequestTrace.objects.all().delete()
    TraceRollup.objects.all().delete()
    return traces_insert

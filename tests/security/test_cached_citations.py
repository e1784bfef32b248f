"""A cached answer that cites documents shows its citations again when it is served from cache."""

from __future__ import annotations

import time

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model

from latency.models import CacheEntry
from latency.pipeline import ChatRequest, DoneEvent, pipeline_run
from latency.strategies import strategy_settings_forget
from tests.rag.test_retrieve import _document

pytestmark = pytest.mark.django_db(transaction=True)


async def _ask(user, question: str) -> DoneEvent:  # noqa: ANN001
    request = ChatRequest(messages=[{"role": "user", "content": question}],
                          received_at=time.perf_counter(), user_id=user.id,
                          use_documents=True)  # fmt: skip
    return [event async for event in pipeline_run(request=request)][-1]


async def test_a_cache_hit_replays_the_citations_of_its_answer():
    strategy_settings_forget()
    ana = await get_user_model().objects.acreate_user("cite-ana", password="unused-pw-1")
    evidence = "Refunds are paid within 14 days of the returned item arriving at the warehouse."
    document = await sync_to_async(_document)(ana, "Returns policy", [evidence])
    first = await _ask(ana, "How long do refunds take to be paid?")
    assert first.outcome.cache == "miss" and "[1]" in first.text
    assert first.outcome.citations and first.outcome.citations[0]["document_id"] == document.id
    entry = await CacheEntry.objects.aget(id=first.outcome.cache_entry_id)
    assert entry.citations == first.outcome.citations

    exact = await _ask(ana, "how long do refunds take to be paid")
    assert exact.outcome.cache == "hit" and "[1]" in exact.text
    assert exact.outcome.citations == first.outcome.citations
    semantic = await _ask(ana, "Within how many days are refunds paid out?")
    if semantic.outcome.cache == "hit":
        assert semantic.outcome.citations == first.outcome.citations

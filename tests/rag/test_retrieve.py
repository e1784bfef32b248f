"""Retrieval on real PostgreSQL + pgvector: owner filter, shared documents, readiness, and the
chat pipeline answering from (and citing) the user's documents."""

from __future__ import annotations

import hashlib
import time

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model

from latency.embeddings.local import embeddings_encode
from latency.models import CacheEntry, Chunk, Document
from latency.pipeline import ChatRequest, DoneEvent, pipeline_run
from latency.rag.retrieve import passages_retrieve

pytestmark = pytest.mark.django_db(transaction=True)


def _document(owner, title: str, passages: list[str], *, shared: bool = False,  # noqa: ANN001
              searchable: bool = True) -> Document:  # fmt: skip
    data = "\n\n".join(passages).encode()
    document = Document.objects.create(
        owner=owner, shared=shared, title=title, filename=f"{title}.txt", content_type="text",
        size=len(data), sha256=hashlib.sha256(data).hexdigest(), data=data,
        status=Document.Status.READY if searchable else Document.Status.PROCESSING,
        chunk_count=len(passages),
    )  # fmt: skip
    for ordinal, (text, vector) in enumerate(
        zip(passages, embeddings_encode(texts=passages), strict=True)
    ):
        Chunk.objects.create(
            document=document, ordinal=ordinal, heading=title, text=text, token_count=40,
            embedding=vector, owner=owner, shared=shared, searchable=searchable,
        )  # fmt: skip
    return document


@pytest.fixture
def people():  # noqa: ANN201
    users = get_user_model().objects
    return users.create_user("ana", password="unused-pw-1"), users.create_user("bo", password="x2")


async def test_retrieval_sees_own_and_shared_documents_only(people) -> None:  # noqa: ANN001
    ana, bo = people
    secret = "The vault combination for the Lisbon office is kept by the facilities manager."
    await sync_to_async(_document)(ana, "Ana notes", [secret, "Ana likes green tea."])
    await sync_to_async(_document)(bo, "Bo notes", ["The Lisbon office vault opens at nine."])
    await sync_to_async(_document)(
        bo, "Handbook", ["Every office vault is audited twice a year."], shared=True
    )
    await sync_to_async(_document)(
        ana, "Draft", ["The Lisbon vault draft is unfinished."], searchable=False
    )
    found = await passages_retrieve(query="Who keeps the Lisbon vault combination?",
                                    user_id=ana.id, k=5)  # fmt: skip
    texts = [p.text for p in found.passages]
    assert texts[0] == secret
    assert "Every office vault is audited twice a year." in texts
    assert not any("nine" in t or "draft" in t for t in texts), "never another user's or unready"
    assert found.embed_ms > 0 and found.search_ms > 0
    for_bo = await passages_retrieve(query="Lisbon vault combination", user_id=bo.id, k=5)
    assert secret not in [p.text for p in for_bo.passages]


async def test_chat_answers_from_documents_with_citations_and_private_cache(people) -> None:  # noqa: ANN001
    ana, bo = people
    evidence = "Refunds are paid within 14 days of the returned item arriving at the warehouse."
    document = await sync_to_async(_document)(
        ana, "Returns policy", [evidence, "Gift cards cannot be exchanged for cash."]
    )
    question = "How long do refunds take to be paid?"

    async def ask(user) -> DoneEvent:  # noqa: ANN001
        request = ChatRequest(messages=[{"role": "user", "content": question}],
                              received_at=time.perf_counter(), user_id=user.id,
                              use_documents=True)  # fmt: skip
        return [event async for event in pipeline_run(request=request)][-1]

    done = await ask(ana)
    assert "14 days" in done.text and "[1]" in done.text, "the answer quotes the passage"
    assert done.outcome.citations[0]["document_id"] == document.id
    assert done.outcome.retrieval_embed_ms is not None
    assert done.outcome.retrieval_search_ms is not None
    assert done.stages["retrieval_search"] >= 0
    assert done.outcome.tokens_before >= done.outcome.tokens_after
    assert (await ask(ana)).outcome.cache == "hit"
    assert (await ask(bo)).outcome.cache == "miss", "an answer from Ana's documents is hers alone"
    entry = await CacheEntry.objects.filter(owner=ana).afirst()
    assert entry.source_documents == [document.id]


async def test_full_text_fusion_brings_up_an_exact_code(people) -> None:  # noqa: ANN001
    from latency.rag.retrieve import chunks_search

    ana, _ = people
    code = "Code E-4471 means the door controller firmware is outdated."
    near = "Badge readers that lose power show a red light until the breaker is reset."
    await sync_to_async(_document)(ana, "Devices", [near, "The lobby opens at eight.", code])
    # The question's vector is closest to the other passage; only the words point at the code.
    vector = embeddings_encode(texts=[near])[0]
    search = {"embedding": vector, "query": "E-4471 meaning", "user_id": ana.id, "k": 1}
    assert [p.text for p in await chunks_search(**search, fuse_fts=False)] == [near]
    assert [p.text for p in await chunks_search(**search, fuse_fts=True)] == [code]


async def test_a_large_library_is_searched_through_the_index_with_the_same_filter(
    people,
    monkeypatch,  # noqa: ANN001
) -> None:
    from latency.rag import retrieve

    ana, bo = people
    mine = ["The Oslo office closes at six.", "The Oslo office has a rooftop garden."]
    await sync_to_async(_document)(ana, "Oslo", mine)
    await sync_to_async(_document)(bo, "Bo's Oslo", ["Bo's Oslo office closes at five."])
    exact = await passages_retrieve(query="When does the Oslo office close?", user_id=ana.id, k=2)
    monkeypatch.setattr(retrieve, "EXACT_MAX_CHUNKS", 1)  # ana reads 2 chunks: "many"
    indexed = await passages_retrieve(query="When does the Oslo office close?", user_id=ana.id,
                                      k=2)  # fmt: skip
    assert [p.text for p in indexed.passages] == [p.text for p in exact.passages]
    assert indexed.passages[0].text == mine[0]
    assert all(p.score > 0 for p in indexed.passages)


async def test_a_question_is_embedded_once_for_the_cache_and_the_documents(
    people,
    monkeypatch,  # noqa: ANN001
) -> None:
    """On a cache miss with documents on, retrieval reuses the lookup's embedding of the
    question: one forward pass before the model call, not two."""
    from latency.cache import service as cache_service
    from latency.rag import retrieve

    ana, _ = people
    await sync_to_async(_document)(ana, "Office", ["The Porto office opens at eight."])
    passes: list[str] = []
    for module in (cache_service, retrieve):
        embed = module.query_embed

        async def counted(*, text: str, embed=embed) -> object:  # noqa: ANN001
            passes.append(text)
            return await embed(text=text)

        monkeypatch.setattr(module, "query_embed", counted)
    question = "When does the Porto office open?"
    request = ChatRequest(messages=[{"role": "user", "content": question}],
                          received_at=time.perf_counter(), user_id=ana.id,
                          use_documents=True)  # fmt: skip
    done = [event async for event in pipeline_run(request=request)][-1]
    assert done.outcome.cache == "miss" and done.outcome.citations, "answered from the document"
    assert passes == [question]

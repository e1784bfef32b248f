"""The semantic cache inside the pipeline, on real PostgreSQL + pgvector, against the simulator:
what may be served to whom, and what is never cached."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.utils import timezone

from latency.cache.service import cache_invalidate_documents
from latency.models import CacheEntry, StrategySettings
from latency.pipeline import ChatRequest, DoneEvent, ErrorEvent, pipeline_run
from latency.strategies import strategy_settings_forget

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _fresh_settings():  # noqa: ANN202
    strategy_settings_forget()
    yield
    strategy_settings_forget()


async def _settings(**changes: object) -> None:
    row, _ = await StrategySettings.objects.aget_or_create(id=1)
    for name, value in changes.items():
        setattr(row, name, value)
    await row.asave()
    strategy_settings_forget()


async def _ask(question: str, *, before: list[dict] | None = None, **options: object) -> DoneEvent:
    request = ChatRequest(
        messages=[*(before or []), {"role": "user", "content": question}],
        received_at=time.perf_counter(),
        **options,
    )
    last = None
    async for event in pipeline_run(request=request):
        last = event
    assert isinstance(last, DoneEvent), last
    return last


async def _user(name: str):  # noqa: ANN202
    return await get_user_model().objects.acreate_user(name, password="unused-password-1")


async def test_exact_and_semantic_hits_are_served_and_labelled() -> None:
    first = await _ask("What is the capital of Italy?")
    assert (first.outcome.cache, first.x_cache) == ("miss", "miss")
    again = await _ask("what is the capital of italy")
    assert (again.outcome.cache, again.x_cache) == ("hit", "exact") and again.text == first.text
    paraphrase = await _ask("Which city is Italy's capital?")
    assert (paraphrase.outcome.cache, paraphrase.x_cache) == ("hit", "semantic")
    assert paraphrase.outcome.cache_matched_query == "What is the capital of Italy?"
    assert 0 < paraphrase.outcome.cache_similarity < 1


async def test_a_different_entity_is_not_served_the_cached_answer() -> None:
    await _ask("What is the capital of Austria?")
    other = await _ask("What is the capital of Australia?")
    assert other.outcome.cache == "miss"


async def test_other_system_prompt_misses() -> None:
    await _ask("Summarise our refund policy.", before=[{"role": "system", "content": "Be terse."}])
    other = await _ask(
        "Summarise our refund policy.", before=[{"role": "system", "content": "Speak French."}]
    )
    assert other.outcome.cache == "miss"


async def test_follow_up_only_hits_after_the_same_earlier_turn() -> None:
    einstein = [{"role": "user", "content": "Who was Albert Einstein?"},
                {"role": "assistant", "content": "A physicist."}]
    curie = [{"role": "user", "content": "Who was Marie Curie?"},
             {"role": "assistant", "content": "A chemist and physicist."}]
    await _ask("How old was he when he died?", before=einstein)
    assert (await _ask("How old was he when he died?", before=curie)).outcome.cache == "miss"
    assert (await _ask("How old was he when he died?", before=einstein)).outcome.cache == "hit"


async def test_other_model_tier_misses() -> None:
    await _ask("Explain vector indexes.", model="gpt-4o-mini")
    assert (await _ask("Explain vector indexes.", model="gpt-5")).outcome.cache == "miss"
    assert (await _ask("Explain vector indexes.", model="gpt-4o-mini")).outcome.cache == "hit"


async def test_private_scope_keeps_one_users_answer_from_another() -> None:
    await _settings(cache_share_across_users=False)
    alice, bob = await _user("alice"), await _user("bob")
    await _ask("What is in my contract?", user_id=alice.id)
    assert (await _ask("What is in my contract?", user_id=bob.id)).outcome.cache == "miss"
    assert (await _ask("What is in my contract?", user_id=alice.id)).outcome.cache == "hit"


async def test_shared_scope_serves_general_answers_across_users() -> None:
    alice, bob = await _user("alice"), await _user("bob")
    await _ask("How many legs does a spider have?", user_id=alice.id)
    assert (await _ask("How many legs does a spider have?", user_id=bob.id)).outcome.cache == "hit"


async def test_hot_requests_errors_and_expired_entries_are_never_served(simulator) -> None:  # noqa: ANN001
    await _ask("Write a poem about latency.", temperature=1.2)
    assert (await _ask("Write a poem about latency.", temperature=1.2)).outcome.cache == "off"
    assert not await CacheEntry.objects.aexists()

    simulator.configure(error_500=1.0)
    try:
        request = ChatRequest(
            messages=[{"role": "user", "content": "Will this be cached?"}],
            received_at=time.perf_counter(),
        )
        events = [event async for event in pipeline_run(request=request)]
    finally:
        simulator.configure(error_500=0.0)
    assert isinstance(events[-1], ErrorEvent)
    assert not await CacheEntry.objects.aexists()

    await _ask("What does TTL mean?")
    await CacheEntry.objects.aupdate(expires_at=timezone.now() - timedelta(seconds=1))
    assert (await _ask("What does TTL mean?")).outcome.cache == "miss"


async def test_changed_document_invalidates_answers_that_cited_it() -> None:
    await _ask("What does the handbook say about leave?")
    await CacheEntry.objects.aupdate(source_documents=[41, 42])
    await _ask("What is HNSW?")
    from asgiref.sync import sync_to_async

    removed = await sync_to_async(cache_invalidate_documents)(document_ids=[42])
    assert removed == 1
    assert (await _ask("What does the handbook say about leave?")).outcome.cache == "miss"
    assert (await _ask("What is HNSW?")).outcome.cache == "hit"


async def test_switched_off_cache_is_off(simulator) -> None:  # noqa: ANN001
    await _settings(exact_cache=False, semantic_cache=False)
    await _ask("Is the cache off?")
    assert (await _ask("Is the cache off?")).outcome.cache == "off"


async def test_exact_tier_lives_in_redis_when_configured(settings) -> None:  # noqa: ANN001
    import redis
    from asgiref.sync import sync_to_async

    settings.REDIS_URL = "redis://127.0.0.1:6379/15"
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.flushdb()  # keys from an earlier run must not answer
    first = await _ask("What is Redis used for here?")
    assert len(client.keys("subsecond:cache:exact:*")) == 1
    again = await _ask("what is redis used for here")
    assert (again.outcome.cache, again.x_cache) == ("hit", "exact") and again.text == first.text

    await CacheEntry.objects.aupdate(source_documents=[7])
    await sync_to_async(cache_invalidate_documents)(document_ids=[7])
    assert client.keys("subsecond:cache:exact:*") == []
    assert (await _ask("what is redis used for here")).outcome.cache == "miss"


async def test_speculative_mode_cancels_the_model_call_on_a_hit(simulator) -> None:  # noqa: ANN001
    await _settings(speculative_cache=True)
    await _ask("What is speculative execution?")
    calls = len(simulator.log())
    hit = await _ask("What is speculative execution?")
    assert hit.outcome.cache == "hit"
    time.sleep(0.2)
    records = simulator.log()[calls:]
    assert all(r["outcome"] != "ok" for r in records), "a started call must be cancelled"


async def test_a_miss_calls_the_model_without_waiting_for_the_embedding(
    simulator, monkeypatch,  # noqa: ANN001
) -> None:  # fmt: skip
    """The speculative call leaves once the exact tier has missed: a busy embedding thread (here
    the real embedding, held 0.3 s longer) delays the semantic search, not the model's answer."""
    import asyncio

    from latency.cache import service

    real, embedded_at = service.query_embed, []

    async def busy_embed(*, text: str):  # noqa: ANN202
        vector = await real(text=text)
        await asyncio.sleep(0.3)
        embedded_at.append(time.time())
        return vector

    await _settings(speculative_cache=True)
    monkeypatch.setattr(service, "query_embed", busy_embed)
    calls = len(simulator.log())
    answer = await _ask("Why is the sky blue at noon?")
    assert answer.outcome.cache == "miss" and answer.text
    (record,) = simulator.log()[calls:]
    assert record["started_ts"] < embedded_at[0] - 0.2, (record["started_ts"], embedded_at)


async def test_a_full_embedding_queue_answers_from_the_model(monkeypatch) -> None:  # noqa: ANN001
    """Overload: the embedding queue refuses the question. The answer comes from the model, the
    trace says why the semantic tier was skipped, and once the queue has room the question is
    cached as usual."""
    from latency.cache import service
    from latency.embeddings.batcher import EmbeddingQueueFull
    from latency.models import RequestTrace
    from latency.observability.tracing import trace_saves_wait

    async def full(*, text: str):  # noqa: ANN202
        raise EmbeddingQueueFull("embedding queue is full (256 texts waiting)")

    real = service.query_embed
    monkeypatch.setattr(service, "query_embed", full)
    answer = await _ask("How many moons does Neptune have?")
    assert answer.outcome.cache == "miss" and answer.text
    await trace_saves_wait()
    trace = await RequestTrace.objects.order_by("-id").afirst()
    assert trace is not None and trace.status == "ok"
    assert trace.cache_note == "semantic tier skipped: the embedding queue is full"
    monkeypatch.setattr(service, "query_embed", real)
    assert (await _ask("How many moons does Neptune have?")).outcome.cache == "miss"
    assert (await _ask("How many moons does Neptune have?")).outcome.cache == "hit"


async def test_a_cold_embedding_model_skips_the_semantic_tier(monkeypatch) -> None:  # noqa: ANN001
    """While the model loads at start, questions go straight to the model instead of waiting."""
    from latency.cache import service

    await _ask("What is the capital of Italy?")
    monkeypatch.setattr(service, "query_embed_ready", lambda: False)
    assert (await _ask("Which city is Italy's capital?")).outcome.cache == "miss"
    exact = await _ask("what is the capital of italy")
    assert exact.outcome.cache == "hit", "the exact tier works"
    monkeypatch.setattr(service, "query_embed_ready", lambda: True)
    assert (await _ask("Which city is Italy's capital?")).x_cache == "semantic"


async def test_a_large_scope_is_searched_through_the_index_with_the_same_scope(
    monkeypatch,  # noqa: ANN001
) -> None:
    from latency.cache import store

    await _ask("What is the capital of Italy?")
    await _ask("How tall is Mount Everest?",
               before=[{"role": "system", "content": "Answer like a pirate."}])  # fmt: skip
    monkeypatch.setattr(store, "SEMANTIC_EXACT_MAX", 0)  # every scope counts as large now
    paraphrase = await _ask("Which city is Italy's capital?")
    assert (paraphrase.outcome.cache, paraphrase.x_cache) == ("hit", "semantic")
    assert paraphrase.outcome.cache_matched_query == "What is the capital of Italy?"
    other_scope = await _ask("How high is Mount Everest?")
    assert other_scope.outcome.cache == "miss", "the pirate's answer stays in its own scope"


async def test_a_paraphrase_is_still_served_after_the_database_dropped_its_connections() -> None:
    """The lookup's idle connections die with a database restart or an idle timeout; the next
    question must still be answered from the cache, not fail or fall through to the model."""
    from django.db import connection

    from latency.core.db_async import APPLICATION_NAME

    first = await _ask("How tall is the Eiffel Tower?")
    assert (await _ask("What is the height of the Eiffel Tower?")).x_cache == "semantic"

    def others_terminate() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name = %s",
                [APPLICATION_NAME],
            )
            return cursor.fetchone()[0]

    assert await sync_to_async(others_terminate)() >= 1
    again = await _ask("What's the height of the Eiffel Tower?")
    assert (again.outcome.cache, again.x_cache, again.text) == ("hit", "semantic", first.text)


async def test_eviction_runs_off_the_request_path_and_drops_exact_tier_copies(
    settings, monkeypatch,  # noqa: ANN001
) -> None:
    import redis

    from latency.cache import service
    from latency.core.background import background_wait

    settings.REDIS_URL = "redis://127.0.0.1:6379/15"
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.flushdb()
    monkeypatch.setattr(service, "EVICTION_CHANCE", 1.0)  # every store sweeps
    await _settings(cache_max_entries=2)
    for n in range(4):
        await _ask(f"What is the population of city number {n}?")
    await background_wait(timeout_s=30)
    left = [e async for e in CacheEntry.objects.values_list("query_normalized", flat=True)]
    assert len(left) <= 2
    assert len(client.keys("subsecond:cache:exact:*")) == len(left), "no copy outlives its row"

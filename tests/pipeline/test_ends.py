"""Every run of the pipeline ends in done, stopped or failed, traced, whatever breaks below it;
only an endpoint's own failures count against that endpoint."""

from __future__ import annotations

import time

import psycopg
import pytest

from latency.models import RequestTrace, StrategySettings
from latency.observability.tracing import trace_saves_wait
from latency.pipeline import ChatRequest, DoneEvent, ErrorEvent, pipeline_run
from latency.strategies import strategy_settings_forget, strategy_settings_get

pytestmark = pytest.mark.django_db(transaction=True)


async def _settings(**changes: object) -> None:
    row, _ = await StrategySettings.objects.aget_or_create(id=1)
    for name, value in changes.items():
        setattr(row, name, value)
    await row.asave()
    strategy_settings_forget()


async def _run(question: str) -> list[object]:
    request = ChatRequest(messages=[{"role": "user", "content": question}],
                          received_at=time.perf_counter())  # fmt: skip
    return [event async for event in pipeline_run(request=request)]


async def test_a_database_fault_in_a_stage_ends_the_answer_failed_and_traced(monkeypatch) -> None:  # noqa: ANN001
    from latency.pipeline import run

    async def lookup_fails(**_: object) -> None:
        raise psycopg.OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(run, "cache_lookup", lookup_fails)
    await _settings(exact_cache=True, semantic_cache=True, speculative_cache=True)
    events = await _run("What is the tallest mountain?")
    failure = events[-1]
    assert isinstance(failure, ErrorEvent), failure
    assert failure.kind == "internal" and "went wrong on our side" in failure.message
    assert "server closed" not in failure.message, "the user sees no internals"
    await trace_saves_wait()
    trace = await RequestTrace.objects.order_by("-id").afirst()
    assert (trace.status, trace.error_kind) == ("failed", "internal")
    assert "OperationalError" in trace.error


async def test_a_bug_below_the_stream_fails_the_request_without_tripping_breakers(
    monkeypatch,  # noqa: ANN001
) -> None:
    from latency.routing import health, resilient

    failures: list[str] = []

    async def counted(*, endpoint: str, reason: str) -> None:
        failures.append(endpoint)

    def broken_stream(**_: object) -> object:
        raise ValueError("a bug, not the endpoint")

    runs_before = dict(health._failure_runs)
    monkeypatch.setattr(resilient, "provider_stream", broken_stream)
    monkeypatch.setattr(resilient, "breaker_failure", counted)
    await _settings(exact_cache=False, semantic_cache=False)
    events = await _run("What is a circuit breaker?")
    assert isinstance(events[-1], ErrorEvent) and events[-1].kind == "internal"
    assert failures == [], "our bug must not count against an endpoint"
    assert health._failure_runs == runs_before, "no endpoint's failure run grew"


async def test_every_request_gets_its_own_settings() -> None:
    first, second = await strategy_settings_get(), await strategy_settings_get()
    assert first is not second
    first.semantic_threshold = 0.01  # cache_eval does this to its copy
    assert (await strategy_settings_get()).semantic_threshold != 0.01


async def test_the_waterfall_draws_stages_in_the_order_they_ran() -> None:
    from latency.dashboard.board import trace_waterfall

    await _settings(exact_cache=True, semantic_cache=True, speculative_cache=False)
    done = (await _run("Which planet has the most moons?"))[-1]
    assert isinstance(done, DoneEvent)
    await trace_saves_wait()
    trace = await RequestTrace.objects.aget(uid=done.outcome.trace_uid)
    bars = [bar for bar in trace_waterfall(trace=trace) if bar.depth == 0]
    names = [bar.name for bar in bars]
    assert names[0] == "routing", names
    assert names.index("exact_cache") < names.index("semantic_lookup")
    assert [bar.start_ms for bar in bars] == sorted(bar.start_ms for bar in bars)

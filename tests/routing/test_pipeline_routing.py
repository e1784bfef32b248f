"""Routing inside the pipeline: the decision reaches the answer and the trace, a failing endpoint
is left without the user noticing, and a stalled stream ends with the partial answer kept."""

from __future__ import annotations

import time

import pytest
from openai import AsyncOpenAI

from latency.models import RequestTrace, StrategySettings
from latency.observability.tracing import trace_saves_wait
from latency.pipeline import ChatRequest, DoneEvent, ErrorEvent, pipeline_run
from latency.providers.catalog import catalog_load
from latency.providers.clients import clients
from latency.strategies import strategy_settings_forget

pytestmark = pytest.mark.django_db(transaction=True)


async def _settings(**changes: object) -> None:
    row, _ = await StrategySettings.objects.aget_or_create(id=1)
    for name, value in {"exact_cache": False, "semantic_cache": False, **changes}.items():
        setattr(row, name, value)
    await row.asave()
    strategy_settings_forget()


async def _run(question: str, **options: object) -> list[object]:
    request = ChatRequest(
        messages=[{"role": "user", "content": question}], received_at=time.perf_counter(),
        **options,
    )  # fmt: skip
    return [event async for event in pipeline_run(request=request)]


def _faulty(fault: str, names: list[str]) -> list[AsyncOpenAI]:
    made = []
    for endpoint in catalog_load().endpoints():
        if endpoint.name in names:
            client = AsyncOpenAI(
                base_url=endpoint.base_url, api_key="not-needed", max_retries=0,
                default_headers={"X-Sim-Fault": fault},
            )  # fmt: skip
            clients.register(endpoint.name, client)
            made.append(client)
    return made


async def test_the_decision_reaches_the_answer_and_the_trace() -> None:
    await _settings()
    events = await _run("What is the capital of Chile?")
    done = events[-1]
    assert isinstance(done, DoneEvent), done
    assert done.outcome.model == "gpt-4o-mini"
    assert "chose gpt-4o-mini at edge-" in done.outcome.decision
    await trace_saves_wait()
    trace = await RequestTrace.objects.aget(uid=done.outcome.trace_uid)
    assert trace.decision == done.outcome.decision
    assert (trace.model, trace.endpoint) == (done.outcome.model, done.endpoint)
    assert trace.region.startswith("edge")
    assert trace.upstream_ttft_ms is not None and not trace.hedged and trace.fallbacks == 0
    assert trace.strategies["routing"] is True and trace.strategies["hedging"] is True


async def test_a_rate_limited_endpoint_is_left_for_the_next_one() -> None:
    await _settings(hedging=False)
    made = _faulty("429", ["sim-edge-eu", "sim-edge-us"])
    try:
        events = await _run("What is the capital of Kenya?", model="gpt-4o-mini")
    finally:
        for client in made:
            await client.close()
    done = events[-1]
    assert isinstance(done, DoneEvent), done
    assert done.endpoint == "sim-cloud-us" and done.text
    await trace_saves_wait()
    trace = await RequestTrace.objects.aget(uid=done.outcome.trace_uid)
    assert trace.fallbacks == 2 and trace.status == "ok" and trace.endpoint == "sim-cloud-us"
    assert "failed (rate_limit)" in trace.decision and "fell back to" in trace.decision


async def test_a_stalled_stream_fails_clearly_and_keeps_the_partial_answer() -> None:
    await _settings(stall_timeout_s=0.3)
    made = _faulty("stall", ["sim-edge-eu", "sim-edge-us", "sim-cloud-us"])
    try:
        events = await _run("What is the capital of Norway?", model="gpt-4o-mini")
    finally:
        for client in made:
            await client.close()
    error = events[-1]
    assert isinstance(error, ErrorEvent), error
    assert error.kind == "stall" and "the answer so far is kept" in error.message
    assert error.text.strip()
    await trace_saves_wait()
    trace = await RequestTrace.objects.order_by("-id").afirst()
    assert trace is not None and trace.status == "failed" and "stalled" in trace.decision


@pytest.mark.parametrize(("fault", "kind"), [("malformed", "malformed"), ("reset", "connection")])
async def test_a_stream_broken_mid_answer_fails_clearly_and_keeps_the_partial_answer(
    fault: str, kind: str
) -> None:
    await _settings(hedging=False)
    made = _faulty(fault, ["sim-edge-eu", "sim-edge-us", "sim-cloud-us"])
    try:
        events = await _run("What is the capital of Peru?", model="gpt-4o-mini")
    finally:
        for client in made:
            await client.close()
        clients.forget()  # the endpoints answer whole again
    error = events[-1]
    assert isinstance(error, ErrorEvent), error
    assert error.kind == kind and "the answer so far is kept" in error.message.lower()
    assert error.text.strip()
    await trace_saves_wait()
    trace = await RequestTrace.objects.order_by("-id").afirst()
    assert trace is not None and trace.status == "failed" and "broke mid-answer" in trace.decision
    again = await _run("What is the capital of Peru?", model="gpt-4o-mini")
    assert isinstance(again[-1], DoneEvent) and again[-1].text, again[-1]

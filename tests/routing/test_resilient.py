"""Fallback, hedging, the stall cut and the circuit breaker, against the simulator over real HTTP.

Faults are forced per endpoint with `X-Sim-Fault` (see the `faulty_registry` fixture). The
simulator runs at time scale 0.1, so a "timeout" holds 6 s and a "stall" 12 s.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from latency.errors import UpstreamError
from latency.models import EndpointBreaker, StrategySettings
from latency.providers.clients import ClientRegistry
from latency.routing.choice import RoutePlan, route_plan
from latency.routing.health import FAILURES_TO_OPEN, prober
from latency.routing.hedges import HedgeBudget
from latency.routing.policy import ResiliencePolicy
from latency.routing.resilient import ResilientStream, resilient_stream
from latency.testing.processes import SimulatorChild
from tests.routing.conftest import FaultyRegistry

pytestmark = pytest.mark.django_db(transaction=True)
QUESTION = [{"role": "user", "content": "What does a circuit breaker do?"}]
CALM = ResiliencePolicy(hedging=False, first_token_timeout_s=0.5, stall_timeout_s=0.5)


async def _plan(registry: ClientRegistry | None = None) -> RoutePlan:
    """gpt-4o-mini, pinned: three endpoints (edge-eu, edge-us, cloud-us) to move between."""
    options: dict[str, Any] = {"registry": registry} if registry else {}
    return await route_plan(
        feature="chat", messages=QUESTION, settings=StrategySettings(), pinned_model="gpt-4o-mini",
        **options,
    )  # fmt: skip


async def _drain(stream: ResilientStream) -> str:
    return "".join([delta.text async for delta in stream])


async def _log_since(simulator: SimulatorChild, after_ts: float) -> list[dict[str, Any]]:
    return await asyncio.to_thread(simulator.log, after_ts=after_ts)


@pytest.mark.parametrize(("fault", "kind"), [("429", "rate_limit"), ("500", "http_500"),
                                             ("timeout", "timeout")])  # fmt: skip
async def test_an_early_failure_moves_to_the_next_candidate(
    faulty_registry,
    fault: str,
    kind: str,  # noqa: ANN001
) -> None:
    plan = await _plan()
    broken = plan.primary.endpoint.name
    registry = faulty_registry({broken: fault})
    stream = resilient_stream(plan=plan, messages=QUESTION, policy=CALM, registry=registry)
    text = await _drain(stream)
    assert text  # answered, without the user doing anything
    outcome = stream.outcome
    assert outcome.winner is not None and outcome.winner.endpoint.name != broken
    assert outcome.fallbacks == 1 and outcome.attempts == 2
    assert f"failed ({kind})" in "; ".join(outcome.notes)
    fields = outcome.trace_fields(plan=plan)
    assert fields["endpoint"] == outcome.winner.endpoint.name and fields["fallbacks"] == 1
    assert "fell back to gpt-4o-mini" in fields["decision"]


async def test_when_every_candidate_fails_the_error_is_clear(faulty_registry) -> None:  # noqa: ANN001
    plan = await _plan()
    registry = faulty_registry({c.endpoint.name: "500" for c in plan.candidates})
    stream = resilient_stream(plan=plan, messages=QUESTION, policy=CALM, registry=registry)
    with pytest.raises(UpstreamError) as caught:
        await _drain(stream)
    assert caught.value.kind == "http_500"
    assert str(caught.value).startswith("No model could answer (tried gpt-4o-mini at ")
    assert stream.outcome.attempts == CALM.max_attempts


async def test_a_late_first_token_is_hedged_and_the_loser_cancelled(
    simulator: SimulatorChild,
    faulty_registry,  # noqa: ANN001
) -> None:
    plan = await _plan()
    silent = plan.primary.endpoint.name
    registry = faulty_registry({silent: "timeout"})  # no first token for 6 s
    policy = ResiliencePolicy(hedging=True, hedge_cap=1.0, first_token_timeout_s=5.0)
    started = time.time()
    stream = resilient_stream(
        plan=plan, messages=QUESTION, policy=policy, registry=registry,
        hedges=HedgeBudget(tokens=1.0),
    )  # fmt: skip
    assert await _drain(stream)
    outcome = stream.outcome
    assert outcome.hedged and outcome.hedge_won and outcome.fallbacks == 0
    assert outcome.winner is not None and outcome.winner.endpoint.name != silent
    assert any("hedged to" in note for note in outcome.notes)
    # The silent first request was cancelled as soon as the hedge produced a token.
    region = plan.primary.endpoint.region
    deadline = time.monotonic() + 5
    while True:
        records = [r for r in await _log_since(simulator, started) if r["region"] == region]
        if records or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    assert [(r["fault"], r["outcome"]) for r in records] == [("timeout", "client_disconnected")]
    assert time.time() - started < 3  # not the 6 s hold


async def test_the_hedge_cap_holds_and_the_timeout_still_rescues(faulty_registry) -> None:  # noqa: ANN001
    plan = await _plan()
    registry = faulty_registry({plan.primary.endpoint.name: "timeout"})
    budget = HedgeBudget()  # empty: a first request earns only 0.1 of a hedge
    policy = ResiliencePolicy(hedging=True, hedge_cap=0.1, first_token_timeout_s=0.5)
    stream = resilient_stream(
        plan=plan, messages=QUESTION, policy=policy, registry=registry, hedges=budget
    )
    assert await _drain(stream)
    assert not stream.outcome.hedged and stream.outcome.hedge_denied
    assert stream.outcome.fallbacks == 1  # the first-token timeout moved it on
    assert budget.hedges == 0 and budget.denied == 1 and budget.timeout_fallbacks == 1


async def _broken_read(
    faulty_registry: FaultyRegistry, fault: str
) -> tuple[ResilientStream, list[str], str, UpstreamError]:
    """Every candidate of the plan answers with `fault`: the stream, the text pieces read before
    it failed, the upstream id they came from, and the error it ended with."""
    plan = await _plan()
    registry = faulty_registry({c.endpoint.name: fault for c in plan.candidates})
    stream = resilient_stream(plan=plan, messages=QUESTION, policy=CALM, registry=registry)
    parts: list[str] = []
    upstream_id = ""
    with pytest.raises(UpstreamError) as caught:
        async for delta in stream:
            parts.append(delta.text)
            upstream_id = upstream_id or delta.upstream_id
    return stream, parts, upstream_id, caught.value


async def test_a_stall_after_the_first_token_is_cut_and_the_partial_kept(
    simulator: SimulatorChild,
    faulty_registry,  # noqa: ANN001
) -> None:
    stream, parts, upstream_id, error = await _broken_read(faulty_registry, "stall")
    assert error.kind == "stall"
    assert "the answer so far is kept" in str(error)
    assert "".join(parts).strip()  # the first pieces of the answer arrived and stay
    assert stream.outcome.attempts == 1  # no retry once the user has seen text
    record = await asyncio.to_thread(simulator.log_record, completion_id=upstream_id)
    assert record["outcome"] == "client_disconnected"
    # Every piece the endpoint sent before it stalled was counted (and, above, kept).
    assert f"after {record['tokens_sent']} pieces" in str(error)


@pytest.mark.parametrize(("fault", "kind"), [("malformed", "malformed"), ("reset", "connection")])
async def test_a_stream_broken_mid_answer_fails_clearly_and_keeps_the_partial(
    simulator: SimulatorChild,
    faulty_registry,  # noqa: ANN001
    fault: str,
    kind: str,
) -> None:
    """A line that is not JSON, or the connection dropped, after the first pieces: the answer
    ends failed at once, with what arrived kept and no retry (the user has seen text)."""
    stream, parts, upstream_id, error = await _broken_read(faulty_registry, fault)
    assert error.kind == kind
    assert "the answer so far is kept" in str(error).lower()
    assert stream.outcome.attempts == 1
    record = await asyncio.to_thread(simulator.log_record, completion_id=upstream_id)
    assert record["outcome"] == fault
    assert "".join(parts).strip() and len(parts) <= record["tokens_sent"]


async def _pieces(*, reader_delay_s: float) -> tuple[list[str], int | None]:
    """The answer's text pieces as the stream gave them, and the usage's completion count, read
    by a reader that blocks its event loop `reader_delay_s` after each piece (a busy process)."""
    plan = await _plan()
    stream = resilient_stream(plan=plan, messages=QUESTION, policy=CALM)
    pieces: list[str] = []
    completion_tokens = None
    async for delta in stream:
        if delta.text:
            pieces.append(delta.text)
        if delta.completion_tokens is not None:
            completion_tokens = delta.completion_tokens
        if reader_delay_s:
            time.sleep(reader_delay_s)  # noqa: ASYNC251  (the point: the loop is busy)
    return pieces, completion_tokens


async def test_tokens_queued_behind_a_busy_reader_arrive_joined_and_whole(
    simulator: SimulatorChild,
) -> None:
    quick, quick_usage = await _pieces(reader_delay_s=0)
    busy, busy_usage = await _pieces(reader_delay_s=0.03)
    assert "".join(busy) == "".join(quick)  # nothing lost, nothing reordered
    assert busy_usage == quick_usage and busy_usage is not None  # usage still arrives
    # The busy reader got the tokens that waited for it as fewer, larger pieces.
    assert len(busy) < len(quick) / 2, (len(busy), len(quick))


async def test_a_failing_endpoint_trips_its_breaker_and_is_probed_back(
    faulty_registry,
    monkeypatch,  # noqa: ANN001
) -> None:
    from latency.routing import health as routing_health

    monkeypatch.setattr(routing_health, "COOLDOWN_S", 0.2)
    plan = await _plan()
    broken = plan.primary.endpoint.name
    registry = faulty_registry({broken: "500"})
    for _ in range(FAILURES_TO_OPEN):
        stream = resilient_stream(plan=plan, messages=QUESTION, policy=CALM, registry=registry)
        assert await _drain(stream)  # each request still answered, by a fallback
    row = await EndpointBreaker.objects.aget(endpoint=broken)
    assert row.open_until is not None and row.trips == 1 and "http_500" in row.reason
    skipping = await _plan(registry)
    assert skipping.primary.endpoint.name != broken
    assert f"{broken} skipped (circuit open)" in skipping.decision
    await asyncio.sleep(0.3)  # the cooldown is over: the next plan starts a probe
    await _plan(registry)
    await prober.probes_wait()
    assert (await EndpointBreaker.objects.aget(endpoint=broken)).open_until is None
    back = await _plan(registry)
    assert broken in {c.endpoint.name for c in back.candidates[:3]}
    assert "circuit open" not in back.decision


async def test_a_failed_probe_keeps_the_breaker_open(monkeypatch) -> None:  # noqa: ANN001
    from latency.providers.catalog import catalog_load
    from latency.routing import health as routing_health

    monkeypatch.setattr(routing_health, "COOLDOWN_S", 5.0)
    endpoint = catalog_load().endpoints()[0]
    dead = ClientRegistry()
    dead.register(endpoint.name, _client_to_nowhere())
    await routing_health.breaker_open(endpoint=endpoint.name, reason="test")
    result = await prober.probe(endpoint=endpoint, was_open=True, registry=dead)
    await dead.close()
    assert not result.ok
    row = await EndpointBreaker.objects.aget(endpoint=endpoint.name)
    assert row.open_until is not None and row.reason == "probe failed"


def _client_to_nowhere():  # noqa: ANN202
    from openai import AsyncOpenAI

    from latency.testing.processes import port_free

    return AsyncOpenAI(base_url=f"http://127.0.0.1:{port_free()}/v1", api_key="x", max_retries=0)


async def test_the_first_token_deadline_leaves_room_for_the_answer() -> None:
    from latency.routing.policy import policy_build

    plan = await _plan()
    settings = StrategySettings()
    policy = policy_build(settings=settings, plan=plan)
    limit_s = plan.budget.p95_ms / 1000 + settings.first_token_timeout_s
    assert settings.first_token_timeout_s <= policy.deadline_s < limit_s


async def test_stop_mid_answer_always_stops_it(simulator) -> None:  # noqa: ANN001
    """Stop cancels the task reading the answer while tokens keep arriving. asyncio.wait_for on
    Python 3.11 returns the item instead of raising when both land in the same loop turn, and the
    answer then ran to the end: the user's stop was lost. Many stops at varied moments."""
    plan = await _plan()
    # This test is about stopping, not deadlines: at this pacing a first token can take longer
    # than CALM's 0.5 s on a loaded machine (CI gave up on all six attempts once).
    patient = ResiliencePolicy(
        hedging=False, first_token_timeout_s=10.0, stall_timeout_s=10.0, deadline_s=30.0
    )
    trials, lost = 30, 0
    simulator.configure(time_scale=2.0)  # a token every few ms, for a few hundred ms
    try:
        for trial in range(trials):
            stream = resilient_stream(plan=plan, messages=QUESTION, policy=patient)
            got: list[str] = []

            async def read(stream: ResilientStream = stream, got: list[str] = got) -> None:
                async for delta in stream:
                    got.append(delta.text)

            reader = asyncio.create_task(read())
            while not got and not reader.done():
                await asyncio.sleep(0.001)
            await asyncio.sleep(trial % 5 / 1000)  # a little later each time, tokens flowing
            assert not reader.done(), "the answer should still be streaming"
            reader.cancel()
            try:
                await reader
            except asyncio.CancelledError:
                continue
            lost += 1
    finally:
        simulator.configure(time_scale=0.1)
    assert lost == 0, f"{lost} of {trials} stops were lost: the answer ran to the end"

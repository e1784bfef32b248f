"""Live estimates come from recent traces (shared by every worker through PostgreSQL) on top of
the catalog's priors, and budgets from staff-editable rows: both change what the router picks."""

from __future__ import annotations

import pytest

from latency.models import FeatureBudget, RequestTrace, StrategySettings
from latency.providers.catalog import catalog_load
from latency.routing.budgets import budgets_forget
from latency.routing.choice import route_plan
from latency.routing.estimates import estimate_make, observations_get

pytestmark = pytest.mark.django_db(transaction=True)
SIMPLE = [{"role": "user", "content": "What is the capital of Peru?"}]
MEDIUM = [{"role": "user", "content": "Explain why a heavy tail hurts p99, and compare fixes."}]


def test_without_traces_an_estimate_is_the_prior_plus_the_round_trip() -> None:
    spec = catalog_load().model_get("gpt-4o-mini")
    endpoint = spec.endpoints[0]
    estimate = estimate_make(model=spec, endpoint=endpoint, observed=None, rtt_ms=35.0)
    assert spec.priors is not None
    assert estimate.ttft_p50_ms == spec.priors.ttft_p50_ms + 35
    assert estimate.ttft_p90_ms == spec.priors.ttft_p90_ms + 35
    assert estimate.total_p95_ms == spec.priors.total_p95_ms + 35
    assert estimate.samples == 0


async def test_slow_recent_traces_move_requests_to_another_endpoint() -> None:
    before = await route_plan(feature="chat", messages=SIMPLE, settings=StrategySettings())
    slow = before.primary
    await RequestTrace.objects.abulk_create(
        RequestTrace(
            feature="chat",
            model=slow.model.name,
            endpoint=slow.endpoint.name,
            region=slow.endpoint.region,
            ttft_ms=1600,
            total_ms=2600,
            upstream_ttft_ms=1500,
        )  # fmt: skip
        for _ in range(60)
    )
    from latency.routing.estimates import observations_forget

    observations_forget()
    observed = await observations_get()
    assert observed[(slow.model.name, slow.endpoint.name)].samples == 60
    after = await route_plan(feature="chat", messages=SIMPLE, settings=StrategySettings())
    assert after.primary.model.name == slow.model.name  # still the small model ...
    assert after.primary.endpoint.name != slow.endpoint.name  # ... at the other edge
    assert after.primary.endpoint.region.startswith("edge")
    moved = next(c for c in after.candidates if c.endpoint.name == slow.endpoint.name)
    assert moved.estimate.ttft_p50_ms > 1000 and moved.estimate.samples == 60


async def test_a_budget_edited_by_staff_changes_the_choice() -> None:
    tight = await route_plan(feature="chat", messages=MEDIUM, settings=StrategySettings())
    assert tight.primary.model.name == "gpt-4o-mini"
    assert "budget 1 s" in tight.decision
    await FeatureBudget.objects.aupdate_or_create(
        feature="chat", defaults={"p95_ms": 3000, "ttft_ms": None}
    )
    budgets_forget()
    loose = await route_plan(feature="chat", messages=MEDIUM, settings=StrategySettings())
    assert loose.primary.model.quality > tight.primary.model.quality
    assert "budget 3 s" in loose.decision

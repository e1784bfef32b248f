"""The choice rules, on a small made-up catalog: fits the budget → best quality, ties → lower
cost, none fits → the fastest, simple → small model at the nearest edge, pinned → endpoint only."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from latency.providers.catalog import Catalog, catalog_load, catalog_parse
from latency.routing.budgets import DEFAULT_BUDGETS, Budget
from latency.routing.choice import RouteInputs, RoutePlan, route_choose
from latency.routing.estimates import Observed

CATALOG = """
[defaults]
chat = "small"

[endpoints.edge-a]
base_url = "http://sim/edge-a/v1"
region = "edge-a"
rtt_ms = 30

[endpoints.edge-b]
base_url = "http://sim/edge-b/v1"
region = "edge-b"
rtt_ms = 30

[endpoints.cloud]
base_url = "http://sim/cloud/v1"
region = "cloud"
rtt_ms = 170

[models.small]
tier = "ultra-fast"
quality = 1
cost_per_mtok = 0.1
endpoints = ["cloud", "edge-a", "edge-b"]
ttft_p50_ms = 100
ttft_p90_ms = 150
ttft_p95_ms = 180
total_p50_ms = 200
total_p95_ms = 300

[models.mid-cheap]
tier = "fast"
quality = 3
cost_per_mtok = 1.0
endpoints = ["cloud"]
ttft_p50_ms = 300
ttft_p90_ms = 400
ttft_p95_ms = 450
total_p50_ms = 500
total_p95_ms = 700

[models.mid-dear]
tier = "fast"
quality = 3
cost_per_mtok = 5.0
endpoints = ["cloud"]
ttft_p50_ms = 250
ttft_p90_ms = 350
ttft_p95_ms = 400
total_p50_ms = 450
total_p95_ms = 600

[models.big]
tier = "standard"
quality = 5
cost_per_mtok = 10.0
endpoints = ["cloud"]
ttft_p50_ms = 900
ttft_p90_ms = 1200
ttft_p95_ms = 1300
total_p50_ms = 1500
total_p95_ms = 2000
"""
COMPLEX = [
    {
        "role": "user",
        "content": "Compare these two database designs in detail and explain the trade-offs "
        "step by step, with the failure modes of each under heavy concurrent writes.",
    }
]
SIMPLE = [{"role": "user", "content": "Hi! What time is it in Paris?"}]


def _catalog() -> Catalog:
    return catalog_parse(text=CATALOG, environ={})


def _choose(
    budget_ms: float,
    messages: list[dict[str, str]] = COMPLEX,
    *,
    open_until: dict[str, datetime] | None = None,
    observed: dict[tuple[str, str], Observed] | None = None,
    **options: object,
) -> RoutePlan:
    inputs = RouteInputs(
        catalog=_catalog(), budget=Budget("chat", p95_ms=budget_ms), observed=observed or {},
        open_until=open_until or {}, probed_rtt_ms={},
    )  # fmt: skip
    return route_choose(inputs=inputs, messages=messages, feature="chat", **options)


def test_the_best_quality_that_fits_the_budget_wins() -> None:
    plan = _choose(5000)
    assert plan.primary.model.name == "big"
    assert plan.decision.endswith("chose big at cloud (predicted p95 2.2 s, budget 5 s)")


def test_a_tie_in_quality_goes_to_the_lower_cost() -> None:
    plan = _choose(1500)  # big does not fit; the two mid models do, with the same quality
    assert plan.primary.model.name == "mid-cheap"
    assert "big predicted p95 2.2 s > budget 1.5 s" in plan.decision
    assert [c.model.name for c in plan.candidates][:2] == ["mid-cheap", "mid-dear"]


def test_when_nothing_fits_the_fastest_model_is_chosen() -> None:
    plan = _choose(100)
    assert plan.primary.model.name == "small"
    assert "no model fits budget 100 ms" in plan.decision
    assert "chose the fastest, small at edge-" in plan.decision


def test_a_simple_request_goes_to_a_small_model_at_the_nearest_edge() -> None:
    plan = _choose(5000, SIMPLE)
    assert plan.primary.model.name == "small"
    assert plan.primary.endpoint.region.startswith("edge")
    assert plan.decision.startswith("simple request")
    assert plan.complexity is not None and plan.complexity.label == "simple"
    # the same request, if complex, would get the larger model the budget allows
    assert _choose(5000, COMPLEX).primary.model.name == "big"


def test_a_pinned_model_leaves_only_the_endpoint_to_choose() -> None:
    plan = _choose(100, pinned_model="small")
    assert {c.model.name for c in plan.candidates} == {"small"}
    assert plan.primary.endpoint.name in {"edge-a", "edge-b"}  # the fastest endpoint
    assert plan.candidates[-1].endpoint.name == "cloud"
    assert plan.decision.startswith("small pinned by the user")
    assert {c.model.name for c in plan.hedges} == {"small"}


def test_routing_off_uses_the_fixed_model() -> None:
    plan = _choose(100, routing=False, fixed_model="big")
    assert {c.model.name for c in plan.candidates} == {"big"}
    assert plan.mode == "fixed" and plan.decision.startswith("routing off")


def test_an_open_breaker_moves_the_endpoint_to_the_end() -> None:
    soon = datetime.now() + timedelta(seconds=10)
    plan = _choose(100, pinned_model="small", open_until={"edge-a": soon, "edge-b": soon})
    assert plan.primary.endpoint.name == "cloud"
    assert "edge-a, edge-b skipped (circuit open)" in plan.decision
    assert [c.endpoint.name for c in plan.candidates][1:] == ["edge-a", "edge-b"]
    assert not plan.hedges  # a hedge never goes to an endpoint whose breaker is open


def test_live_estimates_move_the_choice() -> None:
    slow = Observed(samples=200, ttft_p50_ms=900, ttft_p95_ms=1500, total_p50_ms=1400,
                    total_p95_ms=2500)  # fmt: skip
    plan = _choose(1500, observed={("mid-cheap", "cloud"): slow})
    assert plan.primary.model.name == "mid-dear"
    assert "mid-cheap" not in plan.decision  # same quality: not a rejected step up


def test_hedges_prefer_another_endpoint_and_stay_close_in_quality() -> None:
    plan = _choose(1500)
    primary = plan.primary
    assert plan.hedges, "a hedge target exists"
    assert all(h.key != primary.key for h in plan.hedges)
    assert all(h.model.quality >= primary.model.quality - 1 for h in plan.hedges)


def test_the_default_catalog_explains_a_chat_choice_like_the_issue() -> None:
    inputs = RouteInputs(
        catalog=catalog_load(), budget=DEFAULT_BUDGETS["chat"], observed={}, open_until={},
        probed_rtt_ms={},
    )  # fmt: skip
    plan = route_choose(inputs=inputs, messages=COMPLEX, feature="chat")
    assert plan.primary.model.name == "gpt-4o-mini"
    assert plan.primary.endpoint.region.startswith("edge")
    assert "gpt-4o predicted p95 1.2 s > budget 1 s" in plan.decision
    assert "chose gpt-4o-mini at edge-" in plan.decision


@pytest.mark.parametrize(
    ("feature", "model"), [("search", "claude-sonnet-4.5"), ("background", "gemini-2.5-pro")]
)
def test_larger_budgets_allow_larger_models(feature: str, model: str) -> None:
    inputs = RouteInputs(
        catalog=catalog_load(), budget=DEFAULT_BUDGETS[feature], observed={}, open_until={},
        probed_rtt_ms={},
    )  # fmt: skip
    plan = route_choose(inputs=inputs, messages=COMPLEX, feature=feature)
    assert plan.primary.model.name == model


def test_a_question_over_documents_is_never_routed_as_simple() -> None:
    from latency.routing.complexity import complexity_estimate

    question = [{"role": "user", "content": "What is the refund period?"}]
    assert complexity_estimate(messages=question).label == "simple"
    grounded = complexity_estimate(messages=question, grounded=True)
    assert grounded.label != "simple" and "retrieved context" in grounded.reason

"""Model routing: for one request, the model and endpoint that best fit the feature's latency
budget, the fallbacks and hedge targets behind them, and one sentence that says why.

Rules: among models whose predicted P95 fits the budget, the best quality, ties to the lower cost;
if none fits, the fastest. Simple requests go to a small model at the nearest edge; a pinned model
(or routing switched off) leaves only the endpoint to choose.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from latency.models import StrategySettings
from latency.providers.catalog import Catalog, Endpoint, ModelSpec, catalog_load
from latency.providers.clients import ClientRegistry, clients
from latency.routing.budgets import Budget, budget_get, duration_text
from latency.routing.complexity import Complexity, complexity_estimate
from latency.routing.estimates import (
    Estimate,
    Observed,
    estimate_make,
    observations_get,
    rtt_estimate,
)
from latency.routing.health import breakers_open, prober

MAX_CANDIDATES = 5
HEDGE_QUALITY_SLACK = 1  # a hedge may go to a model one quality rank below the chosen one
SMALL_TIERS = ("ultra-fast",)
MEDIUM_SKIPS_TIERS = ("slow",)  # thinking modes only for requests that look complex
NEAR_SLACK_MS = 10.0  # edges whose round trips differ by less than this are equally near


@dataclass(frozen=True)
class Candidate:
    model: ModelSpec
    endpoint: Endpoint
    estimate: Estimate

    @property
    def label(self) -> str:
        return f"{self.model.name} at {self.endpoint.region or self.endpoint.name}"

    @property
    def key(self) -> tuple[str, str]:
        return (self.model.name, self.endpoint.name)


@dataclass(frozen=True)
class RoutePlan:
    candidates: tuple[Candidate, ...]  # the choice first, then fallbacks in order
    hedges: tuple[Candidate, ...]  # where a hedge may go, best first
    decision: str
    budget: Budget
    complexity: Complexity | None = None
    mode: str = "routed"  # routed, pinned or fixed

    @property
    def primary(self) -> Candidate:
        return self.candidates[0]


@dataclass(frozen=True)
class RouteInputs:
    """Everything a choice depends on, gathered once, so that `route_choose` is pure."""

    catalog: Catalog
    budget: Budget
    observed: dict[tuple[str, str], Observed]
    open_until: dict[str, datetime]
    probed_rtt_ms: dict[str, float]

    def candidate(self, model: ModelSpec, endpoint: Endpoint) -> Candidate:
        rtt = rtt_estimate(endpoint=endpoint, probed_ms=self.probed_rtt_ms.get(endpoint.name))
        observed = self.observed.get((model.name, endpoint.name))
        estimate = estimate_make(model=model, endpoint=endpoint, observed=observed, rtt_ms=rtt)
        return Candidate(model=model, endpoint=endpoint, estimate=estimate)

    def fits(self, candidate: Candidate) -> bool:
        estimate, budget = candidate.estimate, self.budget
        ttft_ok = budget.ttft_ms is None or estimate.ttft_p95_ms <= budget.ttft_ms
        return estimate.total_p95_ms <= budget.p95_ms and ttft_ok


async def route_plan(
    *,
    feature: str,
    messages: list[dict[str, str]],
    settings: StrategySettings,
    pinned_model: str | None = None,
    grounded: bool = False,
    catalog: Catalog | None = None,
    registry: ClientRegistry = clients,
) -> RoutePlan:
    """Gather budget, live estimates and breakers (cached copies), then choose."""
    catalog = catalog or catalog_load()
    open_until = await breakers_open()
    prober.probes_schedule(endpoints=catalog.endpoints(), open_until=open_until, registry=registry)
    inputs = RouteInputs(
        catalog=catalog,
        budget=await budget_get(feature=feature),
        observed=await observations_get(),
        open_until=open_until,
        probed_rtt_ms={
            name: rtt for name in prober.results if (rtt := prober.rtt_ms(name)) is not None
        },
    )
    return route_choose(
        inputs=inputs, messages=messages, feature=feature, pinned_model=pinned_model,
        routing=settings.routing, fixed_model=settings.fixed_model, grounded=grounded,
    )  # fmt: skip


def route_choose(
    *,
    inputs: RouteInputs,
    messages: list[dict[str, str]],
    feature: str,
    pinned_model: str | None = None,
    routing: bool = True,
    fixed_model: str = "",
    grounded: bool = False,
) -> RoutePlan:
    catalog = inputs.catalog
    if pinned_model:
        spec = catalog.model_get(pinned_model)
        return _one_model_plan(inputs, spec, mode="pinned", why=f"{spec.name} pinned by the user")
    if not routing:
        spec = catalog.model_get(fixed_model) if fixed_model else catalog.model_default(feature)
        return _one_model_plan(inputs, spec, mode="fixed", why=f"routing off: fixed {spec.name}")
    return _routed_plan(inputs, complexity_estimate(messages=messages, grounded=grounded))


def _endpoints_ranked(
    inputs: RouteInputs, spec: ModelSpec, *, edge_first: bool = False
) -> tuple[list[Candidate], list[Candidate]]:
    """The model's endpoints as candidates: healthy ones fastest first, then open breakers."""
    healthy, broken = [], []
    for index, endpoint in enumerate(spec.endpoints):
        candidate = inputs.candidate(spec, endpoint)
        is_edge = endpoint.region.startswith("edge")
        probed = inputs.probed_rtt_ms.get(endpoint.name, float("inf"))
        key = (edge_first and not is_edge, candidate.estimate.ttft_p50_ms, probed, index)
        (broken if endpoint.name in inputs.open_until else healthy).append((key, candidate))
    healthy.sort(key=lambda pair: pair[0])
    broken.sort(key=lambda pair: pair[0])
    return [c for _, c in healthy], [c for _, c in broken]


def _rank(candidate: Candidate) -> tuple[int, float, float]:
    return (
        -candidate.model.quality,
        candidate.model.cost_per_mtok,
        candidate.estimate.total_p95_ms,
    )


def _skipped_note(inputs: RouteInputs, broken: list[Candidate]) -> list[str]:
    names = sorted({c.endpoint.name for c in broken})
    return [f"{', '.join(names)} skipped (circuit open)"] if names else []


def _one_model_plan(inputs: RouteInputs, spec: ModelSpec, *, mode: str, why: str) -> RoutePlan:
    healthy, broken = _endpoints_ranked(inputs, spec)
    candidates = healthy + broken  # with every breaker open, still try rather than fail
    chosen = candidates[0]
    decision = "; ".join(
        [why, *_skipped_note(inputs, broken),
         f"chose endpoint {chosen.endpoint.name} ({chosen.endpoint.region}, first token "
         f"~{duration_text(chosen.estimate.ttft_p50_ms)})"]
    )  # fmt: skip
    return RoutePlan(
        candidates=tuple(candidates), hedges=tuple(healthy[1:]), decision=decision,
        budget=inputs.budget, mode=mode,
    )  # fmt: skip


def _why_not(inputs: RouteInputs, candidate: Candidate) -> str:
    budget, estimate = inputs.budget, candidate.estimate
    if estimate.total_p95_ms > budget.p95_ms:
        return (
            f"{candidate.model.name} predicted p95 {duration_text(estimate.total_p95_ms)} > "
            f"budget {duration_text(budget.p95_ms)}"
        )
    return (
        f"{candidate.model.name} predicted first token {duration_text(estimate.ttft_p95_ms)} > "
        f"budget {duration_text(budget.ttft_ms or 0)}"
    )


def _routed_plan(inputs: RouteInputs, complexity: Complexity) -> RoutePlan:
    simple = complexity.label == "simple"
    best: list[Candidate] = []  # each model at its best endpoint
    broken: list[Candidate] = []
    for spec in inputs.catalog.models.values():
        healthy, dead = _endpoints_ranked(inputs, spec, edge_first=simple)
        if healthy:
            best.append(healthy[0])
        else:
            broken.extend(dead[:1])
    options = sorted(best or broken, key=_rank)
    fitting = [c for c in options if inputs.fits(c)]
    fitting_keys = {c.key for c in fitting}
    pool = fitting
    why = f"{complexity.label} request ({complexity.reason})"
    if simple:
        small = [c for c in fitting if c.model.tier in SMALL_TIERS]
        at_edge = _nearest_first([c for c in small if c.endpoint.region.startswith("edge")])
        pool = at_edge + [c for c in small if c not in at_edge] or fitting
        why += ": small model at the nearest edge" if small else ""
        why += _edge_versus_cloud(at_edge, [c for c in options if c not in at_edge])
    elif complexity.label == "medium":
        pool = [c for c in fitting if c.model.tier not in MEDIUM_SKIPS_TIERS] or fitting
    budget_text = duration_text(inputs.budget.p95_ms)
    if pool:
        chosen = pool[0]
        # The next steps up in quality that did not fit say most about the choice.
        rejected = sorted(
            (c for c in options if c.model.quality > chosen.model.quality),
            key=lambda c: (c.model.quality, c.estimate.total_p95_ms),
        )
        if simple and chosen.model.tier in SMALL_TIERS:
            rejected = []  # a small model was the point, whatever else would have fitted
        rejected = [c for c in rejected if c.key not in fitting_keys]
        choice = (
            f"chose {chosen.label} (predicted p95 {duration_text(chosen.estimate.total_p95_ms)}, "
            f"budget {budget_text})"
        )
        parts = [why, *(_why_not(inputs, c) for c in rejected[:2]), choice]
        ordered = pool + [c for c in fitting if c.key not in {p.key for p in pool}]
    else:
        chosen = min(options, key=lambda c: c.estimate.total_p95_ms)
        parts = [
            why,
            f"no model fits budget {budget_text}",
            f"chose the fastest, {chosen.label} (predicted p95 "
            f"{duration_text(chosen.estimate.total_p95_ms)})",
        ]
        ordered = sorted(options, key=lambda c: c.estimate.total_p95_ms)
    same_model, same_broken = _endpoints_ranked(inputs, chosen.model, edge_first=simple)
    candidates: list[Candidate] = []
    for candidate in [*same_model, *ordered]:
        if candidate.key not in {c.key for c in candidates}:
            candidates.append(candidate)
    candidates = candidates[:MAX_CANDIDATES] + same_broken
    parts[1:1] = _skipped_note(inputs, same_broken)
    return RoutePlan(
        candidates=tuple(candidates), hedges=tuple(_hedges(inputs, candidates[0], bool(pool))),
        decision="; ".join(parts), budget=inputs.budget, complexity=complexity,
    )  # fmt: skip


def _nearest_first(at_edge: list[Candidate]) -> list[Candidate]:
    """The nearest edge's candidates first (a model on this machine before a regional edge),
    each group in rank order; edges about as near as each other count as one group."""
    if not at_edge:
        return at_edge
    nearest = min(c.estimate.rtt_ms for c in at_edge)
    near = [c for c in at_edge if c.estimate.rtt_ms < nearest + NEAR_SLACK_MS]
    return near + [c for c in at_edge if c not in near]


def _edge_versus_cloud(at_edge: list[Candidate], others: list[Candidate]) -> str:
    """Why the edge: its predicted first token against the fastest candidate in the cloud."""
    cloud = [c for c in others if not c.endpoint.region.startswith("edge")]
    if not at_edge or not cloud:
        return ""
    edge, fastest = at_edge[0], min(cloud, key=lambda c: c.estimate.ttft_p50_ms)
    return (
        f" (edge {edge.label} first token ~{duration_text(edge.estimate.ttft_p50_ms)} vs cloud "
        f"{fastest.label} ~{duration_text(fastest.estimate.ttft_p50_ms)})"
    )


def _hedges(inputs: RouteInputs, primary: Candidate, must_fit: bool) -> list[Candidate]:
    """Where a late first token is hedged: the fastest other endpoint, or another model at most
    one quality rank lower that also fits the budget; a different endpoint first."""
    hedges = []
    for spec in inputs.catalog.models.values():
        if spec.quality < primary.model.quality - HEDGE_QUALITY_SLACK:
            continue
        healthy, _ = _endpoints_ranked(inputs, spec)
        for candidate in healthy:
            if candidate.key == primary.key or (must_fit and not inputs.fits(candidate)):
                continue
            hedges.append(candidate)
    same_endpoint = primary.endpoint.name
    return sorted(hedges, key=lambda c: (c.endpoint.name == same_endpoint, c.estimate.ttft_p50_ms))

"""The simulator's HTTP app: OpenAI's routes, also under a `/{region}` prefix, and `/sim/*`.

`/sim/config` reads and changes the fault rates, time scale and realism switches (prefill,
capacity, rpm, tpm) at run time; `/sim/log` serves the records of what was produced (see
`requestlog.py`). An endpoint is a region prefix ("" without one): each has its own slots and
rate limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from latency.simulator.capacity import EndpointSlots
from latency.simulator.chat_request import ApiError, ChatRequest, chat_request_parse
from latency.simulator.choices import choices_plan
from latency.simulator.faults import (
    FAULT_HEADER,
    STALL_HOLD_S,
    SimConfig,
    config_update,
    fault_choose,
)
from latency.simulator.profiles import PROFILES, latency_plan_draw, region_rtt_range
from latency.simulator.ratelimit import EndpointLimits
from latency.simulator.replies import Reply, reply_events
from latency.simulator.requestlog import RequestLog, RequestRecord
from latency.simulator.streaming import GeneratedResponse
from latency.simulator.wire import completion_id_new, error_build, model_build
from latency.simulator.words import prompt_tokens_count

_MODELS_CREATED = 1_735_689_600  # 2025-01-01, a fixed "created" for the model list


@dataclass
class SimState:
    """Per process by nature: the simulator is a single process and this is its own state."""

    config: SimConfig
    rng: random.Random
    log: RequestLog
    slots: EndpointSlots
    limits: EndpointLimits


def _state(request: Request) -> SimState:
    return request.app.state.sim


def _error_response(error: ApiError, headers: dict[str, str] | None = None) -> JSONResponse:
    body = error_build(
        message=error.message, error_type=error.error_type, code=error.code, param=error.param
    )
    return JSONResponse(body, status_code=error.status, headers=headers)


def _region_check(request: Request) -> tuple[str | None, tuple[float, float]]:
    region = request.path_params.get("region")
    rtt_range = region_rtt_range(region=region)
    if rtt_range is None:
        raise ApiError(
            status=404,
            message=f"Unknown region `{region}`: use a name starting with edge, cloud or local.",
            code="not_found",
        )
    return region, rtt_range


async def models_list(request: Request) -> Response:
    try:
        _region_check(request)
    except ApiError as error:
        return _error_response(error)
    data = [
        model_build(model=profile.model, owned_by=profile.owned_by, created=_MODELS_CREATED)
        for profile in PROFILES.values()
    ]
    return JSONResponse({"object": "list", "data": data})


async def model_retrieve(request: Request) -> Response:
    model = request.path_params["model"]
    try:
        _region_check(request)
        if model not in PROFILES:
            raise ApiError(
                status=404, message=f"The model `{model}` does not exist.", code="model_not_found"
            )
    except ApiError as error:
        return _error_response(error)
    profile = PROFILES[model]
    return JSONResponse(
        model_build(model=profile.model, owned_by=profile.owned_by, created=_MODELS_CREATED)
    )


async def chat_completions(request: Request) -> Response:
    arrived_at = asyncio.get_running_loop().time()
    state = _state(request)
    config = state.config
    record = RequestRecord(
        id=completion_id_new(),
        started_ts=time.time(),
        model=None,
        region=request.path_params.get("region"),
        stream=False,
        fault=None,
        time_scale=config.time_scale,
    )
    try:
        _, rtt_range = _region_check(request)
        chat = chat_request_parse(body=await request.body())
        try:
            fault = fault_choose(
                config=config, rng=state.rng, forced=request.headers.get(FAULT_HEADER)
            )
        except ValueError as error:
            raise ApiError(status=400, message=str(error), code="invalid_value") from None
    except ApiError as error:
        state.log.record_finish(record=record, status=error.status, outcome="error")
        return _error_response(error)

    choices = choices_plan(chat=chat)
    prompt_tokens = _prompt_tokens(chat)
    completion_tokens = sum(choice.completion_tokens for choice in choices)
    plan = latency_plan_draw(
        profile=PROFILES[chat.model],
        rtt_range=rtt_range,
        completion_tokens=max((choice.steps for choice in choices), default=0),
        rng=state.rng,
        prompt_tokens=prompt_tokens,
        prefill=config.prefill,
    )
    endpoint = record.region or ""
    # An injected error never reaches the model: it takes nothing from the limits or the queue.
    injected_error = fault in ("429", "500", "timeout")
    verdict = state.limits.check(
        endpoint=endpoint,
        rpm=config.rpm,
        tpm=config.tpm,
        tokens=prompt_tokens + completion_tokens,
        now=arrived_at,
        time_scale=config.time_scale,
        peek=injected_error,
    )
    scale = config.time_scale
    record.model, record.stream, record.fault = chat.model, chat.stream, fault
    record.fields = chat.fields
    record.prompt_tokens = prompt_tokens
    record.rtt_ms = round(plan.rtt_ms * scale, 3)
    served = not injected_error and verdict.allowed
    if served:
        record.completion_tokens = completion_tokens
        record.prefill_ms = round(plan.prefill_ms * scale, 3)
        hold_ms = STALL_HOLD_S * 1000 if fault == "stall" else 0.0
        # The queue wait is added once the request has its slot (replies.py).
        record.planned_ttft_ms = round(plan.planned_ttft_ms * scale, 3)
        record.planned_total_ms = round(
            (plan.planned_ttft_ms + sum(plan.itl_ms) + hold_ms) * scale, 3
        )
        record.itl_ms = round(plan.itl_mean_ms * scale, 3)
        record.tail_factor = round(plan.tail_factor, 3)
    reply = Reply(
        completion_id=record.id,
        model=chat.model,
        created=int(record.started_ts),
        choices=choices,
        prompt_tokens=prompt_tokens,
        stream=chat.stream,
        include_usage=chat.include_usage,
        plan=plan,
        fault=fault,
        time_scale=scale,
        arrived_at=arrived_at,
        top_logprobs=chat.top_logprobs,
        headers=verdict.headers,
        refusal=None if verdict.allowed else verdict,
        slots=state.slots.queue_for(endpoint=endpoint, capacity=config.capacity)
        if served
        else None,
    )
    return GeneratedResponse(events=reply_events(reply=reply, record=record, log=state.log))


def _prompt_tokens(chat: ChatRequest) -> int:
    """The messages' tokens, plus the tool definitions and schema a real model also reads."""
    extra = [{"role": "tools", "content": json.dumps(tool)} for tool in chat.tools]
    if chat.response_format and chat.response_format.get("schema"):
        extra.append({"role": "schema", "content": json.dumps(chat.response_format["schema"])})
    calls = [
        {"role": "assistant", "content": json.dumps(m["tool_calls"])}
        for m in chat.messages
        if m.get("tool_calls")
    ]
    count = prompt_tokens_count(messages=chat.messages)
    # Without tools or calls this is exactly the count of the messages, as before.
    return count + (prompt_tokens_count(messages=extra + calls) - 3 if extra or calls else 0)


async def sim_config(request: Request) -> Response:
    state = _state(request)
    if request.method == "POST":
        try:
            state.config = config_update(config=state.config, changes=await request.json())
            state.slots.resize_all(capacity=state.config.capacity)
        except ValueError as error:
            return _error_response(ApiError(status=400, message=str(error), code="invalid_value"))
    return JSONResponse(state.config.as_dict())


async def sim_log(request: Request) -> Response:
    after_ts = request.query_params.get("after_ts")
    try:
        after = float(after_ts) if after_ts else None
    except ValueError:
        return _error_response(
            ApiError(status=400, message="after_ts must be a number.", code="invalid_value")
        )
    records = _state(request).log.records_since(
        after_ts=after, completion_id=request.query_params.get("id")
    )
    return JSONResponse({"object": "list", "data": records})


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    detail = exc.detail if isinstance(exc, HTTPException) else "Internal Server Error"
    message = f"{detail}: {request.method} {request.url.path}"
    return _error_response(ApiError(status=status, message=message, code=None))


def app_build(
    *, config: SimConfig, seed: int | None = None, log_path: Path | None = None
) -> Starlette:
    """The simulator app; `seed` makes the latency draws repeatable (the text always is)."""
    state = SimState(
        config=config,
        rng=random.Random(seed),
        log=RequestLog(path=log_path),
        slots=EndpointSlots(),
        limits=EndpointLimits(),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        state.log.close()

    routes = [
        Route("/sim/config", sim_config, methods=["GET", "POST"]),
        Route("/sim/log", sim_log, methods=["GET"]),
    ]
    for prefix in ("", "/{region}"):
        routes += [
            Route(f"{prefix}/v1/models", models_list, methods=["GET"]),
            Route(f"{prefix}/v1/models/{{model:path}}", model_retrieve, methods=["GET"]),
            Route(f"{prefix}/v1/chat/completions", chat_completions, methods=["POST"]),
        ]
    app = Starlette(
        routes=routes, lifespan=lifespan, exception_handlers={HTTPException: _http_error}
    )
    app.state.sim = state
    return app

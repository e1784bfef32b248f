"""The upstream stream, made resilient: `provider_stream` wrapped with fallback, hedging, circuit
breakers, a first-token timeout per attempt and a stall cut after the first token.

Each attempt is a task that pumps its deltas into one queue. Before the first token, a failure
(429, 5xx, connection, timeout) starts the next candidate, and a late first token (past about the
endpoint's p90) sends one hedge, within a cap; the first attempt to produce a token wins and the
others are cancelled at once, which closes their HTTP streams. After it, a stream silent for
`stall_timeout_s` is cut: the tokens already yielded stay with the caller.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

from latency.errors import UpstreamError
from latency.providers.clients import ClientRegistry, clients
from latency.providers.stream import StreamDelta, provider_stream
from latency.routing.choice import Candidate, RoutePlan
from latency.routing.health import breaker_failure, breaker_success
from latency.routing.hedges import HedgeBudget, hedge_budget
from latency.routing.policy import ResiliencePolicy, StreamOutcome

ATTEMPT_TIMEOUT_FACTOR = 3.0  # an attempt's first-token timeout: this times its TTFT p95 ...
MIN_ATTEMPT_TIMEOUT_S = 1.0  # ... at least this, at most the policy's first_token_timeout_s
HEDGE_RETRY_S = 0.05  # a hedge the cap refused is asked for again this often
logger = logging.getLogger(__name__)


@dataclass(eq=False)
class _Attempt:
    candidate: Candidate
    started: float
    timeout_at: float
    hedge: bool
    task: asyncio.Task[None] | None = None
    tokens: int = 0


class _InternalFailure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


_Item = StreamDelta | UpstreamError | _InternalFailure | None  # None: the stream ended


class ResilientStream:
    """An async iterator of `StreamDelta`, like `provider_stream`; `.outcome` says who won."""

    def __init__(
        self,
        *,
        plan: RoutePlan,
        messages: list[dict[str, str]],
        temperature: float | None,
        max_tokens: int | None,
        policy: ResiliencePolicy,
        registry: ClientRegistry,
        hedges: HedgeBudget,
        options: dict[str, Any] | None = None,
        rich: bool = False,
    ) -> None:
        self.plan, self.policy, self.outcome = plan, policy, StreamOutcome()
        self._request = {"messages": messages, "temperature": temperature, "max_tokens": max_tokens,
                         "options": options, "rich": rich}  # fmt: skip
        self._registry, self._hedges = registry, hedges
        self._queue: asyncio.Queue[tuple[_Attempt, _Item]] = asyncio.Queue()
        self._held: tuple[_Attempt, _Item] | None = None  # taken by a merge, not yet given
        self._active: list[_Attempt] = []
        self._started: list[_Attempt] = []
        self._order = self._candidates()
        self._gen = self._run()

    def __aiter__(self) -> ResilientStream:
        return self

    def __anext__(self) -> Any:
        return self._gen.__anext__()

    async def aclose(self) -> None:
        await self._gen.aclose()

    def _candidates(self) -> Iterator[Candidate]:
        """The plan's candidates in order, then again (a retry), up to the attempt limit."""
        while self.plan.candidates:
            yield from self.plan.candidates

    async def _run(self) -> AsyncIterator[StreamDelta]:
        loop = asyncio.get_running_loop()
        self._hedges.request_count(cap=self.policy.hedge_cap)
        deadline = loop.time() + self.policy.deadline_s
        try:
            winner, first = await self._first_token(loop, deadline)
            if first is None:  # an empty answer: the stream ended before any text
                breaker_success(endpoint=winner.candidate.endpoint.name)
                return
            yield first
            async for delta in self._rest(loop, winner):
                yield delta
        finally:
            await self._cancel(self._started)

    async def _next(self, timeout_s: float) -> tuple[_Attempt, _Item]:
        """The next item of any attempt; TimeoutError if none comes within `timeout_s`."""
        if self._held is not None:
            held, self._held = self._held, None
            return held
        if not self._queue.empty():
            return self._queue.get_nowait()
        # Not asyncio.wait_for: on Python 3.11 it returns the item when a cancellation (the
        # user's stop) lands in the same loop turn, and the answer then runs to its end.
        async with asyncio.timeout(max(0.0, timeout_s)):
            return await self._queue.get()

    async def _first_token(
        self, loop: asyncio.AbstractEventLoop, deadline: float
    ) -> tuple[_Attempt, StreamDelta | None]:
        self._attempt_start(loop, next(self._order), hedge=False)
        hedge_at = self._hedge_time(self._active[0])
        last_error: UpstreamError | None = None
        while True:
            wake = min(deadline, hedge_at, *(a.timeout_at for a in self._active))
            try:
                attempt, item = await self._next(wake - loop.time())
            except TimeoutError:
                now = loop.time()
                if now >= deadline:
                    raise self._given_up(last_error) from None
                for late in [a for a in self._active if a.timeout_at <= now]:
                    last_error = UpstreamError(
                        f"{late.candidate.label} sent no first token in time.",
                        kind="timeout", endpoint=late.candidate.endpoint.name,
                    )  # fmt: skip
                    await self._attempt_failed(late, last_error)
                if hedge_at <= now:
                    hedge_at = self._hedge_send(loop)
            else:
                if attempt not in self._active:
                    continue  # a cancelled attempt's last word
                if isinstance(item, _InternalFailure):
                    raise item.error
                if not isinstance(item, UpstreamError):
                    return self._win(loop, attempt), item
                if item.refused_request:
                    # The request itself was refused (400, 404, 422...): another endpoint would
                    # refuse it too, and it says nothing about this endpoint's health.
                    raise item
                last_error = item
                await self._attempt_failed(attempt, item)
            if not self._active:
                if not self._fallback_start(loop, deadline, after=last_error):
                    raise self._given_up(last_error)
                if not self.outcome.hedged:
                    hedge_at = self._hedge_time(self._active[0])

    async def _rest(
        self, loop: asyncio.AbstractEventLoop, winner: _Attempt
    ) -> AsyncIterator[StreamDelta]:
        stall_s = self.policy.stall_timeout_s
        silent_since = loop.time()
        while True:
            try:
                attempt, item = await self._next(silent_since + stall_s - loop.time())
            except TimeoutError:
                await self._cancel([winner])
                label = winner.candidate.label
                await breaker_failure(endpoint=winner.candidate.endpoint.name, reason="stall")
                self.outcome.notes.append(f"{label} stalled; cut after {stall_s:g} s")
                raise UpstreamError(
                    f"{label} stopped sending for {stall_s:g} s after {winner.tokens} pieces of "
                    "the answer; the answer so far is kept.",
                    kind="stall", endpoint=winner.candidate.endpoint.name,
                ) from None  # fmt: skip
            if attempt is not winner:
                continue
            if isinstance(item, _InternalFailure):
                raise item.error
            if item is None:
                breaker_success(endpoint=winner.candidate.endpoint.name)
                return
            if isinstance(item, UpstreamError):
                await breaker_failure(endpoint=item.endpoint, reason=item.kind)
                self.outcome.notes.append(f"{winner.candidate.label} broke mid-answer")
                item.user_message += " The answer so far is kept."
                raise item
            winner.tokens += 1
            silent_since = loop.time()
            yield self._merged(winner, item)

    def _merged(self, winner: _Attempt, delta: StreamDelta) -> StreamDelta:
        """`delta` with the winner's plain text deltas already queued behind it. When the
        reader falls behind (a busy process), a burst of tokens then goes down the pipeline,
        and out to the client, as one piece instead of one each: the work per piece (the
        pipeline's generators, the frame's encode and write) is what a busy process lacks."""
        if not _plain(delta):
            return delta
        parts = [delta.text]
        while self._held is None and not self._queue.empty():
            attempt, item = self._queue.get_nowait()
            if attempt is not winner:
                continue  # a cancelled attempt's last word
            if not isinstance(item, StreamDelta) or not _plain(item):
                self._held = (attempt, item)  # the end, an error, usage: given next, as sent
                break
            parts.append(item.text)
            winner.tokens += 1
        if len(parts) == 1:
            return delta
        return StreamDelta(text="".join(parts), upstream_id=delta.upstream_id)

    def _attempt_start(
        self, loop: asyncio.AbstractEventLoop, candidate: Candidate, *, hedge: bool
    ) -> _Attempt:
        now = loop.time()
        timeout_s = min(
            self.policy.first_token_timeout_s,
            max(
                MIN_ATTEMPT_TIMEOUT_S,
                ATTEMPT_TIMEOUT_FACTOR * candidate.estimate.ttft_p95_ms / 1000,
            ),
        )
        attempt = _Attempt(
            candidate=candidate, started=now, timeout_at=now + timeout_s, hedge=hedge
        )
        attempt.task = asyncio.create_task(self._pump(attempt))
        self._active.append(attempt)
        self._started.append(attempt)
        self.outcome.attempts += 1
        return attempt

    async def _pump(self, attempt: _Attempt) -> None:
        candidate = attempt.candidate
        try:
            async for delta in provider_stream(
                model=candidate.model, endpoint=candidate.endpoint, registry=self._registry,
                **self._request,  # type: ignore[arg-type]
            ):  # fmt: skip
                self._queue.put_nowait((attempt, delta))
            self._queue.put_nowait((attempt, None))
        except UpstreamError as error:
            self._queue.put_nowait((attempt, error))
        except Exception as error:
            # Our bug, not the endpoint's failure: fail this request (the pipeline traces it as
            # internal) without counting it against the endpoint's breaker.
            logger.exception("attempt at %s failed inside the app", candidate.label)
            self._queue.put_nowait((attempt, _InternalFailure(error)))

    def _hedge_time(self, attempt: _Attempt) -> float:
        if not self.policy.hedging or not self.plan.hedges:
            return float("inf")
        return attempt.started + attempt.candidate.estimate.ttft_p90_ms / 1000

    def _hedge_send(self, loop: asyncio.AbstractEventLoop) -> float:
        """Send the hedge; when the cap says no, ask again shortly (the budget refills with every
        request), so that the requests that wait longest get the hedges. The next time to try."""
        busy = {a.candidate.key for a in self._active}
        target = next((c for c in self.plan.hedges if c.key not in busy), None)
        if target is None or not self._active:
            return float("inf")
        if not self._hedges.hedge_take(again=self.outcome.hedge_denied):
            self.outcome.hedge_denied = True
            return loop.time() + HEDGE_RETRY_S
        waited_ms = (loop.time() - self._active[0].started) * 1000
        self._attempt_start(loop, target, hedge=True)
        self.outcome.hedged = True
        self.outcome.notes.append(
            f"no first token after {waited_ms:.0f} ms: hedged to {target.label}"
        )
        return float("inf")

    def _fallback_start(
        self, loop: asyncio.AbstractEventLoop, deadline: float, *, after: UpstreamError | None
    ) -> bool:
        if self.outcome.attempts >= self.policy.max_attempts or loop.time() >= deadline:
            return False
        if after is not None and after.kind == "timeout":
            self._hedges.timeout_fallback_spend()  # as costly upstream as a hedge
        candidate = self._attempt_start(loop, next(self._order), hedge=False).candidate
        self.outcome.fallbacks += 1
        self.outcome.notes.append(f"fell back to {candidate.label}")
        return True

    async def _attempt_failed(self, attempt: _Attempt, error: UpstreamError) -> None:
        self._active.remove(attempt)
        if attempt.task is not None:
            attempt.task.cancel()
        self.outcome.notes.append(f"{attempt.candidate.label} failed ({error.kind})")
        await breaker_failure(endpoint=attempt.candidate.endpoint.name, reason=error.kind)

    def _win(self, loop: asyncio.AbstractEventLoop, attempt: _Attempt) -> _Attempt:
        losers = [a for a in self._active if a is not attempt]
        for loser in losers:
            if loser.task is not None:
                loser.task.cancel()  # at once: its HTTP stream closes as the task unwinds
        self._active = [attempt]
        attempt.tokens = 1
        breaker_success(endpoint=attempt.candidate.endpoint.name)
        self.outcome.winner = attempt.candidate
        self.outcome.upstream_ttft_ms = round((loop.time() - attempt.started) * 1000, 3)
        if attempt.hedge:
            self.outcome.hedge_won = True
            self.outcome.notes.append(f"the hedge won ({attempt.candidate.label})")
        elif losers:
            self.outcome.notes.append(f"{attempt.candidate.label} won; the hedge was cancelled")
        return attempt

    def _given_up(self, error: UpstreamError | None) -> UpstreamError:
        tried = ", ".join(a.candidate.label for a in self._started)
        if error is None:
            message = f"No model answered within {self.policy.deadline_s:g} s (tried {tried})."
            kind, endpoint = "timeout", self.plan.primary.endpoint.name
        else:
            message = f"No model could answer (tried {tried}); last: {error.user_message}"
            kind, endpoint = error.kind, error.endpoint
        return UpstreamError(message, kind=kind, endpoint=endpoint)

    @staticmethod
    async def _cancel(attempts: list[_Attempt]) -> None:
        tasks = [a.task for a in attempts if a.task is not None and not a.task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


def _plain(delta: StreamDelta) -> bool:
    """Text and nothing else: what can be joined to its neighbours without changing the
    answer (usage, finish reasons and raw choices go as they came)."""
    return (
        bool(delta.text)
        and not delta.choices
        and not delta.finish_reasons
        and delta.completion_tokens is None
        and delta.prompt_tokens is None
    )


def resilient_stream(
    *,
    plan: RoutePlan,
    messages: list[dict[str, str]],
    policy: ResiliencePolicy,
    temperature: float | None = None,
    max_tokens: int | None = None,
    options: dict[str, Any] | None = None,
    rich: bool = False,
    registry: ClientRegistry = clients,
    hedges: HedgeBudget = hedge_budget,
) -> ResilientStream:
    """Stream the plan's answer; nothing starts until the first `anext`."""
    return ResilientStream(
        plan=plan, messages=messages, temperature=temperature, max_tokens=max_tokens,
        policy=policy, registry=registry, hedges=hedges, options=options, rich=rich,
    )  # fmt: skip

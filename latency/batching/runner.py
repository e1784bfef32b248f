"""One task's run of a job: claim items under a lease, answer what the cache knows, pack the
short ones N to a prompt, call the rest alone, commit each answer with the end of its lease.
A watcher polls the job: cancelled, it stops the calls in flight within a second."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field

from channels.db import database_sync_to_async
from django.conf import settings

from latency.batching import claims, metrics
from latency.batching.claims import Answer, Usage
from latency.batching.packing import (
    Packable,
    pack_answer_fits,
    pack_body,
    pack_messages,
    pack_options,
    pack_parse,
    packable_prompt,
    packs_group,
)
from latency.batching.priority import ChatPressure, chat_recent_count
from latency.batching.rate import RateWindows
from latency.batching.upstream import CallFailed, CallStopped, batch_call
from latency.cache.exact import exact_tier_close
from latency.cache.scope import CacheScope, cache_scope_build
from latency.cache.service import CacheLookup, Remember, cache_lookup, cache_remember_many
from latency.core.tokens import tokens_count
from latency.models import BatchItem, BatchJob, Feature, StrategySettings
from latency.observability.tracing import TraceRecorder
from latency.providers.catalog import ModelSpec, catalog_load
from latency.providers.clients import ClientRegistry
from latency.routing.choice import Candidate, route_plan
from latency.strategies import strategy_settings_get

Status = BatchJob.Status
logger = logging.getLogger(__name__)
MESSAGE_OVERHEAD = 7  # tokens a chat request adds around one message
WATCH_S = 0.2
PACK_TRIALS = 2
# Chunks a run works on at once: while one waits for its calls, the next one's cache lookups
# (CPU: an embedding each) go on; one while chat is busy, to leave the CPU to it.
CHUNKS_IN_FLIGHT = 4
# Cache lookups at once: the embedding batcher's batch, and well within the connection pools
# (Redis's raises beyond 100) that the exact and semantic tiers share with nothing else here.
LOOKUPS_IN_FLIGHT = 32


@dataclass
class JobRunner:
    job: BatchJob
    worker_id: uuid.UUID
    spec: ModelSpec
    candidates: tuple[Candidate, ...]
    strategy: StrategySettings
    registry: ClientRegistry
    windows: RateWindows
    pressure: ChatPressure = field(default_factory=ChatPressure)
    stopping: bool = False
    _calls: set[asyncio.Task] = field(default_factory=set)
    # The cache lookup of each item that missed, kept for storing its answer (one embedding).
    _lookups: dict[int, CacheLookup] = field(default_factory=dict)
    # An endpoint that ignores the packing format costs every item twice: after PACK_TRIALS
    # packed replies with no answer read from them, this run asks items alone. Until one is
    # read, at most PACK_TRIALS packs are in flight (`_trials`) and the others wait.
    packs_read: int = 0
    packs_unread: int = 0
    _trials: int = 0
    _trial_gate: asyncio.Condition = field(default_factory=asyncio.Condition)
    _lookup_gate: asyncio.Semaphore = field(
        default_factory=lambda: asyncio.Semaphore(LOOKUPS_IN_FLIGHT)
    )

    async def run(self) -> str:
        watcher = asyncio.create_task(self._watch())
        chunks: set[asyncio.Task] = set()
        try:
            while not self.stopping:
                if len(chunks) >= self._in_flight():
                    await asyncio.wait(chunks, return_when=asyncio.FIRST_COMPLETED)
                    continue
                claimed = await database_sync_to_async(claims.items_claim)(
                    job_id=self.job.id, worker_id=self.worker_id, limit=self._chunk(),
                    lease_s=settings.BATCH_LEASE_SECONDS,
                )  # fmt: skip
                if claimed:
                    chunk = asyncio.create_task(self._chunk_process(claimed))
                    chunks.add(chunk)
                    chunk.add_done_callback(self._chunk_done(chunks))
                    continue
                if chunks:
                    await asyncio.wait(chunks, return_when=asyncio.FIRST_COMPLETED)
                    continue
                status, open_left, live = await database_sync_to_async(claims.job_state)(
                    job_id=self.job.id
                )
                if not open_left:
                    break
                # Another worker holds the rest: wait, and take over what it leaves if it dies.
                await asyncio.sleep(0.5 if live else 0.05)
        finally:
            for chunk in chunks:
                chunk.cancel()
            await asyncio.gather(*chunks, return_exceptions=True)
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
            state = BatchItem.State.CANCELLED if self.stopping else BatchItem.State.PENDING
            await database_sync_to_async(claims.items_release)(
                worker_id=self.worker_id, state=state
            )
        from latency.batching.finalize import job_finalize

        await database_sync_to_async(job_finalize)(job_id=self.job.id)
        return "stopped" if self.stopping else "done"

    @staticmethod
    def _chunk_done(chunks: set[asyncio.Task]):  # noqa: ANN205
        def done(task: asyncio.Task) -> None:
            chunks.discard(task)
            if not task.cancelled() and task.exception() is not None:
                # Its items return to the pool when their lease runs out.
                logger.error("a batch chunk failed", exc_info=task.exception())

        return done

    def _chunk(self) -> int:
        """Four packs a chunk, but at most a quarter of the job: a small job's progress still
        moves in steps instead of jumping from nothing to everything."""
        pack = max(settings.BATCH_PACK_SIZE, 1)
        return min(max(20, pack * 4), max(pack, -(-self.job.total // 4)))

    def _in_flight(self) -> int:
        """Chunks at once: one while chat is busy; else up to CHUNKS_IN_FLIGHT, but no more
        than half the job at once (chunks in flight end together, and progress would jump)."""
        if self.pressure.busy():
            return 1
        return min(CHUNKS_IN_FLIGHT, max(1, self.job.total // (2 * self._chunk())))

    async def _watch(self) -> None:
        """Cancellation and the completion window, the chat load, and the leases held."""
        renew_every = max(0.5, settings.BATCH_LEASE_SECONDS / 3)
        renewed = time.monotonic()
        while True:
            await asyncio.sleep(WATCH_S)
            status = await BatchJob.objects.filter(id=self.job.id).values_list(
                "status", "expires_at").afirst()  # fmt: skip
            from django.utils import timezone

            if (
                status is None
                or status[0] == Status.CANCELLING
                or (status[1] is not None and timezone.now() >= status[1])
            ):
                self.stopping = True
                for task in list(self._calls):
                    task.cancel()
                return
            if self.pressure.stale():
                self.pressure.update(await database_sync_to_async(chat_recent_count)())
            if time.monotonic() - renewed >= renew_every:
                await database_sync_to_async(claims.leases_renew)(
                    worker_id=self.worker_id, lease_s=settings.BATCH_LEASE_SECONDS
                )
                renewed = time.monotonic()

    def _spawn(self, coroutine) -> asyncio.Task:  # noqa: ANN001
        task = asyncio.create_task(coroutine)
        self._calls.add(task)
        task.add_done_callback(self._calls.discard)
        return task

    async def _chunk_process(self, items: list[BatchItem]) -> None:
        try:
            await self._chunk_answer(items)
        except Exception as error:  # noqa: BLE001 - a lookup or a commit failed
            # The items still held go back to pending (failed, once out of attempts) now, rather
            # than wait under a lease this worker keeps renewing.
            logger.error("a batch chunk failed; its items go back", exc_info=error)
            for item in items:
                await database_sync_to_async(claims.item_fail)(
                    item_id=item.id, worker_id=self.worker_id, code="worker_error",
                    error=f"{type(error).__name__}: {error}", final=False,
                )  # fmt: skip
        finally:
            for item in items:
                self._lookups.pop(item.id, None)
        await database_sync_to_async(metrics.queue_depth_observe)()

    async def _chunk_answer(self, items: list[BatchItem]) -> None:
        misses = [
            item for item in await asyncio.gather(*(self._from_cache(i) for i in items)) if item
        ]
        packable, alone = [], []
        for item in misses:
            prompt = packable_prompt(body=item.body)
            if prompt is None:
                alone.append(item)
            else:
                packable.append(Packable(key=item.id, prompt=prompt,
                                         tokens=tokens_count(text=prompt),
                                         options=pack_options(body=item.body)))  # fmt: skip
        by_id = {item.id: item for item in misses}
        size = settings.BATCH_PACK_SIZE if self.packing() else 1
        packs, single = packs_group(items=packable, size=size,
                                    token_budget=settings.BATCH_PACK_TOKEN_BUDGET)  # fmt: skip
        alone += [by_id[p.key] for p in single]
        tasks = [self._spawn(self._alone_answer(item)) for item in alone]
        tasks += [self._spawn(self._pack_send([by_id[p.key] for p in pack], pack))
                  for pack in packs]  # fmt: skip
        for outcome in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(outcome, Exception):  # its items return when their lease runs out
                logger.error("a batch call failed unexpectedly", exc_info=outcome)

    async def _pack_send(self, items: list[BatchItem], pack: list[Packable]) -> None:
        """A pack, once packing is known to work here (or as one of the first PACK_TRIALS to
        find out); its items alone when it is known not to."""
        gate = self._trial_gate
        async with gate:
            await gate.wait_for(
                lambda: self.packs_read or not self.packing() or self._trials < PACK_TRIALS
            )
            trial = not self.packs_read and self.packing()
            self._trials += trial
        try:
            if self.packing():
                await self._pack_answer(items, pack)
            else:
                await asyncio.gather(*(self._alone_answer(item) for item in items))
        finally:
            if trial:
                async with gate:
                    self._trials -= 1
                    gate.notify_all()

    def packing(self) -> bool:
        return self.packs_read > 0 or self.packs_unread < PACK_TRIALS

    def _scope(self, item: BatchItem) -> tuple[CacheScope, str]:
        messages = item.body["messages"]
        scope = cache_scope_build(model_scope=self.spec.name, feature=Feature.BACKGROUND,
                                  messages=messages, owner_id=None)  # fmt: skip
        return scope, str(messages[-1].get("content", ""))

    def _cache_usable(self, item: BatchItem) -> bool:
        temperature = item.body.get("temperature")
        on = self.strategy.exact_cache or self.strategy.semantic_cache
        return on and (temperature is None or temperature <= self.strategy.cache_max_temperature)

    async def _from_cache(self, item: BatchItem) -> BatchItem | None:
        """Answer from the cache (verification on, background scope): None; else the item."""
        if not self._cache_usable(item):
            return item
        scope, query = self._scope(item)
        trace = TraceRecorder(
            received_at=time.perf_counter(), feature=Feature.BACKGROUND, source="batch"
        )
        async with self._lookup_gate:
            lookup = await cache_lookup(query=query, scope=scope, settings=self.strategy,
                                        trace=trace)  # fmt: skip
        if lookup.hit is None:
            self._lookups[item.id] = lookup
            return item
        answer = Answer(text=lookup.hit.candidate.response, model=lookup.hit.candidate.model,
                        from_cache=True)  # fmt: skip
        saved = tokens_count(text=query) + MESSAGE_OVERHEAD + tokens_count(text=answer.text)
        if await database_sync_to_async(claims.item_answer)(
            item_id=item.id, worker_id=self.worker_id, answer=answer, saved_tokens=saved
        ):
            metrics.item_outcome(outcome="cache")
        return None

    async def _remember(self, answered: list[tuple[BatchItem, str]]) -> None:
        fresh = []
        for item, text in answered:
            lookup = self._lookups.pop(item.id, None)
            if lookup is not None and text and self._cache_usable(item):
                scope, query = self._scope(item)
                fresh.append(Remember(lookup=lookup, query=query, scope=scope, response=text))
        if fresh:
            await cache_remember_many(answers=fresh, model=self.spec.name,
                                      settings=self.strategy)  # fmt: skip

    async def _call(self, body: dict, messages: list[dict[str, str]], note: str):  # noqa: ANN202
        result = await batch_call(
            candidates=self.candidates, body=body, messages=messages, windows=self.windows,
            registry=self.registry, user_id=self.job.owner_id, note=note,
            stopped=lambda: self.stopping,
        )  # fmt: skip
        metrics.upstream_call(rate_limited=result.rate_limited)
        return result

    async def _alone_answer(self, item: BatchItem) -> None:
        try:
            result = await self._call(item.body, item.body["messages"], f"batch {self.job.uid}")
        except CallStopped:
            return
        except CallFailed as error:
            await database_sync_to_async(claims.item_fail)(
                item_id=item.id, worker_id=self.worker_id, error=str(error), code=error.code,
                final=error.code.startswith("http_4"),
            )  # fmt: skip
            metrics.item_outcome(outcome="failed")
            return
        usage = Usage(requests=1, prompt_tokens=result.prompt_tokens,
                      completion_tokens=result.completion_tokens,
                      rate_limited=result.rate_limited)  # fmt: skip
        answer = Answer(text=result.text, model=result.model, request_id=result.request_id,
                        prompt_tokens=result.prompt_tokens,
                        completion_tokens=result.completion_tokens)  # fmt: skip
        written = await database_sync_to_async(claims.items_answer)(
            job_id=self.job.id, worker_id=self.worker_id, answers=[(item.id, answer, 0)],
            usage=usage,
        )  # fmt: skip
        if written:
            metrics.item_outcome(outcome="answered")
            await self._remember([(item, result.text)])

    async def _pack_answer(self, items: list[BatchItem], pack: list[Packable]) -> None:
        messages = pack_messages(prompts=[p.prompt for p in pack])
        body = pack_body(body=items[0].body, count=len(pack))  # a pack's items share options
        try:
            result = await self._call(body, messages, f"batch {self.job.uid}: {len(pack)} packed")
        except CallStopped:
            return
        except CallFailed:
            answers: list[str | None] = [None] * len(pack)  # each is asked again alone
            result = None
        else:
            answers = pack_parse(reply=result.text, count=len(pack))
            if any(answers):
                self.packs_read += 1
            else:
                self.packs_unread += 1
            answers = [
                text if text is not None and pack_answer_fits(body=item.body, text=text) else None
                for item, text in zip(items, answers, strict=True)
            ]
        if result is not None:
            parsed = [
                (item, p, text) for item, p, text in zip(items, pack, answers, strict=True) if text
            ]
            prompt_total = sum(p.tokens for _, p, _ in parsed) or 1
            answer_total = sum(tokens_count(text=t) for _, _, t in parsed) or 1
            rows = [
                (item.id, Answer(
                    text=text, model=result.model, request_id=result.request_id, packed=True,
                    prompt_tokens=round(result.prompt_tokens * p.tokens / prompt_total),
                    completion_tokens=round(
                        result.completion_tokens * tokens_count(text=text) / answer_total
                    ),
                ), 0)
                for item, p, text in parsed
            ]  # fmt: skip
            alone_tokens = sum(p.tokens + MESSAGE_OVERHEAD for p in pack)
            usage = Usage(requests=1, prompt_tokens=result.prompt_tokens,
                          completion_tokens=result.completion_tokens,
                          rate_limited=result.rate_limited,
                          packing_saved=alone_tokens - result.prompt_tokens)  # fmt: skip
            written = await database_sync_to_async(claims.items_answer)(
                job_id=self.job.id, worker_id=self.worker_id, answers=rows, usage=usage
            )
            for _ in written:
                metrics.item_outcome(outcome="answered")
            await self._remember([(item, text) for item, _, text in parsed if item.id in written])
        again = [item for item, text in zip(items, answers, strict=True) if not text]
        if again:
            await asyncio.gather(*(self._alone_answer(item) for item in again))


async def job_run(*, job_id: int, worker_id: uuid.UUID) -> str:
    job = await BatchJob.objects.filter(id=job_id).afirst()
    if job is None or job.finished:
        return "nothing to do"
    if job.status == Status.CANCELLING:
        from latency.batching.finalize import job_finalize

        await database_sync_to_async(job_finalize)(job_id=job.id)
        return "nothing to do"
    registry = ClientRegistry()
    try:
        strategy = await strategy_settings_get()
        spec = catalog_load().model_get(job.model)
        plan = await route_plan(
            feature=Feature.BACKGROUND, messages=[{"role": "user", "content": "batch"}],
            settings=strategy, pinned_model=spec.name, registry=registry,
        )  # fmt: skip
        pressure = ChatPressure()
        windows = RateWindows(
            cap=settings.BATCH_MAX_CONCURRENCY, share_under_chat=settings.BATCH_CHAT_SHARE,
            chat_busy=pressure.busy,
        )  # fmt: skip
        runner = JobRunner(job=job, worker_id=worker_id, spec=spec, candidates=plan.candidates,
                           strategy=strategy, registry=registry, windows=windows,
                           pressure=pressure)  # fmt: skip
        return await runner.run()
    finally:
        from latency.routing.health import prober

        await prober.probes_cancel()  # probes hold this loop's connections
        await registry.close()
        await exact_tier_close()  # the exact tier's Redis pool is this loop's too

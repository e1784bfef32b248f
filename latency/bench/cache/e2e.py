"""Cache hits end to end at the app's default settings, as clients see them: a websocket client
(sending the frame to receiving the `data-state="done"` fragment) and an API client with the
official SDK (request to the whole body, or to `[DONE]` when streamed), against a real daphne.
Then the speculative lookup's trade-off: a miss's time to first token with speculation on and
off, and the upstream calls a hit starts and cancels. Runs as a child of `latency_bench cache`
in its own database, with the app's cache settings copied in."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from latency.bench.cache.questions import PARAPHRASES
from latency.bench.cache.seed import REDIS_URL, seed_client
from latency.bench.report import percentiles, progress
from latency.testing.processes import daphne_start, simulator_start
from latency.testing.sessions import session_key_make

DONE = re.compile(r'<article id="msg-\d+"[^>]*data-state="done"[^>]*data-cache="(\w+)"')
TIER = re.compile(r"cached · (\w+)")
WARM_PAIR = ("What is the boiling point of water?", "Tell me the boiling point of water")
WARM_TIMEOUT_S = 180


@dataclass(frozen=True)
class Answer:
    question: str
    ms: float
    cache: str  # hit, miss or off
    tier: str  # exact, semantic or "" (not from the cache)
    ttft_ms: float | None = None  # to the first token fragment, when asked for


def e2e_measure(*, hits: int, err: TextIO) -> dict[str, Any]:
    """Seeds once (misses), then paraphrases (semantic hits) and repeats (exact hits), each the
    first message of a fresh conversation so that its cache scope is the seed's; then the same
    repeats through the API; then speculation on and off."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from latency.gateway.keys import api_key_create
    from latency.models import CacheEntry

    started_at = timezone.now()
    work = Path(tempfile.mkdtemp(prefix="bench-cache-"))
    CacheEntry.objects.all().delete()  # this database is the benchmark's own: seeds must miss
    seed_client().flushdb()
    user = get_user_model().objects.create_user(f"bench-{uuid.uuid4().hex[:8]}")
    simulator = simulator_start(time_scale=0.2, seed=7, stderr_path=work / "simulator.err")
    try:
        web = daphne_start(
            env={"SIMULATOR_URL": simulator.url, "REDIS_URL": REDIS_URL},
            log_path=work / "daphne.log",
        )
        try:
            session = session_key_make(user=user)
            answers = asyncio.run(
                _conversations_run(url=web.url, user=user, session=session, hits=hits, err=err)
            )
            key = api_key_create(user=user, unlimited=True)
            api = asyncio.run(_api_hits(url=web.url, key=key, hits=hits))
            speculation = asyncio.run(
                speculation_measure(url=web.url, user=user, session=session, simulator=simulator,
                                    err=err)  # fmt: skip
            )
        finally:
            web.stop()
    finally:
        simulator.stop()
        user.delete()
        seed_client().flushdb()
    return {**_summary(answers), "api": api, "speculation": speculation,
            "server_stages_ms": _stages(since=started_at)}  # fmt: skip


async def _api_hits(*, url: str, key: str, hits: int) -> dict[str, Any]:
    """Repeats of the seed questions through the API (each cached by the websocket phase, in
    the same scope: same feature, tier and no earlier turns): whole bodies, streams, and streams
    that ask for a paced replay (`X-Cache-Replay: paced`)."""
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)
    seeds = list(PARAPHRASES)
    timings: dict[str, list[float]] = {"whole": [], "stream": [], "stream_paced": []}
    tiers: dict[str, int] = {}
    try:
        for index in range(hits):
            question = seeds[index % len(seeds)]
            messages = [{"role": "user", "content": question}]
            for mode, timed in timings.items():
                headers = {"X-Cache-Replay": "paced"} if mode == "stream_paced" else {}
                sent = time.perf_counter()
                if mode == "whole":
                    raw = await client.chat.completions.with_raw_response.create(
                        model="auto", messages=messages, extra_headers=headers
                    )
                    raw.parse()
                else:
                    raw = await client.chat.completions.with_raw_response.create(
                        model="auto", messages=messages, stream=True, extra_headers=headers
                    )
                    async for _ in raw.parse():
                        pass
                tier = raw.headers.get("x-cache", "")
                tiers[tier] = tiers.get(tier, 0) + 1
                if tier in ("exact", "semantic"):
                    timed.append((time.perf_counter() - sent) * 1000)
    finally:
        await client.close()
    return {**{f"{mode}_hit_ms": percentiles(ms) for mode, ms in timings.items()},
            "x_cache": tiers}  # fmt: skip


async def speculation_measure(
    *, url: str, user: Any, session: str, simulator: Any, err: TextIO, rounds: int = 40
) -> dict[str, Any]:
    """Unique questions (misses) and repeats (hits), with the speculative lookup on and then
    off: a miss's time to first token at the client, and upstream calls started per request
    (from the simulator's log: every call it served or saw cancelled)."""
    from asgiref.sync import sync_to_async

    from latency.models import StrategySettings

    arms: dict[str, Any] = {}
    for speculative in (True, False):
        await sync_to_async(StrategySettings.objects.filter(id=1).update)(
            speculative_cache=speculative
        )
        await asyncio.sleep(1.5)  # the server re-reads its settings every second
        since = time.time()
        misses, hit_times = [], []
        for index in range(rounds):
            question = f"What is the story behind landmark number {uuid.uuid4().hex[:6]}?"
            miss = await _ask(url=url, user=user, session=session, question=question,
                              ttft=True)  # fmt: skip
            misses.append(miss.ttft_ms)
            hit = await _ask(url=url, user=user, session=session, question=question)
            hit_times.append(hit.ms)
            progress(err, index + 1, rounds, f"speculation {'on' if speculative else 'off'}")
        upstream = len(simulator.log(after_ts=since))
        arms["on" if speculative else "off"] = {
            "miss_ttft_ms": percentiles(misses), "hit_ms": percentiles(hit_times),
            "requests": 2 * rounds, "misses": rounds, "upstream_calls": upstream,
            "upstream_calls_cancelled_by_hits": max(0, upstream - rounds),
        }  # fmt: skip
    await sync_to_async(StrategySettings.objects.filter(id=1).update)(speculative_cache=True)
    return arms


def _stages(*, since: Any) -> dict[str, dict[str, dict[str, float]]]:
    """Where the server spent a hit's time, by its own request traces (ms, p50/p95)."""
    from latency.models import RequestTrace

    stages: dict[str, dict[str, dict[str, float]]] = {}
    for tier in ("semantic", "exact"):
        traces = RequestTrace.objects.filter(created_at__gte=since, cache_outcome=tier)
        rows = list(traces.values_list("stages", "total_ms"))
        names = sorted({name for stage, _ in rows for name in stage})
        stages[tier] = {
            name: percentiles([st[name] for st, _ in rows if name in st]) for name in names
        }
        stages[tier]["server_total"] = percentiles(
            [total for _, total in rows if total is not None]
        )
    return stages


async def _ask(*, url: str, user: Any, session: str, question: str, ttft: bool = False) -> Answer:
    import websockets

    from latency.models import Conversation

    conversation = await Conversation.objects.acreate(user=user)
    ws_url = url.replace("http://", "ws://") + f"/ws/chat/{conversation.id}/"
    async with websockets.connect(
        ws_url, origin=url, additional_headers={"Cookie": f"sessionid={session}"}
    ) as socket:
        sent = time.perf_counter()
        first_token_ms = None
        await socket.send(json.dumps({"message": question}))
        while True:
            fragment = await asyncio.wait_for(socket.recv(), timeout=60)
            if first_token_ms is None and fragment.startswith('<span id="msg-'):
                first_token_ms = (time.perf_counter() - sent) * 1000
            done = DONE.search(fragment)
            if done:
                tier = TIER.search(fragment)
                return Answer(
                    question=question, ms=(time.perf_counter() - sent) * 1000,
                    cache=done.group(1), tier=tier.group(1) if tier else "",
                    ttft_ms=first_token_ms if ttft else None,
                )  # fmt: skip


async def _server_warm(*, url: str, user: Any, session: str, err: TextIO) -> None:
    """Untimed, until the server serves a paraphrase from the semantic tier: daphne loads the
    embedding model in a thread at start, and until then the app skips that tier."""
    deadline = time.monotonic() + WARM_TIMEOUT_S
    while True:
        try:
            await _ask(url=url, user=user, session=session, question=WARM_PAIR[0])
            answer = await _ask(url=url, user=user, session=session, question=WARM_PAIR[1])
            if answer.tier == "semantic":
                return
            err.write("waiting for the server's embedding model\n")
        except Exception as error:  # noqa: BLE001 - a server still starting; retried
            err.write(f"server not ready ({type(error).__name__}), retrying\n")
        if time.monotonic() > deadline:
            raise RuntimeError("the server served no semantic hit in time: see its daphne.log")
        await asyncio.sleep(2)


async def _conversations_run(
    *, url: str, user: Any, session: str, hits: int, err: TextIO
) -> list[tuple[str, Answer]]:
    """(kind, answer) for every timed question; kind is seed, paraphrase or repeat."""
    await _server_warm(url=url, user=user, session=session, err=err)
    answers: list[tuple[str, Answer]] = []
    seeds = list(PARAPHRASES)
    for index, seed in enumerate(seeds):
        answers.append(("seed", await _ask(url=url, user=user, session=session, question=seed)))
        progress(err, index + 1, len(seeds), "seed questions (misses)")
    paraphrases = [p for group in PARAPHRASES.values() for p in group]
    rounds = -(-hits // len(paraphrases))
    plan = [("paraphrase", p) for _ in range(rounds) for p in paraphrases]
    plan += [("repeat", seed) for _ in range(-(-hits // len(seeds))) for seed in seeds]
    for index, (kind, question) in enumerate(plan):
        answers.append((kind, await _ask(url=url, user=user, session=session, question=question)))
        progress(err, index + 1, len(plan), "paraphrases and repeats")
    return answers


def _summary(answers: list[tuple[str, Answer]]) -> dict[str, Any]:
    semantic = [a.ms for kind, a in answers if kind == "paraphrase" and a.tier == "semantic"]
    exact = [a.ms for kind, a in answers if kind == "repeat" and a.tier == "exact"]
    misses = [a.ms for kind, a in answers if kind == "seed"]
    unserved = {a.question for kind, a in answers if kind == "paraphrase" and a.tier != "semantic"}
    return {
        "semantic_hit_ms": percentiles(semantic),
        "exact_hit_ms": percentiles(exact),
        "seed_miss_ms": percentiles(misses),
        "paraphrases_asked": sum(kind == "paraphrase" for kind, _ in answers),
        "paraphrases_not_served_semantically": sorted(unserved),
        "repeats_asked": sum(kind == "repeat" for kind, _ in answers),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hits", type=int, default=120)
    parser.add_argument("--parts", default="e2e,quality")
    parser.add_argument("--settings", default="{}", help="the app's cache settings, JSON")
    parser.add_argument("--result", required=True)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatapp.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from latency.bench.cache.embed import cache_quality_measure
    from latency.models import StrategySettings

    call_command("migrate", verbosity=0)
    # The app's settings as they are: a hit is measured as users get it.
    StrategySettings.objects.update_or_create(id=1, defaults=json.loads(args.settings))
    result: dict[str, Any] = {}
    if "e2e" in args.parts:
        result["e2e"] = e2e_measure(hits=args.hits, err=sys.stderr)
    if "quality" in args.parts:
        result["quality"] = cache_quality_measure(err=sys.stderr)
    with open(args.result, "w") as handle:
        json.dump(result, handle)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

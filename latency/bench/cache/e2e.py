"""Cache hits end to end, as a websocket client sees them: from sending the frame to receiving the
`data-state="done"` fragment, against a real daphne with replay pacing off. Runs as a child of
`latency_bench cache` in its own database, with the app's cache settings copied in."""

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


def e2e_measure(*, hits: int, err: TextIO) -> dict[str, Any]:
    """Seeds once (misses), then paraphrases (semantic hits) and repeats (exact hits), each the
    first message of a fresh conversation so that its cache scope is the seed's."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

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
            session = _session_make(user)
            answers = asyncio.run(
                _conversations_run(url=web.url, user=user, session=session, hits=hits, err=err)
            )
        finally:
            web.stop()
    finally:
        simulator.stop()
        user.delete()
        seed_client().flushdb()
    return {**_summary(answers), "server_stages_ms": _stages(since=started_at)}


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


def _session_make(user: Any) -> str:
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session["_auth_user_id"] = str(user.pk)
    session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    session["_auth_user_hash"] = user.get_session_auth_hash()
    session.create()
    return session.session_key


async def _ask(*, url: str, user: Any, session: str, question: str) -> Answer:
    import websockets

    from latency.models import Conversation

    conversation = await Conversation.objects.acreate(user=user)
    ws_url = url.replace("http://", "ws://") + f"/ws/chat/{conversation.id}/"
    async with websockets.connect(
        ws_url, origin=url, additional_headers={"Cookie": f"sessionid={session}"}
    ) as socket:
        sent = time.perf_counter()
        await socket.send(json.dumps({"message": question}))
        while True:
            fragment = await asyncio.wait_for(socket.recv(), timeout=60)
            done = DONE.search(fragment)
            if done:
                tier = TIER.search(fragment)
                return Answer(
                    question=question, ms=(time.perf_counter() - sent) * 1000,
                    cache=done.group(1), tier=tier.group(1) if tier else "",
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
    values = {**json.loads(args.settings), "cache_replay_ms_per_token": 0}
    StrategySettings.objects.update_or_create(id=1, defaults=values)
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

"""`latency_bench overhead --concurrency N` (N > 1): N websocket conversations at once, each
speaking the frames the browser's htmx sends (`{"message": ...}` to `/ws/chat/<id>/`, with a
session cookie). The app's own TTFT cost = its trace TTFT minus the simulator's planned TTFT
(trace by the message's trace uid, plan by the trace's upstream id); client-side = the first
token fragment minus planned. CPU ms per request from the daphne process."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, TextIO

from django.conf import settings
from django.contrib.auth import get_user_model

from latency.bench.gateway.cpu import app_cpu_ms, cpu_snapshot, postmaster_pid_read
from latency.bench.gateway.load import question_unique
from latency.bench.report import Target, percentiles, progress, table_print
from latency.testing.processes import daphne_start, simulator_start
from latency.testing.sessions import session_key_make

# An answer's end: the question's article (sent with it in the first fragment) is "done" too.
END = re.compile(
    r'<article id="msg-(\d+)"[^>]*class="msg assistant"[^>]*data-state="(done|failed|stopped)"'
)
FIRST_TOKEN = '<span id="msg-'  # the fragment that appends an answer's text
TURNS_A_CONVERSATION = 10  # as the browser run: a fresh conversation every ten turns
TARGETS = {20: (("p50", 10), ("p95", 25)), 100: (("p95", 75),)}


async def conversation_drive(
    *, url: str, user: Any, session: str, questions: list[str], done: list[int], total: int
) -> list[dict[str, Any]]:
    """One person: questions one after another, each answer awaited to its end."""
    import websockets

    from latency.models import Conversation

    answers: list[dict[str, Any]] = []
    for start in range(0, len(questions), TURNS_A_CONVERSATION):
        conversation = await Conversation.objects.acreate(user=user)
        ws_url = url.replace("http://", "ws://") + f"/ws/chat/{conversation.id}/"
        try:
            async with websockets.connect(
                ws_url, origin=url, additional_headers={"Cookie": f"sessionid={session}"}
            ) as socket:
                for question in questions[start : start + TURNS_A_CONVERSATION]:
                    answers.append(await _turn(socket=socket, question=question))
                    done[0] += 1
                    progress(sys.stderr, done[0], total, "answers")
        except Exception as error:  # noqa: BLE001 - a conversation that breaks is counted
            answers.append({"error": f"{type(error).__name__}: {str(error)[:120]}"})
    return answers


async def _turn(*, socket: Any, question: str) -> dict[str, Any]:
    sent, sent_at = time.perf_counter(), time.time()
    first_ms = None
    await socket.send(json.dumps({"message": question}))
    while True:
        fragment = await asyncio.wait_for(socket.recv(), timeout=60)
        if first_ms is None and fragment.startswith(FIRST_TOKEN):
            first_ms = (time.perf_counter() - sent) * 1000
        end = END.search(fragment)
        if end:
            state = end.group(2)
            return {"message_id": int(end.group(1)), "client_ttft_ms": first_ms,
                    "sent_at": sent_at, "total_ms": (time.perf_counter() - sent) * 1000,
                    "error": "" if state == "done" else state}  # fmt: skip


async def conversations_run(
    *, url: str, user: Any, session: str, concurrency: int, messages: int
) -> list[dict[str, Any]]:
    total = max(messages, concurrency)
    plans = [[] for _ in range(concurrency)]
    for index in range(total):
        plans[index % concurrency].append(question_unique(index=index))
    done = [0]
    results = await asyncio.gather(*(
        conversation_drive(url=url, user=user, session=session, questions=plan, done=done,
                           total=total) for plan in plans
    ))  # fmt: skip
    return [answer for group in results for answer in group]


def overhead_concurrent_run(
    *, out: TextIO, messages: int, concurrency: int
) -> tuple[dict[str, Any], dict[str, Target]]:
    from latency.models import Message, RequestTrace

    work = Path(tempfile.mkdtemp(prefix="bench-overhead-ws-"))
    user = get_user_model().objects.create_user(f"bench-ws-{uuid.uuid4().hex[:8]}")
    session = session_key_make(user=user)
    simulator = simulator_start(time_scale=1.0, seed=7, stderr_path=work / "simulator.err")
    try:
        # "auto" would time a bfloat16 batch as daphne loads the model; "off" unless told.
        bf16 = os.environ.get("EMBEDDING_BATCH_BF16", "off")
        web = daphne_start(env={"SIMULATOR_URL": simulator.url, "EMBEDDING_BATCH_BF16": bf16},
                           log_path=work / "daphne.log")  # fmt: skip
        postmaster = postmaster_pid_read(data_dir=Path(settings.DATA_DIR))
        try:
            # Untimed: the first answers of a fresh daphne pay for its lazy starts.
            asyncio.run(conversations_run(url=web.url, user=user, session=session,
                                          concurrency=2, messages=4))  # fmt: skip
            before = cpu_snapshot(serve_pid=web.process.pid, postmaster_pid=postmaster)
            started = time.perf_counter()
            answers = asyncio.run(conversations_run(url=web.url, user=user, session=session,
                                                    concurrency=concurrency, messages=messages))
            wall_s = time.perf_counter() - started
            cpu = cpu_snapshot(serve_pid=web.process.pid, postmaster_pid=postmaster).minus(before)
        finally:
            web.stop()
        planned = {r["id"]: r["planned_ttft_ms"] for r in simulator.log()}
    finally:
        simulator.stop()
    rows, left_out = [], {"cache_hit": 0, "hedged": 0, "no_plan": 0, "no_first_token": 0}
    errors = [a for a in answers if a["error"]]
    for answer in (a for a in answers if not a["error"]):
        message = Message.objects.get(id=answer["message_id"])
        trace = RequestTrace.objects.filter(uid=message.trace_uid).first()
        if trace is None or not trace.upstream_id:
            left_out["cache_hit"] += 1
        elif trace.hedged:
            left_out["hedged"] += 1
        elif trace.upstream_id not in planned:
            left_out["no_plan"] += 1
        elif answer["client_ttft_ms"] is None:
            left_out["no_first_token"] += 1
        else:
            plan = planned[trace.upstream_id]
            rows.append({"own_ms": trace.ttft_ms - plan,
                         "client_own_ms": answer["client_ttft_ms"] - plan,
                         "planned_ms": plan, "client_ttft_ms": answer["client_ttft_ms"]})
    requests = max(len(answers), 1)
    results = {
        "concurrency": concurrency, "requests": len(answers), "errors": len(errors),
        "error_kinds": sorted({a["error"] for a in errors})[:5], "wall_s": round(wall_s, 2),
        "rps": round((len(answers) - len(errors)) / wall_s, 2), "left_out": left_out,
        **{key: percentiles([r[key] for r in rows])
           for key in ("own_ms", "client_own_ms", "planned_ms", "client_ttft_ms")},
        "cpu_ms_per_request": round(app_cpu_ms(delta=cpu) / requests, 3),
        "postgres_cpu_ms_per_request": None if cpu["postgres"] is None
        else round(1000 * cpu["postgres"] / requests, 3),
    }  # fmt: skip
    user.delete()
    table_print(
        out, f"{concurrency} websocket conversations, {len(answers)} answers "
        f"({results['rps']} a second; own = trace TTFT - planned, client = first token "
        "fragment - planned), ms",
        ["measure", "n", "p50", "p95", "p99", "mean"],
        [[name, s.get("n"), s.get("p50"), s.get("p95"), s.get("p99"), s.get("mean")]
         for name, s in ((k, results[k]) for k in ("own_ms", "client_own_ms", "planned_ms",
                                                    "client_ttft_ms"))],
    )  # fmt: skip
    postgres_ms = results["postgres_cpu_ms_per_request"]
    out.write(f"errors {len(errors)}, left out {left_out}, CPU ms/request "
              f"{results['cpu_ms_per_request']} (PostgreSQL {postgres_ms})\n")  # fmt: skip
    targets = {"errors": Target(len(errors), 0, "requests")}
    for stat, goal in TARGETS.get(concurrency, ()):
        value = results["own_ms"].get(stat)
        if value is not None:
            targets[f"own_ttft_{stat}_{concurrency}_conversations_ms"] = Target(value, goal, "ms")
    return results, targets

"""The ablation's clients, timed as their users see them: a websocket client speaking the
browser's htmx frames, and API clients with the official openai SDK (streamed or whole)."""

from __future__ import annotations

import asyncio
import html
import json
import re
import time
from dataclasses import dataclass
from typing import Any

from latency.bench.ablation.workload import SYSTEM_PROMPT, Conversation

ANSWER_END = re.compile(
    r'<article id="msg-(\d+)"[^>]*class="msg assistant"[^>]*'
    r'data-state="(done|stopped|failed)"([^>]*)>'
)
DATA_ATTRIBUTE = re.compile(r'data-([a-z-]+)="([^"]*)"')
TOKEN_FRAGMENT = '<span id="msg-'
ANSWER_TIMEOUT_S = 90.0


@dataclass
class Sample:
    """One request as its client saw it, and how to find its trace."""

    arm: str
    round: int
    client: str
    turn: int
    repeat: bool
    documents: bool
    sent_ts: float  # wall clock, to match the simulator's log
    total_ms: float | None = None
    ttft_ms: float | None = None  # first token seen; the whole answer when it came at once
    streamed: bool = False  # a first token came before the end
    cache: str = ""  # hit, miss or off (the API's exact/semantic count as hit)
    model: str = ""
    state: str = ""  # done, stopped, failed, error
    server_ttft_ms: float | None = None  # what the page shows (data-ttft-ms)
    message_id: int | None = None  # websocket: the assistant Message
    request_id: str = ""  # API: x-request-id, the trace's request_id
    upstream_id: str = ""
    planned_ttft_ms: float | None = None
    planned_total_ms: float | None = None
    queue_ms: float | None = None
    prompt_tokens: int | None = None
    own_ms: float | None = None
    error: str = ""


@dataclass(frozen=True)
class Target:
    url: str
    session: str  # the bench user's session cookie
    api_key: str
    user: Any


async def conversation_run(
    *, target: Target, conversation: Conversation, arm: str, round_index: int, api: Any
) -> list[Sample]:
    """Every turn of one conversation, one after another with the user's pauses between."""
    samples: list[Sample] = []

    def sample_new(turn: int) -> Sample:
        return Sample(
            arm=arm, round=round_index, client=conversation.client, turn=turn,
            repeat=conversation.repeat and turn == 0, documents=conversation.use_documents,
            sent_ts=time.time(),
        )  # fmt: skip

    try:
        if conversation.client == "ws":
            await _ws_conversation(target, conversation, sample_new, samples)
        else:
            await _api_conversation(api, conversation, sample_new, samples)
    except Exception as error:  # noqa: BLE001 - a failed request is a measurement: counted
        if not samples or samples[-1].state:  # failed before its first request was sent
            samples.append(sample_new(len(samples)))
        samples[-1].state, samples[-1].error = "error", f"{type(error).__name__}: {error}"[:300]
    return samples


async def _ws_conversation(
    target: Target, conversation: Conversation, sample_new: Any, samples: list[Sample]
) -> None:
    import websockets

    from latency.models import Conversation as ConversationRow

    row_id = conversation.row_id or (await ConversationRow.objects.acreate(user=target.user)).id
    ws_url = target.url.replace("http://", "ws://") + f"/ws/chat/{row_id}/"
    async with websockets.connect(
        ws_url, origin=target.url, additional_headers={"Cookie": f"sessionid={target.session}"},
        max_size=None,
    ) as socket:  # fmt: skip
        for turn, question in enumerate(conversation.turns):
            if turn:
                await asyncio.sleep(conversation.think_s[turn - 1])
            sample = sample_new(turn)
            samples.append(sample)
            frame = {"message": question}
            if conversation.use_documents:
                frame["use_documents"] = "on"
            sent = time.perf_counter()
            await socket.send(json.dumps(frame))
            await asyncio.wait_for(_ws_answer(socket, sample, sent), ANSWER_TIMEOUT_S)
            if sample.state != "done":
                return


async def _ws_answer(socket: Any, sample: Sample, sent: float) -> None:
    while True:
        fragment = await socket.recv()
        if sample.ttft_ms is None and fragment.startswith(TOKEN_FRAGMENT):
            sample.ttft_ms, sample.streamed = (time.perf_counter() - sent) * 1000, True
        end = ANSWER_END.search(fragment)
        if end is None:
            continue
        sample.total_ms = (time.perf_counter() - sent) * 1000
        sample.ttft_ms = sample.ttft_ms if sample.ttft_ms is not None else sample.total_ms
        attributes = {k: html.unescape(v) for k, v in DATA_ATTRIBUTE.findall(end.group(3))}
        sample.message_id, sample.state = int(end.group(1)), end.group(2)
        sample.cache, sample.model = attributes.get("cache", ""), attributes.get("model", "")
        server_ttft = attributes.get("ttft-ms", "")
        sample.server_ttft_ms = float(server_ttft) if server_ttft else None
        return


async def _api_conversation(
    api: Any, conversation: Conversation, sample_new: Any, samples: list[Sample]
) -> None:
    messages = [{"role": "system", "content": SYSTEM_PROMPT}]
    stream = conversation.client == "api_stream"
    for turn, question in enumerate(conversation.turns):
        if turn:
            await asyncio.sleep(conversation.think_s[turn - 1])
        sample = sample_new(turn)
        samples.append(sample)
        messages.append({"role": "user", "content": question})
        sent = time.perf_counter()
        raw = await api.chat.completions.with_raw_response.create(
            model="auto", messages=messages, stream=stream
        )
        parts: list[str] = []
        if stream:
            async for chunk in raw.parse():
                delta = chunk.choices[0].delta.content if chunk.choices else None
                if delta and sample.ttft_ms is None:
                    sample.ttft_ms, sample.streamed = (time.perf_counter() - sent) * 1000, True
                parts.append(delta or "")
        else:
            parts.append(raw.parse().choices[0].message.content or "")
        sample.total_ms = (time.perf_counter() - sent) * 1000
        sample.ttft_ms = sample.ttft_ms if sample.ttft_ms is not None else sample.total_ms
        tier = raw.headers.get("x-cache", "")
        sample.cache = "hit" if tier in ("exact", "semantic") else tier
        sample.model = raw.headers.get("x-model", "")
        sample.request_id = raw.headers.get("x-request-id", "")
        sample.state = "done"
        messages.append({"role": "assistant", "content": "".join(parts)})

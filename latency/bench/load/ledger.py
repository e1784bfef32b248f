"""What the database kept of a phase's websocket conversations (one question each): every
answer the client saw end `done` must be saved done with its text, beside exactly one copy of
its question; and no answer may be left `streaming` (a bubble that never ends on reload)."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime
from typing import Any

from latency.bench.load.arrivals import Arrived


def messages_ledger(*, arrived: list[Arrived]) -> dict[str, Any]:
    from latency.models import Message

    done = [a for a in arrived if a.sample.client == "ws" and a.sample.state == "done"
            and a.sample.message_id is not None]  # fmt: skip
    answers = {row["id"]: row for row in Message.objects.filter(
        id__in=[a.sample.message_id for a in done]).values("id", "conversation_id", "state",
                                                             "content")}  # fmt: skip
    conversations: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in Message.objects.filter(
        conversation_id__in={row["conversation_id"] for row in answers.values()}
    ).values("conversation_id", "role", "content"):
        conversations[row["conversation_id"]].append(row)
    lost, duplicated = [], []
    for arrival in done:
        answer = answers.get(arrival.sample.message_id)
        rows = conversations.get(answer["conversation_id"], []) if answer else []
        roles = Counter(row["role"] for row in rows)
        questions = [r for r in rows if r["role"] == "user" and r["content"] == arrival.question]
        if answer is None or answer["state"] != "done" or not answer["content"] or not questions:
            lost.append(arrival.sample.message_id)
        if roles["user"] > 1 or roles["assistant"] > 1:
            duplicated.append(arrival.sample.message_id)
    return {"answers_done": len(done), "lost": len(lost), "duplicated": len(duplicated),
            "lost_ids": lost[:10], "duplicated_ids": duplicated[:10]}  # fmt: skip


def answers_kept(*, user_id: int, since_ts: float) -> dict[str, Any]:
    """The bench user's answers begun since `since_ts`, by state: what a reload would show,
    `streaming` ones being answers left unfinished for good; failed ones with text kept."""
    from latency.models import Message

    rows = Message.objects.filter(
        conversation__user_id=user_id, role=Message.Role.ASSISTANT,
        created_at__gte=datetime.fromtimestamp(since_ts, tz=UTC),
    ).values_list("state", "content")  # fmt: skip
    states = Counter(state for state, _ in rows)
    partial = sum(1 for state, content in rows if state != "done" and content)
    return {"by_state": dict(states), "left_streaming": states.get("streaming", 0),
            "partial_kept": partial}  # fmt: skip

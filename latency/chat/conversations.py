"""Conversations and their messages: what the chat edge reads and writes, owner-checked."""

from __future__ import annotations

import asyncio

from channels.db import database_sync_to_async
from django.contrib.auth.models import AbstractBaseUser
from django.db import InterfaceError, OperationalError, transaction

from latency.core.background import background_spawn
from latency.events import AnswerOutcome
from latency.models import Conversation, Message

HISTORY_MESSAGES = 20
FINISH_RETRY_S = 1.0  # how often an answer's end is saved again while the database is away


async def conversation_get_for_user(
    *, conversation_id: int, user: AbstractBaseUser
) -> Conversation | None:
    """The conversation if it exists and belongs to this user; None otherwise (no hint which)."""
    if not user.is_authenticated:
        return None
    return await Conversation.objects.filter(id=conversation_id, user_id=user.pk).afirst()


async def conversation_history(*, conversation: Conversation) -> list[dict[str, str]]:
    """The saved recent turns as chat messages, oldest first, skipping answers that failed."""
    rows = [
        message
        async for message in conversation.messages.exclude(state=Message.State.FAILED)
        .exclude(content="")
        .order_by("-created_at", "-id")[:HISTORY_MESSAGES]
    ]
    return [{"role": m.role, "content": m.content} for m in reversed(rows)]


@database_sync_to_async
def message_pair_start(*, conversation: Conversation, text: str) -> tuple[Message, Message]:
    """Save the user's message and an empty streaming answer, so nothing is lost if we fail.

    One transaction, so one commit (one WAL flush) instead of three.
    """
    with transaction.atomic():
        question = Message.objects.create(
            conversation=conversation, role=Message.Role.USER, content=text
        )
        answer = Message.objects.create(
            conversation=conversation, role=Message.Role.ASSISTANT, state=Message.State.STREAMING
        )
        if conversation.title == "New conversation":
            conversation.title = text[:60] + ("…" if len(text) > 60 else "")
        conversation.save(update_fields=["title", "updated_at"])
    return question, answer


async def message_finish(
    *, message: Message, state: str, content: str, outcome: AnswerOutcome | None = None,
    error: str = "", total_ms: float | None = None,
) -> Message:
    """Save how an answer ended: done (with what the pipeline recorded), stopped or failed.

    The message in memory changes even if the save fails, so the page can still show the end."""
    fields = {"state": state, "content": content, "error": error}
    if outcome is not None:
        fields.update(outcome.columns())
    elif total_ms is not None:
        fields["total_ms"] = total_ms
    for name, value in fields.items():
        setattr(message, name, value)
    try:
        await message.asave()
    except (OperationalError, InterfaceError):
        # The database is away (a restart, a network cut): the answer would stay "streaming"
        # for good. Save its end once the database is back, while the answer is still open.
        if state != Message.State.STREAMING:
            background_spawn(work=_finish_later(message.id, fields), name="message-finish")
        raise
    return message


async def _finish_later(message_id: int, fields: dict[str, object]) -> None:
    """Retry an answer's end every FINISH_RETRY_S until it is saved (or background_spawn's
    deadline passes); only an answer still streaming changes, so nothing newer is overwritten."""
    while True:
        await asyncio.sleep(FINISH_RETRY_S)
        try:
            await _streaming_answer_end(message_id=message_id, fields=fields)
            return
        except (OperationalError, InterfaceError):
            continue


@database_sync_to_async  # closes the connection that broke, so a retry gets a fresh one
def _streaming_answer_end(*, message_id: int, fields: dict[str, object]) -> None:
    Message.objects.filter(id=message_id, state=Message.State.STREAMING).update(**fields)


async def message_answer_restart(*, message: Message) -> Message:
    """Clear an answer so it can stream again in place (the "wrong answer" button)."""
    return await message_finish(
        message=message, state=Message.State.STREAMING, content="", outcome=AnswerOutcome()
    )

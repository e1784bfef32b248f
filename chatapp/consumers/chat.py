"""Websocket edge of the chat: parse htmx ws frames, run latency.pipeline, send HTML fragments."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Coroutine

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.template.loader import render_to_string
from django.utils.html import escape

from chatapp.consumers.frames import Frame, FrameRefused, Pace, frame_parse
from latency.cache.labels import cache_answer_wrong, cache_answers_kept_soon
from latency.chat.conversations import (
    HISTORY_MESSAGES,
    conversation_get_for_user,
    conversation_history,
    message_answer_restart,
    message_finish,
    message_pair_start,
)
from latency.models import Message
from latency.pipeline import (
    ChatRequest,
    DoneEvent,
    ErrorEvent,
    Event,
    StartEvent,
    TokenEvent,
    pipeline_run,
)
from latency.pipeline.coalesce import events_coalesced

TEMPLATE = "chat/conversation.html"
FAILED_NOTICE = "Sorry, something went wrong; please try again."
FLOOD_NOTICE = "Too many messages: slow down."
logger = logging.getLogger(__name__)


class ChatConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        self.answer_task: asyncio.Task[None] | None = None
        self.frames_pace = Pace(settings.CHAT_FRAMES_BURST, settings.CHAT_FRAMES_PER_MINUTE)
        self.sends_pace = Pace(settings.CHAT_SENDS_BURST, settings.CHAT_SENDS_PER_MINUTE)
        self.conversation = await conversation_get_for_user(
            conversation_id=int(self.scope["url_route"]["kwargs"]["conversation_id"]),
            user=self.scope["user"],
        )
        # The socket keeps the conversation's recent turns, so a new message goes to the model
        # without a database round trip first; another tab's turns arrive on reconnect.
        self.history = (
            await conversation_history(conversation=self.conversation) if self.conversation else []
        )
        await self.accept()
        if self.conversation is None:
            await self.notice_send("This conversation does not exist, or it is not yours.")
            await self.close(code=4404)

    async def disconnect(self, code: int) -> None:
        await self.answer_cancel()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        received_at = time.perf_counter()
        if self.frames_pace.take():
            # A flood, not a person: stop reading it (the answer in flight, if any, is cancelled
            # and saved as stopped by disconnect). The notice says why: daphne drops a close's
            # reason.
            await self.notice_send(FLOOD_NOTICE)
            return await self.close(code=1008, reason=FLOOD_NOTICE)
        try:
            frame = frame_parse(
                text=text_data, max_bytes=settings.CHAT_MAX_FRAME_BYTES,
                max_chars=settings.CHAT_MAX_MESSAGE_CHARS,
            )  # fmt: skip
        except FrameRefused as refusal:
            return await self.notice_send(str(refusal))
        if frame.action == "stop":
            return await self.answer_cancel()
        if self.answer_task and not self.answer_task.done():
            return await self.notice_send("Wait for the answer to finish, or press Stop.")
        wait_s = self.sends_pace.take()
        if wait_s:
            return await self.notice_send(
                f"You are sending messages faster than this chat allows: send it again in "
                f"{max(1, round(wait_s))} s."
            )  # fmt: skip
        if frame.action == "wrong":
            return await self.wrong_answer(frame.message_id, received_at)
        await self.documents_switch(frame)
        self.answer_start(self.answer_stream(frame.message, received_at))

    async def documents_switch(self, frame: Frame) -> None:
        if frame.use_documents != self.conversation.use_documents:
            self.conversation.use_documents = frame.use_documents
            await self.conversation.asave(update_fields=["use_documents"])

    def answer_start(self, answering: Coroutine[object, object, None]) -> None:
        self.answer_task = asyncio.create_task(answering)
        self.answer_task.add_done_callback(self.answer_task_failed)

    def answer_task_failed(self, task: asyncio.Task[None]) -> None:
        """A bug must not fail silently: log it and tell the user, and keep the socket open."""
        if task.cancelled() or task.exception() is None:
            return
        logger.error("answer failed", exc_info=task.exception())
        asyncio.ensure_future(self.notice_send(FAILED_NOTICE))

    async def wrong_answer(self, message_id: str, received_at: float) -> None:
        """Tell the cache the latest answer was wrong (a semantic hit teaches its entry a higher
        threshold, any other cached answer is dropped), then answer again from the model."""
        latest = await self.conversation.messages.filter(role=Message.Role.ASSISTANT).alast()
        if latest is None or str(latest.id) != message_id or len(self.history) < 2:
            return await self.notice_send("Only the latest answer can be regenerated.")
        await cache_answer_wrong(answer=latest, user_id=self.scope["user"].pk)
        if self.history[-1]["role"] == "assistant":
            self.history.pop()
        question = self.history.pop()["content"]
        self.answer_start(
            self.answer_stream(question, received_at, answer=latest, cache_bypass=True)
        )

    async def answer_stream(
        self, text: str, received_at: float, *, answer: Message | None = None,
        cache_bypass: bool = False,
    ) -> None:  # fmt: skip
        """Ask, show the answer as it streams, and save how it ended: done, stopped or failed."""
        turn = {"role": "user", "content": text}
        request = ChatRequest(
            messages=[*self.history, turn][-HISTORY_MESSAGES:], received_at=received_at,
            feature=self.conversation.feature, user_id=self.conversation.user_id,
            cache_bypass=cache_bypass, use_documents=self.conversation.use_documents,
        )  # fmt: skip
        # Tokens arriving within a few ms of each other go as one frame (the first at once).
        events = events_coalesced(events=pipeline_run(request=request))
        # The model call starts now; saving the exchange overlaps its time to first token.
        first_event = asyncio.ensure_future(anext(events))
        parts: list[str] = []
        try:
            answer = await self.exchange_save(text, answer)
            self.history.append(turn)
            await self.events_show(answer, first_event, events, parts)
        except asyncio.CancelledError:
            await self.answer_end(answer, Message.State.STOPPED, parts, received_at, first_event)
            await _closed(events)
            raise
        except Exception:
            logger.exception("the answer could not be shown or saved")
            await self.answer_end(answer, Message.State.FAILED, parts, received_at, first_event)
            await _closed(events)
            await self.notice_send(FAILED_NOTICE)
        else:
            await self.fragment_send("answer_final", answer=answer)
        finally:
            if answer is not None and answer.content and answer.state != Message.State.FAILED:
                self.history.append({"role": "assistant", "content": answer.content})
            if answer is not None:  # the user asked on: earlier cached answers were kept
                cache_answers_kept_soon(
                    conversation_id=self.conversation.id, user_id=self.conversation.user_id,
                    before_id=answer.id,
                )  # fmt: skip

    async def exchange_save(self, text: str, answer: Message | None) -> Message:
        if answer is None:
            question, answer = await message_pair_start(conversation=self.conversation, text=text)
            await self.fragment_send("exchange", question=question, answer=answer)
        else:
            await message_answer_restart(message=answer)
            await self.fragment_send("answer_restart", answer=answer)
        return answer

    async def events_show(
        self, answer: Message, first_event: asyncio.Future[Event],
        events: AsyncIterator[Event], parts: list[str],
    ) -> None:  # fmt: skip
        streaming = True
        event = await first_event
        while True:
            if isinstance(event, StartEvent):
                streaming = event.streaming
            elif isinstance(event, TokenEvent):
                parts.append(event.text)
                if streaming:
                    await self.token_send(answer=answer, text=event.text)
            elif isinstance(event, DoneEvent):
                await message_finish(
                    message=answer, state=Message.State.DONE, content=event.text,
                    outcome=event.outcome,
                )  # fmt: skip
            elif isinstance(event, ErrorEvent):
                await message_finish(
                    message=answer, state=Message.State.FAILED, content=event.text,
                    error=event.message, total_ms=event.total_ms,
                )  # fmt: skip
                await self.notice_send(event.message)
            try:
                event = await anext(events)
            except StopAsyncIteration:
                return

    async def answer_end(
        self, answer: Message | None, state: str, parts: list[str], received_at: float,
        first_event: asyncio.Future[Event],
    ) -> None:  # fmt: skip
        """Stopped or broken: keep what streamed, and show the end in the page even if saving
        it fails. (The caller then closes the pipeline, which cancels the upstream call.)"""
        if not first_event.done():
            first_event.cancel()
            with contextlib.suppress(BaseException):
                await first_event
        if answer is None:
            return
        ending = message_finish(
            message=answer, state=state, content="".join(parts), total_ms=_ms_since(received_at)
        )
        with contextlib.suppress(Exception):
            await asyncio.shield(ending)
        with contextlib.suppress(Exception):
            await self.fragment_send("answer_final", answer=answer)

    async def token_send(self, *, answer: Message, text: str) -> None:
        await self.send(
            text_data=f'<span id="msg-{answer.id}-text" hx-swap-oob="beforeend">'
            f"{escape(text)}</span>"
        )

    async def answer_cancel(self) -> None:
        task, self.answer_task = self.answer_task, None
        if task and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def notice_send(self, text: str) -> None:
        await self.send(text_data=notice_html(text))

    async def fragment_send(self, partial: str, **context: object) -> None:
        await self.send(text_data=render_to_string(f"{TEMPLATE}#{partial}", context))


def notice_html(text: str) -> str:
    """A notice for the chat page (appended to its notices, out of band)."""
    return render_to_string(f"{TEMPLATE}#notice", {"notice": text})


async def _closed(events: AsyncIterator[Event]) -> None:
    """Close the pipeline's generator: it cancels the upstream call and traces how it ended."""
    with contextlib.suppress(Exception):
        await events.aclose()  # type: ignore[attr-defined]


def _ms_since(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)

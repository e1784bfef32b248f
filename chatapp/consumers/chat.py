"""Websocket edge of the chat: parse htmx ws frames, run latency.pipeline, send HTML fragments."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Coroutine

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.template.loader import render_to_string
from django.utils.html import escape

from latency.cache.service import cache_entry_forget
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
    StartEvent,
    TokenEvent,
    pipeline_run,
)

TEMPLATE = "chat/conversation.html"
logger = logging.getLogger(__name__)


class ChatConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        self.answer_task: asyncio.Task[None] | None = None
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
        if text_data is None:
            return await self.notice_send("Binary frames are not supported.")
        if len(text_data.encode()) > settings.CHAT_MAX_FRAME_BYTES:
            return await self.notice_send("That message is too large to send.")
        try:
            frame = json.loads(text_data)
            assert isinstance(frame, dict)
        except (ValueError, AssertionError):
            return await self.notice_send("The server could not read that message.")
        action = frame.get("action", "send")
        if action == "stop":
            return await self.answer_cancel()
        if self.answer_task and not self.answer_task.done():
            return await self.notice_send("Wait for the answer to finish, or press Stop.")
        if action == "wrong":
            return await self.wrong_answer(frame.get("message_id"), received_at)
        text = frame.get("message")
        if not isinstance(text, str) or not text.strip():
            return await self.notice_send("Type a message first.")
        if len(text) > settings.CHAT_MAX_MESSAGE_CHARS:
            limit = settings.CHAT_MAX_MESSAGE_CHARS
            return await self.notice_send(f"Messages are limited to {limit} characters.")
        use_documents = frame.get("use_documents") in {"on", "true", True}
        if use_documents != self.conversation.use_documents:
            self.conversation.use_documents = use_documents
            await self.conversation.asave(update_fields=["use_documents"])
        self.answer_start(self.answer_stream(text.strip(), received_at))

    def answer_start(self, answering: Coroutine[object, object, None]) -> None:
        self.answer_task = asyncio.create_task(answering)
        self.answer_task.add_done_callback(self.answer_task_failed)

    def answer_task_failed(self, task: asyncio.Task[None]) -> None:
        """A bug must not fail silently: log it and tell the user, and keep the socket open."""
        if task.cancelled() or task.exception() is None:
            return
        logger.error("answer failed", exc_info=task.exception())
        asyncio.ensure_future(self.notice_send("Sorry, something went wrong; please try again."))

    async def wrong_answer(self, message_id: object, received_at: float) -> None:
        """Drop the cached entry behind the latest answer and answer again from the model."""
        latest = await self.conversation.messages.filter(role=Message.Role.ASSISTANT).alast()
        if latest is None or str(latest.id) != str(message_id) or len(self.history) < 2:
            return await self.notice_send("Only the latest answer can be regenerated.")
        if latest.cache_entry_id:
            await cache_entry_forget(entry_id=latest.cache_entry_id, user_id=self.scope["user"].pk)
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
        self.history.append({"role": "user", "content": text})
        request = ChatRequest(
            messages=self.history[-HISTORY_MESSAGES:],
            received_at=received_at,
            feature=self.conversation.feature,
            user_id=self.conversation.user_id,
            cache_bypass=cache_bypass,
            use_documents=self.conversation.use_documents,
        )
        events = pipeline_run(request=request)
        # The model call starts now; saving the exchange overlaps its time to first token.
        first_event = asyncio.ensure_future(anext(events))
        parts: list[str] = []
        try:
            if answer is None:
                question, answer = await message_pair_start(
                    conversation=self.conversation, text=text
                )
                await self.fragment_send("exchange", question=question, answer=answer)
            else:
                await message_answer_restart(message=answer)
                await self.fragment_send("answer_restart", answer=answer)
            event = await first_event
            streaming = True
            while True:
                if isinstance(event, StartEvent):
                    streaming = event.streaming
                elif isinstance(event, TokenEvent):
                    parts.append(event.text)
                    if answer.ttft_ms is None:
                        answer.ttft_ms = event.ttft_ms
                    if streaming:
                        await self.token_send(answer=answer, event=event)
                elif isinstance(event, DoneEvent):
                    await message_finish(
                        message=answer, content=event.text, state=Message.State.DONE,
                        model=event.model, endpoint_label=event.endpoint_label,
                        ttft_ms=event.ttft_ms, total_ms=event.total_ms, cache=event.cache,
                        cache_tier=event.cache_tier if event.cache == "hit" else "",
                        cache_similarity=event.cache_similarity,
                        cache_matched_query=event.cache_matched_query,
                        cache_entry_id=event.cache_entry_id, trace_uid=event.trace_uid,
                        citations=event.citations, retrieval_embed_ms=event.retrieval_embed_ms,
                        retrieval_search_ms=event.retrieval_search_ms,
                        tokens_before=event.tokens_before, tokens_after=event.tokens_after,
                        decision=event.decision,
                    )  # fmt: skip
                elif isinstance(event, ErrorEvent):
                    await message_finish(
                        message=answer, content=event.text, state=Message.State.FAILED,
                        error=event.message, total_ms=_ms_since(received_at),
                    )  # fmt: skip
                    await self.notice_send(event.message)
                try:
                    event = await anext(events)
                except StopAsyncIteration:
                    break
        except asyncio.CancelledError:
            first_event.cancel()
            await events.aclose()
            if answer is not None:
                await asyncio.shield(message_finish(
                    message=answer, content="".join(parts), state=Message.State.STOPPED,
                    total_ms=_ms_since(received_at),
                ))  # fmt: skip
                with contextlib.suppress(Exception):
                    await self.fragment_send("answer_final", answer=answer)
            raise
        finally:
            if answer is not None and answer.content and answer.state != Message.State.FAILED:
                self.history.append({"role": "assistant", "content": answer.content})
        await self.fragment_send("answer_final", answer=answer)

    async def token_send(self, *, answer: Message, event: TokenEvent) -> None:
        await self.send(
            text_data=f'<span id="msg-{answer.id}-text" hx-swap-oob="beforeend">'
            f"{escape(event.text)}</span>"
        )

    async def answer_cancel(self) -> None:
        task, self.answer_task = self.answer_task, None
        if task and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def notice_send(self, text: str) -> None:
        await self.fragment_send("notice", notice=text)

    async def fragment_send(self, partial: str, **context: object) -> None:
        await self.send(text_data=render_to_string(f"{TEMPLATE}#{partial}", context))


def _ms_since(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)

"""The chat websocket, driven with channels' WebsocketCommunicator against the real simulator."""

from __future__ import annotations

import json
import re

import pytest
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser

from chatapp.routing import websocket_urlpatterns
from latency.models import CacheEntry, Conversation, Message, RequestTrace
from latency.observability.tracing import trace_saves_wait

pytestmark = pytest.mark.django_db(transaction=True)

application = URLRouter(websocket_urlpatterns)
FINAL = re.compile(
    r'<article id="msg-(\d+)" hx-swap-oob="true" class="msg assistant" '
    r'data-state="(done|stopped|failed)"'
)


async def _user(name: str = "alice"):
    return await get_user_model().objects.acreate_user(name, password="pw-not-used-1")


async def _connect(user, conversation_id: int) -> WebsocketCommunicator:  # noqa: ANN001
    communicator = WebsocketCommunicator(application, f"/ws/chat/{conversation_id}/")
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def _until_final(communicator: WebsocketCommunicator) -> tuple[list[str], str]:
    frames: list[str] = []
    while True:
        frame = await communicator.receive_from(timeout=60)
        frames.append(frame)
        if FINAL.search(frame):
            return frames, frame


async def test_answer_streams_in_tokens_then_finishes_with_contract_attributes() -> None:
    user = await _user()
    conversation = await Conversation.objects.acreate(user=user)
    communicator = await _connect(user, conversation.id)
    await communicator.send_to(text_data=json.dumps({"message": "What is streaming?"}))
    frames, final = await _until_final(communicator)
    tokens = [f for f in frames if f.startswith('<span id="msg-')]
    assert len(tokens) >= 2, "the answer should arrive token by token"
    assert 'data-state="done"' in final
    for attribute in ("data-ttft-ms", "data-total-ms", 'data-cache="miss"', 'data-model="'):
        assert attribute in final
    answer = await Message.objects.aget(conversation=conversation, role="assistant")
    assert answer.state == "done" and answer.content and answer.ttft_ms <= answer.total_ms
    await trace_saves_wait()
    trace = await RequestTrace.objects.aget(user=user)
    assert trace.model == answer.model and trace.status == "ok" and trace.upstream_id
    assert trace.ttft_ms is not None and trace.stages["generation"] >= 0
    await communicator.disconnect()


async def test_stop_keeps_partial_answer_marked_stopped(simulator) -> None:  # noqa: ANN001
    user = await _user()
    conversation = await Conversation.objects.acreate(user=user)
    communicator = await _connect(user, conversation.id)
    simulator.configure(time_scale=5.0)  # slow pacing, so there is time to press stop
    try:
        await communicator.send_to(text_data=json.dumps({"message": "Tell me a long story"}))
        while 'hx-swap-oob="beforeend"' not in await communicator.receive_from(timeout=20):
            pass
        while "-text" not in await communicator.receive_from(timeout=20):
            pass
        await communicator.send_to(text_data=json.dumps({"action": "stop"}))
        _, final = await _until_final(communicator)
    finally:
        simulator.configure(time_scale=0.1)
    assert 'data-state="stopped"' in final
    answer = await Message.objects.aget(conversation=conversation, role="assistant")
    assert answer.state == "stopped" and answer.content
    await trace_saves_wait()
    trace = await RequestTrace.objects.aget(user=user)
    assert trace.status == "stopped"
    upstream = simulator.log_record(completion_id=trace.upstream_id)
    assert upstream["outcome"] == "client_disconnected", "the upstream call is cancelled too"
    assert upstream["tokens_sent"] < upstream["completion_tokens"]
    await communicator.disconnect()


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        ("not json", "could not read"),
        (json.dumps([1, 2]), "could not read"),
        (json.dumps({"message": ""}), "Type a message"),
        (json.dumps({"message": "x" * 9000}), "limited to 8000"),
        ("x" * 70000, "too large"),
    ],
)
async def test_bad_frames_get_a_clear_notice_and_the_socket_stays_up(frame, expected) -> None:  # noqa: ANN001
    user = await _user()
    conversation = await Conversation.objects.acreate(user=user)
    communicator = await _connect(user, conversation.id)
    await communicator.send_to(text_data=frame)
    notice = await communicator.receive_from(timeout=5)
    assert expected in notice and 'role="alert"' in notice
    await communicator.send_to(text_data=json.dumps({"message": "still there?"}))
    _, final = await _until_final(communicator)
    assert 'data-state="done"' in final
    await communicator.disconnect()


async def test_someone_elses_conversation_is_refused() -> None:
    owner = await _user("owner")
    intruder = await _user("intruder")
    conversation = await Conversation.objects.acreate(user=owner)
    for user in (intruder, AnonymousUser()):
        communicator = await _connect(user, conversation.id)
        notice = await communicator.receive_from(timeout=5)
        assert "not yours" in notice
        assert (await communicator.receive_output(timeout=5))["type"] == "websocket.close"
    assert not await Message.objects.filter(conversation=conversation).aexists()


async def test_upstream_error_shows_a_message_and_keeps_the_question(simulator) -> None:  # noqa: ANN001
    user = await _user()
    conversation = await Conversation.objects.acreate(user=user)
    communicator = await _connect(user, conversation.id)
    simulator.configure(error_500=1.0)
    try:
        await communicator.send_to(text_data=json.dumps({"message": "Will this fail?"}))
        frames, final = await _until_final(communicator)
    finally:
        simulator.configure(error_500=0.0)
    assert 'data-state="failed"' in final
    assert any("answered with an error (500)" in f for f in frames)
    question = await Message.objects.aget(conversation=conversation, role="user")
    assert question.content == "Will this fail?"
    await trace_saves_wait()
    trace = await RequestTrace.objects.aget(user=user)
    assert trace.status == "failed"
    await communicator.disconnect()


async def test_repeated_question_is_a_cache_hit_and_wrong_answer_regenerates(simulator) -> None:  # noqa: ANN001
    user = await _user()
    first = await Conversation.objects.acreate(user=user)
    communicator = await _connect(user, first.id)
    await communicator.send_to(text_data=json.dumps({"message": "What is the capital of Peru?"}))
    _, final = await _until_final(communicator)
    assert 'data-cache="miss"' in final
    await communicator.disconnect()

    second = await Conversation.objects.acreate(user=user)
    communicator = await _connect(user, second.id)
    await communicator.send_to(text_data=json.dumps({"message": "what is the capital of peru"}))
    frames, final = await _until_final(communicator)
    assert 'data-cache="hit"' in final and "cached · exact" in final
    tokens = [f for f in frames if f.startswith('<span id="msg-')]
    assert len(tokens) == 1, "a hit arrives whole, at the time it was served"
    assert "matched “What is the capital of Peru?”" in final
    hit = await Message.objects.aget(conversation=second, role="assistant")
    original = await Message.objects.aget(conversation=first, role="assistant")
    assert hit.content == original.content and hit.cache_entry_id

    answered_before = len([r for r in simulator.log() if r["outcome"] == "ok"])
    await communicator.send_to(
        text_data=json.dumps({"action": "wrong", "message_id": str(hit.id)})
    )
    _, final = await _until_final(communicator)
    assert 'data-cache="miss"' in final and f'id="msg-{hit.id}"' in final
    answered = len([r for r in simulator.log() if r["outcome"] == "ok"])
    assert answered == answered_before + 1, "the model answered again"
    assert not await CacheEntry.objects.filter(id=hit.cache_entry_id).aexists()
    await communicator.disconnect()


async def test_streaming_off_sends_the_whole_answer_at_the_end() -> None:
    from latency.models import StrategySettings
    from latency.strategies import strategy_settings_forget

    await StrategySettings.objects.aupdate_or_create(id=1, defaults={"streaming": False})
    strategy_settings_forget()
    try:
        user = await _user()
        conversation = await Conversation.objects.acreate(user=user)
        communicator = await _connect(user, conversation.id)
        await communicator.send_to(text_data=json.dumps({"message": "No streaming, please"}))
        frames, final = await _until_final(communicator)
    finally:
        strategy_settings_forget()
    assert not [f for f in frames if f.startswith('<span id="msg-')], "no token fragments"
    answer = await Message.objects.aget(conversation=conversation, role="assistant")
    assert answer.content and 'data-state="done"' in final
    await communicator.disconnect()


async def test_a_fault_below_the_pipeline_ends_the_answer_failed_not_streaming(monkeypatch) -> None:  # noqa: ANN001
    import psycopg

    from latency.pipeline import run

    async def lookup_fails(**_: object) -> None:
        raise psycopg.OperationalError("the database went away")

    monkeypatch.setattr(run, "cache_lookup", lookup_fails)
    user = await _user()
    conversation = await Conversation.objects.acreate(user=user)
    communicator = await _connect(user, conversation.id)
    await communicator.send_to(text_data=json.dumps({"message": "Is anything broken?"}))
    frames, final = await _until_final(communicator)
    assert 'data-state="failed"' in final
    assert any("went wrong on our side" in frame for frame in frames), "the user is told"
    answer = await Message.objects.aget(conversation=conversation, role="assistant")
    assert answer.state == "failed"
    await communicator.send_to(text_data=json.dumps({"message": "And now?"}))
    monkeypatch.undo()
    _, final = await _until_final(communicator)
    assert 'data-state="done"' in final, "the socket keeps working after a failure"
    await communicator.disconnect()


@pytest.mark.parametrize(
    ("frame", "notice"),
    [
        ("[" * 30_000 + "]" * 30_000, "could not read"),
        (json.dumps({"message": "hi", "use_documents": ["on"]}), "use_documents"),
        (json.dumps({"action": "delete-everything"}), "Unknown action"),
        (json.dumps({"message": "nul \u0000 byte"}), "cannot be stored"),
        ('{"message": "lone \\ud800 surrogate"}', "cannot be stored"),
    ],
)
async def test_bad_frames_get_a_notice_and_the_socket_stays_usable(frame: str, notice: str) -> None:
    user = await _user()
    conversation = await Conversation.objects.acreate(user=user)
    communicator = await _connect(user, conversation.id)
    await communicator.send_to(text_data=frame)
    reply = await communicator.receive_from(timeout=10)
    assert notice in reply
    await communicator.send_to(text_data=json.dumps({"message": "Still there?"}))
    _, final = await _until_final(communicator)
    assert 'data-state="done"' in final
    assert await Message.objects.filter(conversation=conversation, role="user").acount() == 1
    await communicator.disconnect()


async def test_sending_faster_than_the_pace_is_refused_with_the_wait(settings) -> None:  # noqa: ANN001
    settings.CHAT_SENDS_BURST, settings.CHAT_SENDS_PER_MINUTE = 2, 1.0
    user = await _user()
    conversation = await Conversation.objects.acreate(user=user)
    communicator = await _connect(user, conversation.id)
    for question in ("First?", "Second?"):
        await communicator.send_to(text_data=json.dumps({"message": question}))
        _, final = await _until_final(communicator)
        assert 'data-state="done"' in final
    await communicator.send_to(text_data=json.dumps({"message": "Third?"}))
    notice = await communicator.receive_from(timeout=5)
    assert "faster than this chat allows" in notice and 'role="alert"' in notice
    assert re.search(r"again in \d+ s", notice)
    # Refused before anything was saved: the conversation holds the two answered turns.
    assert await Message.objects.filter(conversation=conversation).acount() == 4
    await communicator.disconnect()


async def test_a_flood_of_frames_closes_the_socket_and_the_server_serves_on(settings) -> None:  # noqa: ANN001
    settings.CHAT_FRAMES_BURST, settings.CHAT_FRAMES_PER_MINUTE = 5, 60.0
    user = await _user()
    conversation = await Conversation.objects.acreate(user=user)
    communicator = await _connect(user, conversation.id)
    for _ in range(5):
        await communicator.send_to(text_data="not json")
        assert "could not read" in await communicator.receive_from(timeout=5)
    await communicator.send_to(text_data="not json")
    assert "Too many messages: slow down." in await communicator.receive_from(timeout=5)
    closed = await communicator.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 1008,
                      "reason": "Too many messages: slow down."}  # fmt: skip
    await communicator.disconnect()
    again = await _connect(user, conversation.id)
    await again.send_to(text_data=json.dumps({"message": "Still serving?"}))
    _, final = await _until_final(again)
    assert 'data-state="done"' in final
    await again.disconnect()

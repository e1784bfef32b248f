"""A real model at the edge: llama.cpp's server over SmolLM2-135M answers simple questions
through the websocket, stops generating when the user presses Stop, and when it is gone the
answer comes from a (simulated) cloud model instead."""

from __future__ import annotations

import asyncio
import json

import pytest

from latency.models import FeatureBudget, Message, RequestTrace
from latency.observability.tracing import trace_saves_wait
from latency.routing.budgets import budgets_forget
from latency.testing.processes import cpu_silence_ms
from tests.chatapp.test_consumers import _connect, _until_final, _user

pytestmark = [pytest.mark.edge, pytest.mark.django_db(transaction=True)]

SIMPLE = "What is the capital of France?"


@pytest.fixture
async def roomy_chat_budget():
    """SmolLM2 streams ~30 tokens/s on this machine: a whole answer takes seconds, past chat's
    1 s P95 budget. These tests are about the edge path, so chat gets room (the router's rule
    that a model must fit its budget is tested in tests/routing)."""
    from latency.models import Conversation

    await FeatureBudget.objects.aupdate_or_create(
        feature="chat", defaults={"p95_ms": 30000.0, "ttft_ms": 5000.0}
    )
    budgets_forget()
    yield Conversation
    budgets_forget()


async def _ask(text: str, conversation_model):  # noqa: ANN001, ANN202
    user = await _user()
    conversation = await conversation_model.objects.acreate(user=user)
    return user, conversation, await _connect(user, conversation.id)


async def test_a_simple_question_streams_real_tokens_labelled_local(
    edge_endpoint, roomy_chat_budget  # noqa: ANN001
) -> None:
    user, conversation, communicator = await _ask(SIMPLE, roomy_chat_budget)
    await communicator.send_to(text_data=json.dumps({"message": SIMPLE}))
    frames, final = await _until_final(communicator)
    assert 'data-state="done"' in final and 'data-model="smollm2-135m"' in final
    assert "local model (llama.cpp)" in final and "simulated" not in final
    assert len([f for f in frames if f.startswith('<span id="msg-')]) >= 2
    answer = await Message.objects.aget(conversation=conversation, role="assistant")
    assert answer.content.strip() and "<|im_end|>" not in answer.content
    await trace_saves_wait()
    trace = await RequestTrace.objects.aget(user=user)
    assert trace.endpoint == "local-llama" and trace.status == "ok"
    assert "edge" in answer.decision and "vs cloud" in answer.decision
    await communicator.disconnect()


async def test_stop_halts_generation_on_the_server(edge_endpoint, roomy_chat_budget) -> None:  # noqa: ANN001
    _, conversation, communicator = await _ask("story", roomy_chat_budget)
    await communicator.send_to(
        text_data=json.dumps({"message": "Write a long story about a dragon and a knight."})
    )
    while 'hx-swap-oob="beforeend"' not in await communicator.receive_from(timeout=60):
        pass
    await communicator.send_to(text_data=json.dumps({"action": "stop"}))
    _, final = await _until_final(communicator)
    assert 'data-state="stopped"' in final
    # The server's CPU: busy while generating, idle within ~100 ms of the stop.
    # The window outlasts the bound, so a server that kept generating would be caught.
    silence_ms = await asyncio.to_thread(
        cpu_silence_ms, pid=edge_endpoint.process.pid, window_s=3.0
    )
    # Left alone the story would run for seconds (~40 tokens/s); how fast it stops is the
    # bench's figure (latency_bench edge), not a timed test.
    assert silence_ms <= 2000, f"the server kept working {silence_ms:.0f} ms after Stop"
    answer = await Message.objects.aget(conversation=conversation, role="assistant")
    assert answer.state == "stopped"
    await communicator.disconnect()


async def test_with_the_server_gone_a_cloud_model_answers(
    edge_server_own, roomy_chat_budget  # noqa: ANN001
) -> None:
    edge_server_own.stop()
    user, conversation, communicator = await _ask(SIMPLE, roomy_chat_budget)
    await communicator.send_to(text_data=json.dumps({"message": SIMPLE}))
    _, final = await _until_final(communicator)
    assert 'data-state="done"' in final and "simulated" in final
    answer = await Message.objects.aget(conversation=conversation, role="assistant")
    assert answer.model != "smollm2-135m" and answer.content
    await communicator.disconnect()

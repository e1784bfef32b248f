"""Pages: sign-up, the conversation list, and a conversation's chat page."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import UserCreationForm
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from latency.models import Chunk, Conversation


def signup(request: HttpRequest) -> HttpResponse:
    form = UserCreationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("conversation_list")
    return render(request, "registration/signup.html", {"form": form})


@login_required
def conversation_list(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        conversation = Conversation.objects.create(user=request.user)
        return redirect("conversation_detail", conversation_id=conversation.id)
    conversations = Conversation.objects.filter(user=request.user)[:200]
    return render(request, "chat/conversation_list.html", {"conversations": conversations})


@login_required
def conversation_detail(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = get_object_or_404(Conversation, id=conversation_id, user=request.user)
    return render(
        request,
        "chat/conversation.html",
        {
            "conversation": conversation,
            "messages": conversation.messages.all(),
            "max_chars": settings.CHAT_MAX_MESSAGE_CHARS,
        },
    )


@login_required
def passage_detail(request: HttpRequest, chunk_id: int) -> HttpResponse:
    """A cited passage, for the user who may read its document."""
    readable = Q(document__owner=request.user) | Q(shared=True)
    chunk = get_object_or_404(
        Chunk.objects.select_related("document").filter(readable, searchable=True), id=chunk_id
    )
    return render(request, "chat/passage.html", {"chunk": chunk})

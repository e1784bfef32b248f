"""What Subsecond keeps in PostgreSQL: conversations, messages, and a trace of every request."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Feature(models.TextChoices):
    CHAT = "chat", "Chat"
    SEARCH = "search", "Search / Q&A"
    BACKGROUND = "background", "Background"


class Conversation(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations"
    )
    title = models.CharField(max_length=200, default="New conversation")
    feature = models.CharField(max_length=20, choices=Feature.choices, default=Feature.CHAT)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["user", "-updated_at"])]

    def __str__(self) -> str:
        return self.title


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user"
        ASSISTANT = "assistant"

    class State(models.TextChoices):
        STREAMING = "streaming"
        DONE = "done"
        STOPPED = "stopped"
        FAILED = "failed"

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    role = models.CharField(max_length=10, choices=Role.choices)
    content = models.TextField(blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.DONE)
    model = models.CharField(max_length=100, blank=True)
    endpoint_label = models.CharField(max_length=100, blank=True)
    from_cache = models.BooleanField(default=False)
    cache = models.CharField(max_length=10, default="off")
    ttft_ms = models.FloatField(null=True, blank=True)
    total_ms = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)
    trace = models.ForeignKey(
        "RequestTrace", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]


class RequestTrace(models.Model):
    """One row per request, from the moment the server received it to the last byte sent."""

    class Status(models.TextChoices):
        OK = "ok"
        STOPPED = "stopped"
        FAILED = "failed"

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    source = models.CharField(max_length=10, default="ws")
    feature = models.CharField(max_length=20, default=Feature.CHAT)
    model = models.CharField(max_length=100, blank=True)
    endpoint = models.CharField(max_length=100, blank=True)
    region = models.CharField(max_length=50, blank=True)
    upstream_id = models.CharField(max_length=100, blank=True)
    cache_outcome = models.CharField(max_length=10, default="off")
    cache_similarity = models.FloatField(null=True, blank=True)
    ttft_ms = models.FloatField(null=True, blank=True)
    total_ms = models.FloatField(null=True, blank=True)
    stages = models.JSONField(default=dict)
    tokens_prompt = models.IntegerField(null=True, blank=True)
    tokens_completion = models.IntegerField(null=True, blank=True)
    tokens_before_compression = models.IntegerField(null=True, blank=True)
    tokens_after_compression = models.IntegerField(null=True, blank=True)
    strategies = models.JSONField(default=dict)
    decision = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OK)
    error = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["feature", "created_at"])]

"""What Subsecond keeps in PostgreSQL: conversations, messages, and a trace of every request."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from pgvector.django import HnswIndex, VectorField

from latency.cache.verify import DEFAULT_THRESHOLD


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
    cache = models.CharField(max_length=10, default="off")  # hit, miss or off
    cache_tier = models.CharField(max_length=10, blank=True)  # exact or semantic
    cache_similarity = models.FloatField(null=True, blank=True)
    cache_matched_query = models.TextField(blank=True)
    cache_entry = models.ForeignKey(
        "CacheEntry", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    ttft_ms = models.FloatField(null=True, blank=True)
    total_ms = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)
    trace = models.ForeignKey(
        "RequestTrace", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    @property
    def from_cache(self) -> bool:
        return self.cache == "hit"


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
    cache_note = models.CharField(max_length=200, blank=True)
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


class StrategySettings(models.Model):
    """The switches and knobs of every strategy: one row, read by every worker."""

    exact_cache = models.BooleanField(default=True)
    semantic_cache = models.BooleanField(default=True)
    semantic_threshold = models.FloatField(default=DEFAULT_THRESHOLD)  # calibrated: cache_eval
    semantic_verify = models.BooleanField(default=True)
    cache_ttl_seconds = models.PositiveIntegerField(default=24 * 3600)
    cache_max_entries = models.PositiveIntegerField(default=100_000)
    cache_share_across_users = models.BooleanField(
        default=True, help_text="General answers (no private documents) may serve every user."
    )
    cache_max_temperature = models.FloatField(
        default=0.7, help_text="Requests with a higher temperature are never cached."
    )
    cache_replay_ms_per_token = models.FloatField(
        default=4.0, help_text="Pacing of a cached answer's replay; 0 sends it at once."
    )
    speculative_cache = models.BooleanField(
        default=False, help_text="Start the model call alongside the cache lookup."
    )
    streaming = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "strategy settings"

    def as_flags(self) -> dict[str, bool]:
        return {"exact_cache": self.exact_cache, "semantic_cache": self.semantic_cache,
                "speculative_cache": self.speculative_cache, "streaming": self.streaming}


class CacheEntry(models.Model):
    """A stored answer, served again only within its scope (model tier, system prompt, feature,
    earlier turns, and owner when it used private documents)."""

    scope_key = models.CharField(max_length=64)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
        help_text="Set when the answer used this user's private documents.",
    )
    query = models.TextField()
    query_normalized = models.TextField()
    embedding = VectorField(dimensions=384)
    response = models.TextField()
    model = models.CharField(max_length=100)
    source_documents = ArrayField(models.BigIntegerField(), default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)
    hits = models.PositiveIntegerField(default=0)
    last_hit_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "cache entries"
        indexes = [
            models.Index(fields=["scope_key", "query_normalized"], name="cache_exact_idx"),
            HnswIndex(
                name="cache_embedding_hnsw",
                fields=["embedding"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            ),
            GinIndex(fields=["source_documents"], name="cache_sources_gin"),
        ]

    def __str__(self) -> str:
        return self.query[:80]


class ApiKey(models.Model):
    """A bearer key for the OpenAI-compatible API; only its SHA-256 is stored."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    name = models.CharField(max_length=100, default="default")
    prefix = models.CharField(max_length=12)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"

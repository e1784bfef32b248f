"""Staff views of conversations and traces in the Django admin."""

from __future__ import annotations

from django.contrib import admin

from latency.cache.service import cache_entries_forget
from latency.models import (
    AlertEvent,
    AlertRule,
    CacheEntry,
    Conversation,
    Document,
    EndpointBreaker,
    FeatureBudget,
    Message,
    RequestTrace,
    StrategySettings,
)


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ["title", "user", "feature", "updated_at"]
    search_fields = ["title", "user__username"]


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["conversation", "role", "state", "model", "ttft_ms", "total_ms", "created_at"]
    list_filter = ["role", "state"]


@admin.register(RequestTrace)
class RequestTraceAdmin(admin.ModelAdmin):
    list_display = ["created_at", "feature", "model", "endpoint", "ttft_ms", "total_ms", "status"]
    list_filter = ["feature", "status", "model", "cache_outcome"]


@admin.register(CacheEntry)
class CacheEntryAdmin(admin.ModelAdmin):
    """Staff browse, search and delete cached answers; deleting here also empties the exact tier."""

    list_display = ["query", "model", "owner", "hits", "created_at", "expires_at"]
    list_filter = ["model"]
    search_fields = ["query", "response"]
    readonly_fields = ["scope_key", "query_normalized", "created_at", "hits", "last_hit_at"]
    exclude = ["embedding"]
    actions = ["delete_with_exact_tier"]

    @admin.action(description="Delete selected entries (and their exact-tier copies)")
    def delete_with_exact_tier(self, request, queryset):  # noqa: ANN001, ANN201
        count = len(cache_entries_forget(entries=queryset))
        self.message_user(request, f"Deleted {count} cached answers.")

    def delete_model(self, request, obj):  # noqa: ANN001, ANN201
        cache_entries_forget(entries=CacheEntry.objects.filter(id=obj.id))

    def delete_queryset(self, request, queryset):  # noqa: ANN001, ANN201
        cache_entries_forget(entries=queryset)


@admin.register(StrategySettings)
class StrategySettingsAdmin(admin.ModelAdmin):
    list_display = ["id", "exact_cache", "semantic_cache", "semantic_threshold", "updated_at"]


@admin.register(FeatureBudget)
class FeatureBudgetAdmin(admin.ModelAdmin):
    """Latency budgets per feature: the router reads them within about two seconds of a change."""

    list_display = ["feature", "p95_ms", "ttft_ms", "note", "updated_at"]


@admin.register(EndpointBreaker)
class EndpointBreakerAdmin(admin.ModelAdmin):
    """Circuit breakers: clear `open until` to put an endpoint back at once."""

    list_display = ["endpoint", "open_until", "opened_at", "trips", "reason"]


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    """Alert thresholds (also editable on /settings/)."""

    list_display = ["name", "metric", "threshold", "window_seconds", "severity", "enabled"]
    list_editable = ["threshold", "enabled"]


@admin.register(AlertEvent)
class AlertEventAdmin(admin.ModelAdmin):
    list_display = ["rule", "started_at", "resolved_at", "value", "message", "notified"]
    list_filter = ["rule", "resolved_at"]


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = ["title", "owner", "shared", "status", "chunk_count", "created_at"]
    list_filter = ["status", "shared", "content_type"]
    search_fields = ["title", "filename", "owner__username"]
    exclude = ["data"]
    readonly_fields = ["sha256", "size", "status", "progress", "error", "chunk_count"]

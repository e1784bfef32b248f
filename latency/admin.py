"""Staff views of conversations and traces in the Django admin."""

from __future__ import annotations

from django.contrib import admin

from latency.cache.service import cache_entries_forget
from latency.models import CacheEntry, Conversation, Message, RequestTrace, StrategySettings


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

"""Staff views of conversations and traces in the Django admin."""

from __future__ import annotations

from django.contrib import admin

from latency.models import Conversation, Message, RequestTrace


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

"""Staff views of conversations and traces in the Django admin."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Subquery

from latency.cache.labels import cache_entries_forget_by_staff
from latency.models import (
    AlertEvent,
    AlertRule,
    CacheEntry,
    CacheLabel,
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
    """Staff browse, search and delete cached answers (deleting also empties the exact tier, and
    counts as a wrong answer); each entry shows the threshold it learned from people's verdicts
    on its semantic hits, and their observed error rate against δ."""

    list_display = ["query", "model", "owner", "hits", "threshold", "label_count",
                    "error_vs_bound", "created_at", "expires_at"]  # fmt: skip
    list_filter = ["model"]
    search_fields = ["query", "response"]
    readonly_fields = ["scope_key", "query_normalized", "created_at", "hits", "last_hit_at",
                       "threshold", "label_count", "label_wrong", "error_vs_bound",
                       "observations"]  # fmt: skip
    exclude = ["embedding", "learned_threshold"]
    actions = ["delete_with_exact_tier"]

    def get_queryset(self, request):  # noqa: ANN001, ANN201
        """δ and the global threshold ride along with each row: one query for the page."""
        row = StrategySettings.objects.order_by("id")
        return super().get_queryset(request).annotate(
            error_bound=Subquery(row.values("cache_error_bound")[:1]),
            gate=Subquery(row.values("semantic_threshold")[:1]),
        )

    @admin.display(description="threshold", ordering="learned_threshold")
    def threshold(self, obj: CacheEntry) -> str:
        if obj.learned_threshold is None:
            return f"global {obj.gate:.3f}" if obj.gate is not None else "global"
        return f"learned {obj.learned_threshold:.3f}"

    @admin.display(description="observed error vs δ")
    def error_vs_bound(self, obj: CacheEntry) -> str:
        bound = obj.error_bound if obj.error_bound is not None else 0.02
        rate = obj.observed_error_rate
        if rate is None:
            return f"— (δ {bound:.1%})"
        return f"{rate:.1%} {'>' if rate > bound else '≤'} δ {bound:.1%}"

    @admin.display(description="verdicts on its semantic hits (latest first)")
    def observations(self, obj: CacheEntry) -> str:
        labels = obj.labels.filter(similarity__isnull=False).order_by("-id")[:20]
        return ", ".join(f"{'kept' if label.correct else 'WRONG'} at {label.similarity:.3f}"
                         for label in labels) or "none yet"  # fmt: skip

    @admin.action(description="Delete selected entries (and their exact-tier copies)")
    def delete_with_exact_tier(self, request, queryset):  # noqa: ANN001, ANN201
        count = cache_entries_forget_by_staff(entries=queryset, user_id=request.user.pk)
        self.message_user(request, f"Deleted {count} cached answers.")

    def delete_model(self, request, obj):  # noqa: ANN001, ANN201
        entries = CacheEntry.objects.filter(id=obj.id)
        cache_entries_forget_by_staff(entries=entries, user_id=request.user.pk)

    def delete_queryset(self, request, queryset):  # noqa: ANN001, ANN201
        cache_entries_forget_by_staff(entries=queryset, user_id=request.user.pk)


@admin.register(CacheLabel)
class CacheLabelAdmin(admin.ModelAdmin):
    """People's verdicts on cached answers, as recorded (read-only)."""

    list_display = ["created_at", "source", "correct", "similarity", "entry", "user"]
    list_filter = ["source", "correct"]
    list_select_related = ["entry", "user"]

    def has_add_permission(self, request) -> bool:  # noqa: ANN001
        return False

    def has_change_permission(self, request, obj=None) -> bool:  # noqa: ANN001
        return False


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

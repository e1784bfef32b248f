"""The staff page that switches each strategy on or off, sets its knobs, and edits the alert
thresholds. Every worker reads the saved row within about a second (latency.strategies)."""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from latency.cache.labels import cache_thresholds_relearn
from latency.models import AlertRule, StrategySettings
from latency.providers.catalog import catalog_load
from latency.strategies import strategy_settings_forget

# The page's sections, in the order of the pipeline; fields added later land in "Other".
SECTIONS = [
    ("Exact cache", ["exact_cache"]),
    ("Semantic cache", [
        "semantic_cache", "semantic_threshold", "semantic_verify", "cache_error_bound",
        "cache_ttl_seconds", "cache_max_entries", "cache_share_across_users",
        "cache_max_temperature", "cache_replay_ms_per_token",
    ]),
    ("Speculative cache lookup", ["speculative_cache"]),
    ("Retrieval (RAG)", ["rag", "rag_top_k", "rag_fuse_fts"]),
    ("Prompt compression", ["compression", "compression_budget_tokens"]),
    ("Model routing", ["routing", "fixed_model"]),
    ("Hedging and timeouts", ["hedging", "hedge_cap", "first_token_timeout_s", "stall_timeout_s"]),
    ("Streaming", ["streaming"]),
]  # fmt: skip
SHARES = ("semantic_threshold", "cache_error_bound", "hedge_cap")  # fractions, 0 to 1
# What each entry's learned threshold depends on (latency.cache.labels).
LEARNING_INPUTS = ("cache_error_bound", "semantic_threshold")


class StrategySettingsForm(forms.ModelForm):
    class Meta:
        model = StrategySettings
        exclude = ["updated_at"]
        help_texts = {
            "streaming": "Off: the whole answer arrives at the end, so the difference is felt.",
            "semantic_verify": "Check a near hit against the question before serving it.",
        }

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        for name in SHARES:
            if name in self.fields:
                self.fields[name].validators += [MinValueValidator(0.0), MaxValueValidator(1.0)]
                self.fields[name].widget.attrs.update(min=0, max=1, step=0.01)
        if "cache_error_bound" in self.fields:
            self.fields["cache_error_bound"].label = "Cache error bound (δ)"
            self.fields["cache_error_bound"].widget.attrs.update(step=0.001)
        if "fixed_model" in self.fields:
            names = sorted(catalog_load().models)
            self.fields["fixed_model"].widget = forms.Select(
                choices=[("", "the feature's default model"), *((n, n) for n in names)]
            )

    def sections(self) -> list[tuple[str, list[forms.BoundField]]]:
        listed = {name for _, names in SECTIONS for name in names}
        result = [
            (title, [self[name] for name in names if name in self.fields])
            for title, names in SECTIONS
        ]
        other = [self[name] for name in self.fields if name not in listed]
        return [(title, fields) for title, fields in [*result, ("Other", other)] if fields]


AlertRuleFormSet = forms.modelformset_factory(
    AlertRule, extra=1, can_delete=True,
    fields=["name", "metric", "threshold", "baseline", "window_seconds", "min_requests",
            "severity", "enabled"],
)  # fmt: skip


@login_required
def strategy_settings(request: HttpRequest) -> HttpResponse:
    if not request.user.is_staff:
        raise PermissionDenied
    row = StrategySettings.objects.order_by("id").first() or StrategySettings.objects.create(id=1)
    data = request.POST if request.method == "POST" else None
    form = StrategySettingsForm(data, instance=row, prefix="s")
    rules = AlertRuleFormSet(data, queryset=AlertRule.objects.all(), prefix="rules")
    if data is not None and form.is_valid() and rules.is_valid():
        with transaction.atomic():
            form.save()
            rules.save()
            if set(LEARNING_INPUTS) & set(form.changed_data):
                cache_thresholds_relearn()  # every entry with verdicts, under the new δ
        strategy_settings_forget()  # this process at once; the others within a second
        return redirect(f"{request.path}?saved=1")
    context = {"form": form, "rules": rules, "saved": request.GET.get("saved") == "1"}
    return render(request, "settings/strategy_settings.html", context)

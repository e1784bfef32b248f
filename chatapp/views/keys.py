"""The API keys page: make a key (its token shown once), list, revoke and limit one's own keys
(htmx swaps the table). The work is in latency.gateway.keys."""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from latency.gateway.keys import (
    NAME_MAX,
    REQUESTS_PER_MINUTE_MAX,
    TOKENS_PER_MINUTE_MAX,
    api_key_create,
    api_key_limits_set,
    api_key_revoke,
    api_keys_owned,
)

TEMPLATE = "keys/list.html"


class KeyCreateForm(forms.Form):
    name = forms.CharField(max_length=NAME_MAX, required=False)


class KeyLimitsForm(forms.Form):
    requests_per_minute = forms.IntegerField(min_value=1, max_value=REQUESTS_PER_MINUTE_MAX)
    tokens_per_minute = forms.IntegerField(min_value=1, max_value=TOKENS_PER_MINUTE_MAX)


def _page(request: HttpRequest, **context: object) -> HttpResponse:
    context = {"keys": api_keys_owned(user=request.user), "form": KeyCreateForm(), **context}
    if request.htmx:
        return render(request, f"{TEMPLATE}#key_panel", context)
    return render(request, TEMPLATE, context)


@login_required
@require_http_methods(["GET", "POST"])
def key_list(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _page(request)
    form = KeyCreateForm(request.POST)
    if not form.is_valid():
        return _page(request, form=form)
    token = api_key_create(user=request.user, name=form.cleaned_data["name"] or "default")
    return _page(request, new_token=token)


@login_required
@require_POST
def key_revoke_view(request: HttpRequest, key_id: int) -> HttpResponse:
    if api_key_revoke(user=request.user, key_id=key_id) is None:
        raise Http404("No such key.")
    return _page(request) if request.htmx else redirect("key_list")


@login_required
@require_POST
def key_limits_view(request: HttpRequest, key_id: int) -> HttpResponse:
    form = KeyLimitsForm(request.POST)
    if not form.is_valid():
        errors = "; ".join(e for field in form.errors.values() for e in field)
        return _page(request, limits_error=errors)
    if api_key_limits_set(user=request.user, key_id=key_id, **form.cleaned_data) is None:
        raise Http404("No such key.")
    return _page(request) if request.htmx else redirect("key_list")

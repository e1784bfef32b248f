"""URL routes of the web edge."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from chatapp import api, health, views

urlpatterns = [
    path("", views.conversation_list, name="conversation_list"),
    path("c/<int:conversation_id>/", views.conversation_detail, name="conversation_detail"),
    path("accounts/signup/", views.signup, name="signup"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("healthz", health.healthz, name="healthz"),
    path("v1/chat/completions", api.chat_completions, name="api_chat_completions"),
    path("v1/models", api.models_list, name="api_models"),
    path("admin/", admin.site.urls),
]

"""URL routes of the web edge."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from chatapp import health
from chatapp.api import chat as api
from chatapp.views import dashboard as dashboard_views
from chatapp.views import documents as documents_views
from chatapp.views import pages as views
from chatapp.views import settings as settings_views

urlpatterns = [
    path("", views.conversation_list, name="conversation_list"),
    path("c/<int:conversation_id>/", views.conversation_detail, name="conversation_detail"),
    path("passages/<int:chunk_id>/", views.passage_detail, name="passage_detail"),
    path("accounts/signup/", views.signup, name="signup"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("healthz", health.healthz, name="healthz"),
    path("v1/chat/completions", api.chat_completions, name="api_chat_completions"),
    path("v1/models", api.models_list, name="api_models"),
    path("documents/", documents_views.document_list, name="document_list"),
    path("documents/upload/", documents_views.document_upload_view, name="document_upload"),
    path("documents/<int:document_id>/", documents_views.document_status, name="document_status"),
    path(
        "documents/<int:document_id>/delete/",
        documents_views.document_delete_view,
        name="document_delete",
    ),
    path(
        "documents/<int:document_id>/reupload/",
        documents_views.document_reupload_view,
        name="document_reupload",
    ),
    path(
        "documents/<int:document_id>/share/",
        documents_views.document_share_view,
        name="document_share",
    ),
    path("dashboard/", dashboard_views.dashboard, name="dashboard"),
    path(
        "dashboard/request/<int:trace_id>/",
        dashboard_views.dashboard_request,
        name="dashboard_request",
    ),
    path("dashboard/compare/", dashboard_views.dashboard_compare, name="dashboard_compare"),
    path("settings/", settings_views.strategy_settings, name="strategy_settings"),
    path("metrics", dashboard_views.metrics, name="metrics"),
    path("admin/", admin.site.urls),
]

"""URL routes of the web edge."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path, re_path

from chatapp import health
from chatapp.api import batches as batches_api
from chatapp.api import chat as api_chat
from chatapp.api import edge as api_edge
from chatapp.api import embeddings as api_embeddings
from chatapp.api import files as files_api
from chatapp.api import models as api_models
from chatapp.views import batch as batch_views
from chatapp.views import dashboard as dashboard_views
from chatapp.views import documents as documents_views
from chatapp.views import keys as keys_views
from chatapp.views import pages as views
from chatapp.views import settings as settings_views

urlpatterns = [
    path("", views.conversation_list, name="conversation_list"),
    path("c/<int:conversation_id>/", views.conversation_detail, name="conversation_detail"),
    path("passages/<int:chunk_id>/", views.passage_detail, name="passage_detail"),
    path("accounts/signup/", views.signup, name="signup"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("healthz", health.healthz, name="healthz"),
    path("v1/chat/completions", api_chat.chat_completions, name="api_chat_completions"),
    path("v1/models", api_models.models_list, name="api_models"),
    path("v1/models/<path:model_id>", api_models.model_detail, name="api_model"),
    path("v1/embeddings", api_embeddings.embeddings_create, name="api_embeddings"),
    path("v1/files", files_api.files_view, name="api_files"),
    path("v1/files/<str:file_id>", files_api.file_view, name="api_file"),
    path("v1/files/<str:file_id>/content", files_api.file_content, name="api_file_content"),
    path("v1/batches", batches_api.batches_view, name="api_batches"),
    path("v1/batches/<str:batch_id>", batches_api.batch_view, name="api_batch"),
    path("v1/batches/<str:batch_id>/cancel", batches_api.batch_cancel, name="api_batch_cancel"),
    # Anything else under /v1 is an OpenAI-shaped 404, never Django's HTML page.
    re_path(r"^v1(?:/(?P<rest>.*))?$", api_edge.api_not_found, name="api_not_found"),
    path("keys/", keys_views.key_list, name="key_list"),
    path("keys/<int:key_id>/revoke/", keys_views.key_revoke_view, name="key_revoke"),
    path("keys/<int:key_id>/limits/", keys_views.key_limits_view, name="key_limits"),
    path("batch/", batch_views.batch_list, name="batch_list"),
    path("batch/new/", batch_views.batch_create, name="batch_create"),
    path("batch/<str:uid>/", batch_views.batch_status, name="batch_status"),
    path("batch/<str:uid>/cancel/", batch_views.batch_cancel_view, name="batch_cancel"),
    path("batch/<str:uid>/retry/", batch_views.batch_retry_view, name="batch_retry"),
    path("batch/<str:uid>/results.<str:fmt>", batch_views.batch_download, name="batch_download"),
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

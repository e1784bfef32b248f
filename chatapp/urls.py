"""URL routes of the web edge."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from chatapp import health, views

urlpatterns = [
    path("", views.conversation_list, name="conversation_list"),
    path("c/<int:conversation_id>/", views.conversation_detail, name="conversation_detail"),
    path("accounts/signup/", views.signup, name="signup"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("healthz", health.healthz, name="healthz"),
    path("admin/", admin.site.urls),
]

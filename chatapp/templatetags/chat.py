"""Template filters for chat messages."""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString, mark_safe

from chatapp.markdown import markdown_render

register = template.Library()


@register.filter
def markdown(text: str) -> SafeString:
    return mark_safe(markdown_render(text=text or ""))  # noqa: S308 - sanitised by nh3

"""Safe Markdown: rendered with python-markdown, then sanitised with nh3 (code blocks kept).

An answer may repeat what a document or a user wrote, so it is untrusted HTML: the allow-list
below follows OWASP's XSS prevention cheat sheet. No script, style or event handler survives;
links are http, https or mailto (or relative) and open with rel="noopener noreferrer"; the only
class kept is a code block's `language-*`.
"""

from __future__ import annotations

import re

import markdown as markdown_lib
import nh3

_ALLOWED_TAGS = {
    "p",
    "br",
    "strong",
    "em",
    "code",
    "pre",
    "ul",
    "ol",
    "li",
    "blockquote",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "a",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "hr",
    "span",
    "del",
}


_CODE_CLASS = re.compile(r"language-[A-Za-z0-9_+-]{1,40}")
# Content that is dropped with its tag, not shown as text.
_DROPPED_WITH_CONTENT = {"script", "style", "iframe", "object", "embed", "template", "noscript"}


def _attribute_filter(element: str, attribute: str, value: str) -> str | None:
    if attribute == "class":
        return value if element == "code" and _CODE_CLASS.fullmatch(value) else None
    return value


def markdown_render(*, text: str) -> str:
    html = markdown_lib.markdown(text, extensions=["fenced_code", "tables", "sane_lists"])
    return nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        clean_content_tags=_DROPPED_WITH_CONTENT,
        attributes={"a": {"href", "title"}, "code": {"class"}},
        attribute_filter=_attribute_filter,
        generic_attribute_prefixes=set(),
        strip_comments=True,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )

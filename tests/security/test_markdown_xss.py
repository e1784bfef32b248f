"""Answers and previews stay inert: OWASP's XSS filter-evasion payloads through the function the
templates use (the `markdown` filter), and a message rendered by the chat template itself."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django.template import Context, Template

from chatapp.markdown import markdown_render

# From OWASP's XSS Filter Evasion Cheat Sheet, plus Markdown's own ways to write a link.
PAYLOADS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=http://xss.rocks/xss.js></SCRIPT>",
    '<IMG SRC="javascript:alert(\'XSS\');">',
    "<IMG SRC=JaVaScRiPt:alert('XSS')>",
    "<IMG SRC=`javascript:alert(\"RSnake says, 'XSS'\")`>",
    '<IMG """><SCRIPT>alert("XSS")</SCRIPT>"\\>',
    "<IMG SRC=# onmouseover=\"alert('xxs')\">",
    "<IMG SRC=/ onerror=\"alert(String.fromCharCode(88,83,83))\"></img>",
    "<img src=x onerror=\"&#0000106&#0000097&#0000118&#0000097&#0000115&#0000099&#0000114&#0000105"
    "&#0000112&#0000116&#0000058&#0000097&#0000108&#0000101&#0000114&#0000116&#0000040&#0000039"
    "&#0000088&#0000083&#0000083&#0000039&#0000041\">",
    '<IMG SRC="jav&#x09;ascript:alert(\'XSS\');">',
    '<IMG SRC=" &#14;  javascript:alert(\'XSS\');">',
    "<SCRIPT/XSS SRC=\"http://xss.rocks/xss.js\"></SCRIPT>",
    "<BODY onload!#$%&()*~+-_.,:;?@[/|\\]^`=alert(\"XSS\")>",
    "<<SCRIPT>alert(\"XSS\");//\\<</SCRIPT>",
    "<iframe src=http://xss.rocks/scriptlet.html <",
    "</TITLE><SCRIPT>alert(\"XSS\");</SCRIPT>",
    '<INPUT TYPE="IMAGE" SRC="javascript:alert(\'XSS\');">',
    "<svg/onload=alert('XSS')>",
    '<BODY BACKGROUND="javascript:alert(\'XSS\')">',
    '<LINK REL="stylesheet" HREF="javascript:alert(\'XSS\');">',
    "<STYLE>@import'http://xss.rocks/xss.css';</STYLE>",
    '<META HTTP-EQUIV="refresh" CONTENT="0;url=javascript:alert(\'XSS\');">',
    '<TABLE BACKGROUND="javascript:alert(\'XSS\')">',
    '<DIV STYLE="background-image: url(javascript:alert(\'XSS\'))">',
    '<DIV STYLE="width: expression(alert(\'XSS\'));">',
    "<OBJECT TYPE=\"text/x-scriptlet\" DATA=\"http://xss.rocks/scriptlet.html\"></OBJECT>",
    '<EMBED SRC="data:image/svg+xml;base64,PHN2ZyB4bWxuczpzdmc9Imh0dHA6Ly93d3cudzMub3JnLzIwMDAv'
    'c3ZnIj48c2NyaXB0PmFsZXJ0KDEpPC9zY3JpcHQ+PC9zdmc+" type="image/svg+xml" '
    'AllowScriptAccess="always"></EMBED>',
    '<a href="javascript:alert(1)">click</a>',
    '<a href="JaVaScRiPt:alert(1)">click</a>',
    '<a href="&#106;avascript:alert(1)">click</a>',
    '<a href=" javascript:alert(1)">click</a>',
    '<a href="vbscript:msgbox(1)">click</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">click</a>',
    '<a href="https://example.com" onclick="alert(1)" style="color:red" target="_blank">ok</a>',
    "[click](javascript:alert(1))",
    "[click](JAVASCRIPT:alert(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    '[click](https://example.com "title" onmouseover="alert(1)")',
    "![x](javascript:alert(1))",
    "![x](https://example.com/x.png\" onerror=\"alert(1))",
    "<details open ontoggle=alert(1)>",
    "<math><mi//xlink:href=\"data:x,<script>alert(4)</script>\">",
    '<form action="javascript:alert(1)"><button>go</button></form>',
    '<span class="error" style="position:fixed;top:0">fake notice</span>',
    '<code class="x onclick=alert(1)">c</code>',
    "<!-- <script>alert(1)</script> -->",
    "```html\n<script>alert(1)</script>\n```",
]

INERT_TAGS = {"p", "br", "strong", "em", "code", "pre", "ul", "ol", "li", "blockquote", "h1",
              "h2", "h3", "h4", "h5", "h6", "a", "table", "thead", "tbody", "tr", "th", "td", "hr",
              "del", "span"}  # fmt: skip
SAFE_URL = re.compile(r"(https?:|mailto:|/|#|\?|[^:]*$)", re.I)


class _Elements(HTMLParser):
    """The elements and attributes a browser would build from the HTML (text stays text)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payload_is_inert(payload: str):
    html = markdown_render(text=payload)
    parser = _Elements()
    parser.feed(html)
    for tag, attributes in parser.elements:
        assert tag in INERT_TAGS, html
        for name, value in attributes.items():
            assert not name.startswith("on") and name != "style", html
            if name == "class":
                assert tag == "code" and re.fullmatch(r"language-[\w+-]+", value or ""), html
            if name in {"href", "src", "action", "formaction", "xlink:href"}:
                assert SAFE_URL.match((value or "").strip()), html
        if tag == "a":
            assert attributes.get("rel") == "noopener noreferrer nofollow", html
            assert "target" not in attributes, html


def test_safe_markdown_still_renders():
    html = markdown_render(
        text="# Title\n\n**bold** [docs](https://example.com/a?b=1) `x`\n\n```python\nprint(1)\n```"
    )
    assert "<h1>Title</h1>" in html and "<strong>bold</strong>" in html
    assert '<a href="https://example.com/a?b=1" rel="noopener noreferrer nofollow">docs</a>' in html
    assert '<code class="language-python">' in html


def test_the_chat_template_filter_renders_through_the_same_sanitiser():
    template = Template("{% load chat %}{{ content|markdown }}")
    html = template.render(Context({"content": '<img src=x onerror=alert(1)>[a](javascript:x)'}))
    assert "onerror" not in html and "javascript:" not in html

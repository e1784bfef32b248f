"""Text out of a document, as a flat list of headings and paragraphs: the structure that chunking
respects. Each reader turns a damaged, encrypted or empty file into a DocumentRejected."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser

from latency.models import Document
from latency.rag.detect import docx_guard, text_decode
from latency.rag.errors import DocumentRejected

Kind = Document.Kind
ProgressCallback = Callable[[float], None]  # a fraction of the extraction done, 0..1

PDF_MAX_PAGES = 5000
PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
ATX_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
SETEXT_UNDERLINE = re.compile(r"^(=+|-+)\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")


@dataclass(frozen=True)
class Block:
    text: str
    level: int = 0  # 0 for a paragraph, 1-6 for a heading


def document_blocks_extract(
    *, data: bytes, kind: str, on_progress: ProgressCallback | None = None
) -> list[Block]:
    readers = {
        Kind.TEXT: _text_blocks,
        Kind.MARKDOWN: _markdown_blocks,
        Kind.HTML: _html_blocks,
        Kind.PDF: _pdf_blocks,
        Kind.DOCX: _docx_blocks,
    }
    blocks = [
        # PDF and Word text may carry NULs, which PostgreSQL text cannot store: drop them.
        Block(block.text.replace("\x00", ""), block.level)
        for block in readers[Kind(kind)](data, on_progress)
        if block.text.replace("\x00", "").strip()
    ]
    if not any(block.level == 0 for block in blocks):
        raise DocumentRejected("No text could be found in this document.")
    return blocks


def _paragraphs(text: str) -> list[Block]:
    return [Block(part.strip()) for part in PARAGRAPH_BREAK.split(text) if part.strip()]


def _text_blocks(data: bytes, on_progress: ProgressCallback | None) -> list[Block]:
    return _paragraphs(text_decode(data=data).replace("\r\n", "\n"))


def _markdown_blocks(data: bytes, on_progress: ProgressCallback | None) -> list[Block]:
    """ATX (`## Title`) and setext (underlined) headings; `#` inside code fences is code."""
    blocks: list[Block] = []
    lines: list[str] = []
    in_fence = False

    def flush() -> None:
        blocks.extend(_paragraphs("\n".join(lines)))
        lines.clear()

    for line in text_decode(data=data).replace("\r\n", "\n").split("\n"):
        if FENCE.match(line):
            in_fence = not in_fence
        heading = None if in_fence else ATX_HEADING.match(line)
        underline = None if in_fence else SETEXT_UNDERLINE.match(line)
        if heading:
            flush()
            blocks.append(Block(heading.group(2).strip(), level=len(heading.group(1))))
        elif underline and lines and lines[-1].strip():
            title = lines.pop()
            flush()
            blocks.append(Block(title.strip(), level=1 if underline.group(1)[0] == "=" else 2))
        else:
            lines.append(line)
    flush()
    return blocks


class _HtmlBlocks(HTMLParser):
    """Headings and paragraphs of an HTML page; scripts, styles and the head are dropped."""

    SKIP = {"script", "style", "noscript", "template", "head", "svg", "iframe", "object"}
    BREAKS = {"p", "div", "li", "tr", "br", "section", "article", "main", "header", "footer",
              "blockquote", "pre", "table", "ul", "ol", "dl", "dt", "dd", "hr", "aside", "nav",
              "figure", "figcaption", "form"}  # fmt: skip

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[Block] = []
        self._text: list[str] = []
        self._skip_depth = 0
        self._heading_level = 0
        self._pre_depth = 0

    def _flush(self) -> None:
        raw = "".join(self._text)
        self._text.clear()
        text = raw.strip() if self._pre_depth else re.sub(r"\s+", " ", raw).strip()
        if text:
            self.blocks.append(Block(text, level=self._heading_level))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self._skip_depth += 1
        elif re.fullmatch(r"h[1-6]", tag):
            self._flush()
            self._heading_level = int(tag[1])
        elif tag in self.BREAKS:
            self._flush()
            self._pre_depth += tag == "pre"
        elif tag in {"td", "th"}:
            self._text.append(" | ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif re.fullmatch(r"h[1-6]", tag):
            self._flush()
            self._heading_level = 0
        elif tag in self.BREAKS:
            self._flush()
            self._pre_depth = max(0, self._pre_depth - (tag == "pre"))

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self._text.append(data)


def _html_blocks(data: bytes, on_progress: ProgressCallback | None) -> list[Block]:
    parser = _HtmlBlocks()
    parser.feed(text_decode(data=data))
    parser.close()
    parser._flush()
    return parser.blocks


def _pdf_blocks(data: bytes, on_progress: ProgressCallback | None) -> list[Block]:
    """One section a page ("Page 3"), so that an answer can cite where its passage came from."""
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # a damaged file is reported, not logged
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise DocumentRejected("The PDF is encrypted (password protected): remove it first.")
        pages = reader.pages
        page_count = len(pages)
    except DocumentRejected:
        raise
    except (DependencyError, FileNotDecryptedError) as error:
        raise DocumentRejected("The PDF is encrypted and cannot be read.") from error
    except Exception as error:  # pypdf raises many types (PdfReadError, ValueError, KeyError...)
        raise DocumentRejected(f"The PDF is damaged or not a PDF ({_reason(error)}).") from error
    if page_count == 0:
        raise DocumentRejected("The PDF has no pages.")
    if page_count > PDF_MAX_PAGES:
        raise DocumentRejected(f"The PDF has {page_count} pages (limit {PDF_MAX_PAGES}).")
    blocks: list[Block] = []
    for number, page in enumerate(pages, start=1):
        try:
            text = page.extract_text() or ""
        except Exception as error:  # one damaged page fails the document
            raise DocumentRejected(
                f"Page {number} of the PDF is damaged ({_reason(error)})."
            ) from error
        paragraphs = [Block(re.sub(r"\s*\n\s*", " ", p.text)) for p in _paragraphs(text)]
        if paragraphs:
            blocks += [Block(f"Page {number}", level=1), *paragraphs]
        if on_progress:
            on_progress(number / page_count)
    if not blocks:
        raise DocumentRejected(
            "The PDF has no text layer (a scan or images?): this app does not read images."
        )
    return blocks


def _docx_blocks(data: bytes, on_progress: ProgressCallback | None) -> list[Block]:
    import docx
    from docx.table import Table

    docx_guard(data=data)  # again: the worker never trusts what the web process stored
    try:
        document = docx.Document(io.BytesIO(data))
        blocks: list[Block] = []
        for item in document.iter_inner_content():
            if isinstance(item, Table):
                for row in item.rows:
                    cells = [cell.text.strip() for cell in row.cells]
                    blocks.append(Block(" | ".join(cell for cell in cells if cell)))
                continue
            style = item.style.name if item.style is not None else ""
            level = _docx_heading_level(style)
            blocks.append(Block(item.text.strip(), level=level))
    except Exception as error:  # python-docx, zipfile and lxml errors all mean "damaged"
        raise DocumentRejected(f"The Word document is damaged ({_reason(error)}).") from error
    return blocks


def _docx_heading_level(style: str) -> int:
    if style == "Title":
        return 1
    match = re.fullmatch(r"Heading (\d)", style)
    return min(int(match.group(1)), 6) if match else 0


def _reason(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text[:160]

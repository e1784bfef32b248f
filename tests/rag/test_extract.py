"""Type by content, and text out of every supported kind; broken files get a clear reason."""

from __future__ import annotations

import pytest

from latency.models import Document
from latency.rag import detect
from latency.rag.detect import document_kind_detect
from latency.rag.errors import DocumentRejected
from latency.rag.extract import Block, document_blocks_extract
from tests.rag import samples

Kind = Document.Kind


def _extract(data: bytes, filename: str) -> list[Block]:
    kind = document_kind_detect(data=data, filename=filename)
    return document_blocks_extract(data=data, kind=kind)


def _rejected(data: bytes, filename: str) -> str:
    with pytest.raises(DocumentRejected) as caught:
        _extract(data, filename)
    return str(caught.value)


def test_plain_text_paragraphs_and_a_bom():
    blocks = _extract("\ufeffFirst paragraph.\r\n\r\nSecond one.\n".encode(), "notes.txt")
    assert blocks == [Block("First paragraph."), Block("Second one.")]


def test_markdown_headings_but_not_inside_code_fences():
    text = (
        "# Guide\n\nIntro.\n\n## Install\n\n```sh\n# not a heading\n```\n\nSetext\n------\n\nEnd."
    )
    blocks = _extract(text.encode(), "guide.md")
    assert Block("Guide", 1) in blocks and Block("Install", 2) in blocks
    assert Block("Setext", 2) in blocks
    assert not any(block.level and "not a heading" in block.text for block in blocks)
    assert any("# not a heading" in block.text for block in blocks)


def test_markdown_is_recognised_without_its_extension():
    assert document_kind_detect(data=b"# Title\n\nBody.", filename="upload") == Kind.MARKDOWN
    assert document_kind_detect(data=b"# Title\n\nBody.", filename="a.txt") == Kind.TEXT


def test_html_drops_scripts_and_styles_and_keeps_headings():
    html = b"""<!doctype html><html><head><title>T</title><style>p{color:red}</style></head>
    <body><script>alert('x')</script><h1>Main &amp; title</h1><p>First <b>bold</b> text.</p>
    <h2>Sub</h2><ul><li>one</li><li>two</li></ul><noscript>enable js</noscript></body></html>"""
    blocks = _extract(html, "page.txt")  # the name says text, the content says HTML
    assert blocks == [
        Block("Main & title", 1),
        Block("First bold text."),
        Block("Sub", 2),
        Block("one"),
        Block("two"),
    ]


def test_pdf_pages_become_sections():
    data = samples.pdf_bytes(pages=["Hello from page one.", "Page two says goodbye."])
    assert document_kind_detect(data=data, filename="x.bin") == Kind.PDF
    blocks = _extract(data, "x.bin")
    assert blocks == [
        Block("Page 1", 1),
        Block("Hello from page one."),
        Block("Page 2", 1),
        Block("Page two says goodbye."),
    ]


def test_docx_headings_paragraphs_and_tables():
    data = samples.docx_bytes(title="Report", sections={"Findings": ["Latency fell by half."]})
    assert document_kind_detect(data=data, filename="report.pdf") == Kind.DOCX
    blocks = _extract(data, "report.pdf")
    assert blocks[:3] == [Block("Report", 1), Block("Findings", 2), Block("Latency fell by half.")]
    assert Block("Region | eu-west") in blocks


def test_a_pdf_that_is_really_text_is_read_as_text():
    assert document_kind_detect(data=b"just words", filename="fake.pdf") == Kind.TEXT
    assert _extract(b"just words", "fake.pdf") == [Block("just words")]


@pytest.mark.parametrize(
    ("data", "filename", "reason"),
    [
        (b"", "empty.txt", "The file is empty."),
        (b"  \n\t ", "blank.md", "The file is empty."),
        (b"caf\xe9 au lait", "latin1.txt", "not UTF-8: byte 0xe9 at position 3"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "image.txt", "binary file"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest", "old.doc", "save it as .docx"),
    ],
)
def test_bad_text_is_refused_with_a_reason(data: bytes, filename: str, reason: str):
    assert reason in _rejected(data, filename)


def test_encrypted_pdf():
    assert "encrypted" in _rejected(samples.pdf_encrypted_bytes(text="secret"), "s.pdf")


def test_corrupt_pdf():
    assert "damaged" in _rejected(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage", "c.pdf")


def test_truncated_pdf():
    data = samples.pdf_bytes(pages=["Hello there, this will be cut."])
    reason = _rejected(data[: len(data) // 3], "cut.pdf")
    assert "damaged" in reason or "no text" in reason


def test_pdf_without_text_layer():
    assert "no text layer" in _rejected(samples.pdf_blank_bytes(), "scan.pdf")


def test_zip_bomb_docx_is_refused_before_opening():
    reason = _rejected(samples.docx_bomb_bytes(megabytes=20), "bomb.docx")
    assert "zip bomb" in reason and "compressed" in reason


def test_docx_expanding_past_the_total_limit(monkeypatch):
    monkeypatch.setattr(detect, "DOCX_MAX_UNCOMPRESSED", 10_000)
    data = samples.docx_bytes(title="T", sections={"S": ["x " * 5000]})
    assert "would expand" in _rejected(data, "big.docx")


def test_zip_that_is_not_a_word_document():
    assert "not a Word document" in _rejected(samples.zip_bytes(), "archive.docx")


def test_damaged_docx():
    data = samples.docx_bytes(title="T", sections={"S": ["text"]})
    broken = data.replace(b"word/document.xml", b"word/documenX.xml")
    assert "not a Word document" in _rejected(broken, "b.docx")
    truncated = b"PK\x03\x04" + data[4:200]
    assert "damaged" in _rejected(truncated, "t.docx")

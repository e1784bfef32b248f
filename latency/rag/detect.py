"""What an uploaded file really is, judged by its bytes (the name is only a hint), and the cheap
checks that refuse it before anything is stored: empty, binary, not UTF-8, zip bombs."""

from __future__ import annotations

import codecs
import io
import re
import zipfile
from pathlib import PurePath

from latency.models import Document
from latency.rag.errors import SUPPORTED, DocumentRejected

Kind = Document.Kind

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy Office: .doc, .xls, .ppt
# Word documents are XML: real ones expand 5-20x. Python's zipfile never returns more than a
# member's declared size (and then fails the CRC), so the declared sizes are a true bound.
DOCX_MAX_UNCOMPRESSED = 150 * 1024 * 1024
DOCX_MAX_RATIO = 100
DOCX_MAX_MEMBERS = 5000
MARKDOWN_SUFFIXES = {".md", ".markdown", ".mdown"}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
HTML_START = re.compile(r"^\s*(<!doctype html|<html\b|<head\b|<body\b)", re.IGNORECASE)
HTML_TAG = re.compile(r"<(p|div|h[1-6]|title|meta|section|article|table|ul)\b[^>]*>", re.I)
MARKDOWN_HEADING = re.compile(r"^#{1,6} \S", re.MULTILINE)


def document_kind_detect(*, data: bytes, filename: str) -> str:
    """The document's kind, or DocumentRejected with a reason the uploader can act on."""
    if not data.strip():
        raise DocumentRejected("The file is empty.")
    suffix = PurePath(filename).suffix.lower()
    if data.lstrip()[:5] == b"%PDF-":
        return Kind.PDF
    if data[:4] == b"PK\x03\x04":
        docx_guard(data=data)
        return Kind.DOCX
    if data[:8] == OLE_MAGIC:
        raise DocumentRejected(
            "This is an old Microsoft Office file (.doc): save it as .docx and upload it again."
        )
    text = text_decode(data=data)
    if HTML_START.match(text) or (suffix in HTML_SUFFIXES and HTML_TAG.search(text[:4096])):
        return Kind.HTML
    if suffix in MARKDOWN_SUFFIXES or (suffix != ".txt" and MARKDOWN_HEADING.search(text)):
        return Kind.MARKDOWN
    return Kind.TEXT


def text_decode(*, data: bytes) -> str:
    """UTF-8 (with or without a BOM) or BOM-marked UTF-16; anything else is refused with the
    offending byte, rather than guessed: a wrong guess would index mojibake silently."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return text_nul_refuse(text=data.decode("utf-16"))
        except UnicodeDecodeError as error:
            raise DocumentRejected("The file says it is UTF-16 text but is damaged.") from error
    if b"\x00" in data[:8192]:
        raise DocumentRejected(f"This is a binary file, not a supported type ({SUPPORTED}).")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise DocumentRejected(
            f"The text is not UTF-8: byte 0x{data[error.start]:02x} at position {error.start} "
            "cannot be read. Save the file as UTF-8 and upload it again."
        ) from error
    return text_nul_refuse(text=text)


def text_nul_refuse(*, text: str) -> str:
    """PostgreSQL text cannot hold NUL: refuse it here, not in ingestion after the upload."""
    position = text.find("\x00")
    if position >= 0:
        raise DocumentRejected(
            f"The text holds a NUL byte (at character {position}): it is binary or damaged. "
            "Remove it and upload the file again."
        )
    return text


def docx_guard(*, data: bytes) -> None:
    """Refuse a zip that is not a Word document, or that would expand too far (a zip bomb),
    reading only its directory: nothing is decompressed here."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as error:
        raise DocumentRejected("The file is a damaged zip archive.") from error
    with archive:
        members = archive.infolist()
    if "word/document.xml" not in {member.filename for member in members}:
        raise DocumentRejected(
            f"This is a zip archive but not a Word document: upload a {SUPPORTED} file."
        )
    if len(members) > DOCX_MAX_MEMBERS:
        raise DocumentRejected(f"The Word document holds {len(members)} parts: too many.")
    total = sum(member.file_size for member in members)
    if total > DOCX_MAX_UNCOMPRESSED:
        raise DocumentRejected(
            f"The Word document would expand to {total // (1024 * 1024)} MB "
            f"(limit {DOCX_MAX_UNCOMPRESSED // (1024 * 1024)} MB): refused as a zip bomb."
        )
    for member in members:
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > 1024 * 1024 and ratio > DOCX_MAX_RATIO:
            raise DocumentRejected(
                f"A part of the Word document ({member.filename}) is compressed {ratio:.0f}:1 "
                f"(limit {DOCX_MAX_RATIO}:1): refused as a zip bomb."
            )

"""The one error a document can earn: its message is shown to the uploader as it is."""

from __future__ import annotations

SUPPORTED = ".txt, .md, .html, .pdf or .docx"


class DocumentRejected(Exception):
    """The file cannot be ingested; `str(error)` is a sentence the uploader can act on."""

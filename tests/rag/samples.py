"""Tiny documents of every supported kind (and broken ones), built in memory for the tests."""

from __future__ import annotations

import io
import zipfile


def pdf_bytes(*, pages: list[str], catalog_extra: str = "") -> bytes:
    """A valid PDF with one Helvetica text line a page (pypdf cannot write text, so: by hand)."""
    count = len(pages)
    kids = " ".join(f"{3 + 2 * index} 0 R" for index in range(count))
    font = 3 + 2 * count
    objects = [
        f"<< /Type /Catalog /Pages 2 0 R{catalog_extra} >>".encode(),
        f"<< /Type /Pages /Kids [{kids}] /Count {count} >>".encode(),
    ]
    for index, text in enumerate(pages):
        escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        stream = f"BT /F1 12 Tf 72 720 Td ({escaped}) Tj ET".encode()
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * index} 0 R "
            f"/Resources << /Font << /F1 {font} 0 R >> >> >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(
        b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    )
    return out.getvalue()


def pdf_encrypted_bytes(*, text: str) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_bytes(pages=[text]))))
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def pdf_javascript_bytes(*, text: str) -> bytes:
    """A PDF that runs JavaScript when opened (an /OpenAction), around one page of text."""
    action = " /OpenAction << /S /JavaScript /JS (app.alert\\('pwned'\\);) >>"
    return pdf_bytes(pages=[text], catalog_extra=action)


def pdf_blank_bytes() -> bytes:
    """A PDF with pages and no text layer, like a scan."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=612, height=792)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def docx_bytes(*, title: str, sections: dict[str, list[str]]) -> bytes:
    import docx

    document = docx.Document()
    document.add_heading(title, level=1)
    for heading, paragraphs in sections.items():
        document.add_heading(heading, level=2)
        for paragraph in paragraphs:
            document.add_paragraph(paragraph)
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "Region"
    table.rows[0].cells[1].text = "eu-west"
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def docx_bomb_bytes(*, megabytes: int = 20) -> bytes:
    """A .docx-shaped zip whose one part inflates ~1000:1 (zeros)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
        with archive.open("word/media/image1.bin", "w") as member:
            zeros = bytes(1024 * 1024)
            for _ in range(megabytes):
                member.write(zeros)
    return out.getvalue()


def zip_bytes() -> bytes:
    """A zip archive that is not a Word document."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("notes.txt", "hello")
    return out.getvalue()


def markdown_long(*, sections: int = 3, paragraphs: int = 6) -> str:
    """Markdown with nested headings and enough sentences to need several chunks a section."""
    lines = ["# Handbook", ""]
    for section in range(1, sections + 1):
        lines += [f"## Part {section}", ""]
        for paragraph in range(1, paragraphs + 1):
            sentences = [
                f"Sentence {n} of paragraph {paragraph} in part {section} talks about latency."
                for n in range(1, 7)
            ]
            lines += [" ".join(sentences), ""]
    return "\n".join(lines)

"""Latin-1 file names in multipart uploads, kept rather than lost.

Django decodes a part's headers as UTF-8 and skips a header it cannot decode, so a file whose
name was sent in latin-1 (older clients, curl on a latin-1 terminal) vanished from the upload
without a word. This stream wrapper passes the body through unchanged, except that a
Content-Disposition line that is not UTF-8 is re-encoded from latin-1 to UTF-8.
"""

from __future__ import annotations

from typing import Any

_DISPOSITION = b"content-disposition:"
_MAX_HELD = 4096  # a part header line is at most 1024 bytes (Django's limit): hold no more


class Latin1HeaderNames:
    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self._held = b""
        self._ended = False

    def read(self, size: int = -1) -> bytes:
        while True:
            if self._ended:
                data, self._held = self._held, b""
                return _transcoded(data)
            chunk = self._stream.read(size) if size and size > 0 else self._stream.read()
            data = self._held + chunk
            if not chunk or not size or size < 0:
                self._ended = True
                self._held = data
                continue
            # Keep a line that may be cut in two until its end arrives.
            cut = data.rfind(b"\n") + 1
            if len(data) - cut > _MAX_HELD:  # binary content, not a header line
                cut = len(data)
            released, self._held = data[:cut], data[cut:]
            if released:
                return _transcoded(released)

    def readline(self, size: int = -1) -> bytes:  # Django's parser only calls read()
        return self.read(size)


def _transcoded(data: bytes) -> bytes:
    if b"filename" not in data:
        return data
    lines = data.split(b"\n")
    for index, line in enumerate(lines):
        if line[:20].lower() == _DISPOSITION:
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                lines[index] = line.decode("latin-1").encode("utf-8")
    return b"\n".join(lines)

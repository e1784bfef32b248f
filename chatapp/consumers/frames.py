"""Read one htmx websocket frame of the chat: a JSON object with an `action` and its fields.

Anything else gets a reason to show the user, never an exception: binary or oversized frames,
JSON that is not an object or nests too deep, unknown actions, fields of the wrong type, and
text that PostgreSQL cannot store (NUL, lone surrogates).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field

ACTIONS = ("send", "stop", "wrong")
MAX_DEPTH = 20  # an htmx frame nests two levels; deeper is not from our page
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_TRUE = {"on", "true", "1", True}


@dataclass(frozen=True)
class Frame:
    action: str
    message: str = ""
    use_documents: bool = False
    message_id: str = ""


class FrameRefused(ValueError):
    """The frame cannot be acted on; the text says why, for the user."""


@dataclass
class Pace:
    """One connection's token bucket: `burst` at once, then `per_minute` (it lives and dies
    with the socket, in the one process that holds it)."""

    burst: int
    per_minute: float
    tokens: float = field(init=False)
    at: float = field(init=False)

    def __post_init__(self) -> None:
        self.tokens, self.at = float(self.burst), time.monotonic()

    def take(self) -> float:
        """0 when one more may pass now (and it is counted), else the seconds to wait."""
        now = time.monotonic()
        self.tokens = min(float(self.burst), self.tokens + (now - self.at) * self.per_minute / 60)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) * 60 / self.per_minute


def _depth_ok(text: str) -> bool:
    # Count brackets outside strings before handing the text to json (which recurses).
    depth, in_string, escaped = 0, False, False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return False
        elif char in "]}":
            depth -= 1
    return True


def frame_parse(*, text: str | None, max_bytes: int, max_chars: int) -> Frame:
    if text is None:
        raise FrameRefused("Binary frames are not supported.")
    if len(text) > max_bytes or len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        raise FrameRefused("That message is too large to send.")
    if not _depth_ok(text):
        raise FrameRefused("The server could not read that message.")
    try:
        frame = json.loads(text)
    except (ValueError, RecursionError):
        frame = None
    if not isinstance(frame, dict):
        raise FrameRefused("The server could not read that message.")
    action = frame.get("action", "send")
    if action not in ACTIONS:
        raise FrameRefused(f"Unknown action {str(action)[:40]!r}.")
    use_documents = frame.get("use_documents", False)
    if not isinstance(use_documents, str | bool):
        raise FrameRefused("`use_documents` must be on or off.")
    message = frame.get("message", "")
    if action == "send":
        if not isinstance(message, str) or not message.strip():
            raise FrameRefused("Type a message first.")
        if len(message) > max_chars:
            raise FrameRefused(f"Messages are limited to {max_chars} characters.")
        if _UNSTORABLE.search(message):
            raise FrameRefused("That message contains characters that cannot be stored.")
    return Frame(
        action=action, message=message.strip() if isinstance(message, str) else "",
        use_documents=use_documents in _TRUE, message_id=str(frame.get("message_id", ""))[:40],
    )  # fmt: skip

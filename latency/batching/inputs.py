"""Reading a job's input: OpenAI batch lines (JSONL), or a CSV, JSONL or pasted lines with an
instruction whose placeholders name the fields. Every error names its line; nothing is made."""

from __future__ import annotations

import csv
import io
import json
import string
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

CHAT_URL = "/v1/chat/completions"
MAX_ERRORS = 20


@dataclass(frozen=True)
class LineError:
    message: str
    line: int | None = None
    code: str = "invalid_request"
    param: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "param": self.param, "line": self.line}


class BatchInputError(Exception):
    def __init__(self, errors: list[LineError]) -> None:
        self.errors = errors
        super().__init__("; ".join(e.message for e in errors[:3]))


@dataclass
class ItemSpec:
    custom_id: str
    body: dict[str, Any]


@dataclass
class ParsedInput:
    items: list[ItemSpec] = field(default_factory=list)
    model: str = ""


def _text(data: bytes) -> str:
    if not data.strip():
        raise BatchInputError([LineError("The file is empty.", code="empty_file")])
    if len(data) > settings.BATCH_MAX_FILE_BYTES:
        limit_mb = settings.BATCH_MAX_FILE_BYTES / (1024 * 1024)
        raise BatchInputError([LineError(f"The file is larger than {limit_mb:g} MB.",
                                         code="file_too_large")])  # fmt: skip
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise BatchInputError(
            [LineError(f"Line {line} is not UTF-8 text.", line=line, code="invalid_encoding")]
        ) from None
    lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    if lines > settings.BATCH_MAX_LINES:
        raise BatchInputError([LineError(
            f"The file has {lines} lines; a batch holds at most {settings.BATCH_MAX_LINES}.",
            code="too_many_lines",
        )])  # fmt: skip
    return text


def openai_lines_parse(*, data: bytes, known_models: set[str], url: str = CHAT_URL) -> ParsedInput:
    """OpenAI batch input: `{"custom_id", "method": "POST", "url", "body"}` a line, one model."""
    text = _text(data)
    parsed, errors, seen = ParsedInput(), [], set()
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        problem = _openai_line(raw, number, url, seen, known_models, parsed)
        if problem is not None:
            errors.append(problem)
            if len(errors) >= MAX_ERRORS:
                break
    if not errors and not parsed.items:
        errors.append(LineError("The file has no requests.", code="empty_file"))
    if errors:
        raise BatchInputError(errors)
    return parsed


def _openai_line(raw: str, number: int, url: str, seen: set[str], known_models: set[str],
                 parsed: ParsedInput) -> LineError | None:  # fmt: skip
    try:
        line = json.loads(raw)
    except ValueError:
        return LineError(f"Line {number} is not valid JSON.", line=number, code="invalid_json")
    if not isinstance(line, dict):
        return LineError(f"Line {number} is not a JSON object.", line=number, code="invalid_json")
    custom_id = line.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        return LineError(f"Line {number} has no custom_id.", line=number, param="custom_id")
    if custom_id in seen:
        return LineError(f"Line {number} repeats the custom_id {custom_id!r}.", line=number,
                         code="duplicate_custom_id", param="custom_id")  # fmt: skip
    seen.add(custom_id)
    if line.get("method") != "POST":
        return LineError(f"Line {number}: method must be POST.", line=number, param="method")
    if line.get("url") != url:
        return LineError(f"Line {number}: url must be {url}, not {line.get('url')!r}.",
                         line=number, code="invalid_url", param="url")  # fmt: skip
    body = line.get("body")
    if not isinstance(body, dict):
        return LineError(f"Line {number} has no body object.", line=number, param="body")
    if body.get("stream"):
        return LineError(f"Line {number}: stream is not supported in a batch.", line=number,
                         code="stream_unsupported", param="body.stream")  # fmt: skip
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(
        isinstance(m, dict) and isinstance(m.get("content"), str) for m in messages
    ):  # fmt: skip
        return LineError(f"Line {number}: body.messages must be a list of {{role, content}}.",
                         line=number, param="body.messages")  # fmt: skip
    model = body.get("model")
    if model not in known_models:
        return LineError(f"Line {number}: unknown model {model!r}.", line=number,
                         code="model_not_found", param="body.model")  # fmt: skip
    if parsed.model and model != parsed.model:
        return LineError(f"Line {number}: a batch uses one model ({parsed.model}), not {model}.",
                         line=number, code="mixed_models", param="body.model")  # fmt: skip
    parsed.model = model
    parsed.items.append(ItemSpec(custom_id=custom_id, body=body))
    return None


def placeholders(*, instruction: str) -> list[str]:
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(instruction) if name]
    except ValueError as error:
        raise BatchInputError([LineError(f"The instruction is malformed: {error}.")]) from None
    if not names:
        raise BatchInputError([LineError("The instruction needs a placeholder such as {text}.")])
    return names


def rows_parse(*, data: bytes, filename: str, instruction: str, model: str) -> ParsedInput:
    """A CSV (columns by name), JSONL of objects, or one item a line, filled into `instruction`."""
    names = placeholders(instruction=instruction)
    text = _text(data)
    lower = filename.lower()
    if lower.endswith(".csv"):
        rows = _csv_rows(text, names)
    elif lower.endswith((".jsonl", ".json", ".ndjson")):
        rows = _jsonl_rows(text, names)
    else:
        if names != ["text"] and set(names) != {"text"}:
            raise BatchInputError([LineError("Pasted lines fill the placeholder {text} only.")])
        rows = [(n, {"text": line}) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not rows:
        raise BatchInputError([LineError("The file has no items.", code="empty_file")])
    parsed = ParsedInput(model=model)
    for number, row in rows:
        prompt = instruction.format(**{name: row[name] for name in names})
        parsed.items.append(ItemSpec(
            custom_id=f"line-{number}",
            body={"model": model, "messages": [{"role": "user", "content": prompt}]},
        ))  # fmt: skip
    return parsed


def _csv_rows(text: str, names: list[str]) -> list[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text))
    columns = reader.fieldnames or []
    missing = [name for name in names if name not in columns]
    if missing:
        raise BatchInputError([LineError(
            f"Line 1: the CSV has no column {missing[0]!r} (columns: {', '.join(columns)}).",
            line=1, code="missing_column",
        )])  # fmt: skip
    rows = []
    for row in reader:
        values = {name: (row.get(name) or "") for name in names}
        if any(value.strip() for value in values.values()):
            rows.append((reader.line_num, values))
    return rows


def _jsonl_rows(text: str, names: list[str]) -> list[tuple[int, dict[str, str]]]:
    rows, errors = [], []
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
            assert isinstance(row, dict)
        except (ValueError, AssertionError):
            errors.append(LineError(f"Line {number} is not a JSON object.", line=number,
                                    code="invalid_json"))  # fmt: skip
            continue
        missing = [name for name in names if name not in row]
        if missing:
            errors.append(LineError(f"Line {number} has no field {missing[0]!r}.", line=number,
                                    code="missing_column"))  # fmt: skip
            continue
        rows.append((number, {name: str(row[name]) for name in names}))
    if errors:
        raise BatchInputError(errors[:MAX_ERRORS])
    return rows

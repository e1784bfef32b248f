"""Example values that validate against a JSON schema, for tool arguments and structured output.

Covers what function schemas use: object (properties, required), string (enum, const, format,
length), integer and number (bounds), boolean, null, array (items, length), type lists,
anyOf/oneOf (the first branch) and local `$ref`s (`#/$defs/...`, where pydantic puts nested
models). Strings come from the words of the question, so that `{"city": ...}` for "weather in
Paris" reads like an answer.
"""

from __future__ import annotations

import random
from typing import Any

_FORMATS = {
    "date": "2025-01-15",
    "date-time": "2025-01-15T09:30:00Z",
    "time": "09:30:00",
    "email": "user@example.com",
    "uri": "https://example.com/item",
    "uuid": "123e4567-e89b-42d3-a456-426614174000",
}
_FALLBACK_WORDS = ("example", "value", "sample")
MAX_DEPTH = 6


def _type_of(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        # `["string", "null"]` is how strict mode spells an optional value: give the value.
        kind = next((k for k in kind if k != "null"), "null")
    if isinstance(kind, str):
        return kind
    if "properties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    return "string"


def _string(*, name: str, schema: dict[str, Any], words: list[str], rng: random.Random) -> str:
    if schema.get("format") in _FORMATS:
        return _FORMATS[schema["format"]]
    pool = words or list(_FALLBACK_WORDS)
    # Capitalised words (past the first) are usually the names a tool wants: cities, people.
    names = [word for word in pool[1:] if word[:1].isupper()]
    text = rng.choice(names) if names and name else " ".join(pool[: rng.randint(1, 3)])
    low = schema.get("minLength", 0)
    high = schema.get("maxLength")
    text = text.ljust(low, "x")
    return text[:high] if isinstance(high, int) else text


def _number(*, schema: dict[str, Any], rng: random.Random, whole: bool) -> int | float:
    low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
    high = schema.get("maximum", schema.get("exclusiveMaximum", low + 100))
    if "exclusiveMinimum" in schema:
        low += 1 if whole else 0.5
    if "exclusiveMaximum" in schema:
        high -= 1 if whole else 0.5
    if whole:
        return rng.randint(int(low), max(int(low), int(high)))
    return round(rng.uniform(low, max(low, high)), 2)


def _resolved(*, schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """The schema a local `$ref` points at (`#/$defs/Address`), followed a few hops at most;
    keywords beside a `$ref` (a description, say) apply too."""
    for _ in range(MAX_DEPTH):
        ref = schema.get("$ref")
        if not isinstance(ref, str) or not ref.startswith("#"):
            break
        target: Any = root
        for part in (p.replace("~1", "/").replace("~0", "~") for p in ref[1:].split("/") if p):
            target = target.get(part) if isinstance(target, dict) else None
        siblings = {key: value for key, value in schema.items() if key != "$ref"}
        schema = {**target, **siblings} if isinstance(target, dict) else siblings
    return schema


def schema_value_generate(
    *, schema: Any, words: list[str], rng: random.Random, name: str = "", depth: int = 0,
    root: dict[str, Any] | None = None,
) -> Any:  # fmt: skip
    """A value valid for `schema`; `words` supply the strings, `rng` every other choice."""
    if not isinstance(schema, dict):
        return {}
    root = schema if root is None else root
    if "$ref" in schema:
        schema = _resolved(schema=schema, root=root)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return rng.choice(schema["enum"])
    for key in ("anyOf", "oneOf", "allOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            return schema_value_generate(
                schema=schema[key][0],
                words=words,
                rng=rng,
                name=name,
                depth=depth + 1,
                root=root,
            )
    kind = _type_of(schema)
    if kind == "object":
        properties = schema.get("properties") or {}
        required = set(schema.get("required") or ())
        value: dict[str, Any] = {}
        for key, sub in properties.items():
            # Optional properties come half the time, so both shapes of an answer occur.
            if depth < MAX_DEPTH and (key in required or rng.random() < 0.5):
                value[key] = schema_value_generate(
                    schema=sub, words=words, rng=rng, name=key, depth=depth + 1, root=root
                )
        return value
    if kind == "array":
        low = schema.get("minItems", 1)
        high = schema.get("maxItems", max(low, 3))
        count = 0 if depth >= MAX_DEPTH else rng.randint(low, max(low, min(high, low + 2)))
        return [
            schema_value_generate(
                schema=schema.get("items", {}), words=words, rng=rng, depth=depth + 1, root=root
            )
            for _ in range(count)
        ]
    if kind == "integer":
        return _number(schema=schema, rng=rng, whole=True)
    if kind == "number":
        return _number(schema=schema, rng=rng, whole=False)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    return _string(name=name, schema=schema, words=words, rng=rng)

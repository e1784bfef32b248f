"""The example-value generator: values validate against the schemas tools and outputs use."""

from __future__ import annotations

import random

from latency.simulator.schema_values import schema_value_generate
from tests.simulator.schema_check import schema_problems

ORDER = {
    "type": "object",
    "properties": {
        "customer": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "email": {"type": "string", "format": "email"},
                "vip": {"type": "boolean"},
            },
            "required": ["name", "vip"],
            "additionalProperties": False,
        },
        "items": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "properties": {
                    "sku": {"type": "string", "minLength": 4},
                    "quantity": {"type": "integer", "minimum": 1, "maximum": 9},
                    "price": {"type": "number", "minimum": 0.5, "maximum": 99},
                },
                "required": ["sku", "quantity", "price"],
            },
        },
        "status": {"type": "string", "enum": ["new", "paid", "shipped"]},
        "note": {"type": ["string", "null"]},
    },
    "required": ["customer", "items", "status", "note"],
    "additionalProperties": False,
}


def test_generated_values_validate_for_many_draws() -> None:
    for seed in range(200):
        value = schema_value_generate(
            schema=ORDER, words=["order", "Berlin"], rng=random.Random(seed)
        )
        assert schema_problems(value, ORDER) == [], value


def test_generation_is_deterministic_and_uses_the_question_words() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    first = schema_value_generate(schema=schema, words=["weather", "Paris"], rng=random.Random(3))
    assert first == schema_value_generate(
        schema=schema, words=["weather", "Paris"], rng=random.Random(3)
    )
    assert first == {"city": "Paris"}


def test_enums_consts_and_branches_are_respected() -> None:
    schema = {
        "type": "object",
        "properties": {
            "unit": {"enum": ["celsius", "fahrenheit"]},
            "version": {"const": 2},
            "either": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
        },
        "required": ["unit", "version", "either"],
    }
    for seed in range(50):
        value = schema_value_generate(schema=schema, words=[], rng=random.Random(seed))
        assert value["unit"] in ("celsius", "fahrenheit") and value["version"] == 2
        assert isinstance(value["either"], int)


def test_nested_models_referred_to_in_defs_validate() -> None:
    from pydantic import BaseModel, Field

    class Address(BaseModel):
        street: str
        postcode: str = Field(min_length=4)

    class Office(BaseModel):
        name: str
        address: Address
        branches: list[Address]
        previous: Address | None = None

    schema = Office.model_json_schema()
    assert "$defs" in schema, "pydantic refers to the nested model"
    for seed in range(50):
        value = schema_value_generate(schema=schema, words=["office", "Porto"],
                                      rng=random.Random(seed))  # fmt: skip
        office = Office.model_validate(value)
        assert office.address.street and len(office.branches) >= 1

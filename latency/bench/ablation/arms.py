"""The ablation's arms in the seed article's order, each one StrategySettings change on top of
the one before, and the cloud-only catalog the first four arms run against.

"Cloud region only" against "edge endpoints" is not a setting: routing picks among the endpoints
its catalog lists. So the first four arms talk to a daphne whose catalog is the user's own with
every edge endpoint (region `edge*`, the test routing itself uses) left out; from arm 5 on, a
daphne with the catalog unchanged. Both share the database, Redis and the simulator.
"""

from __future__ import annotations

import json
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SETTLE_S = 1.5  # every process re-reads StrategySettings within a second
DRAIN_S = 60.0  # the longest wait for a segment's last answers after its window
STANDARD_MODEL = "gpt-5"  # the seed article's baseline model; else the catalog's first standard


@dataclass(frozen=True)
class Arm:
    key: str
    label: str
    edge: bool  # served by the daphne whose catalog has edge endpoints
    changes: dict[str, Any] = field(default_factory=dict)  # on top of the arm before
    seed_p95_ms: float | None = None  # the seed article's figure for this arm
    seed_ttft_ms: float | None = None


def arms_build(*, standard_model: str) -> list[Arm]:
    baseline = {
        "exact_cache": False, "semantic_cache": False, "speculative_cache": False,
        "streaming": False, "routing": False, "fixed_model": standard_model, "hedging": False,
        "compression": False, "rag": True,
    }  # fmt: skip
    return [
        Arm("baseline", f"1 baseline ({standard_model}, cloud)", False, baseline, 3200),
        Arm("semantic_cache", "2 + semantic cache", False, {"semantic_cache": True}, 1900),
        Arm("streaming", "3 + streaming", False, {"streaming": True}, None, 450),
        Arm("fast_model", "4 + fast model (routing)", False,
            {"routing": True, "fixed_model": ""}, 1100),
        Arm("edge", "5 + edge endpoints", True, {}, 800),
        Arm("compression", "6 + compression", True, {"compression": True}, None),
        Arm("defaults", "7 everything (defaults)", True, {}, 600, 200),
    ]  # fmt: skip


def arm_settings(*, arms: list[Arm], key: str) -> dict[str, Any]:
    """The full StrategySettings values of an arm: its changes and every arm's before it;
    the last arm is the model's defaults exactly."""
    from latency.models import StrategySettings

    defaults = {
        f.name: f.get_default() for f in StrategySettings._meta.concrete_fields
        if f.name not in ("id", "updated_at")
    }  # fmt: skip
    if key == arms[-1].key:
        return defaults
    values = dict(defaults)
    for arm in arms:
        values.update(arm.changes)
        if arm.key == key:
            return values
    raise KeyError(key)


def settings_apply(*, values: dict[str, Any]) -> None:
    from latency.models import CacheEntry, StrategySettings

    StrategySettings.objects.update_or_create(id=1, defaults=values)
    CacheEntry.objects.all().delete()  # every segment starts cold: hits come from its own plan
    time.sleep(SETTLE_S)


def standard_model_choose(*, catalog_path: Path) -> str:
    """gpt-5 when the catalog has it, else its first model of the standard tier, else its
    chat default: the baseline's one model."""
    data = tomllib.loads(catalog_path.read_text())
    models = data.get("models", {})
    if STANDARD_MODEL in models:
        return STANDARD_MODEL
    standard = [name for name, raw in models.items() if raw.get("tier") == "standard"]
    return standard[0] if standard else data.get("defaults", {}).get("chat", next(iter(models)))


def catalog_cloud_write(*, source: Path, target: Path) -> dict[str, Any]:
    """A copy of the catalog without edge endpoints; what was dropped, for the report."""
    data = tomllib.loads(source.read_text())
    endpoints = data.get("endpoints", {})
    edge = sorted(
        name for name, raw in endpoints.items() if str(raw.get("region", "")).startswith("edge")
    )
    data["endpoints"] = {n: raw for n, raw in endpoints.items() if n not in edge}
    models = data.get("models", {})
    for raw in models.values():
        raw["endpoints"] = [e for e in raw.get("endpoints", []) if e not in edge]
    dropped = sorted(name for name, raw in models.items() if not raw["endpoints"])
    data["models"] = {name: raw for name, raw in models.items() if name not in dropped}
    remaining = list(data["models"])
    for feature, model in list(data.get("defaults", {}).items()):
        if model in dropped and remaining:
            data["defaults"][feature] = remaining[0]
    target.write_text(_toml_dump(data))
    return {"edge_endpoints": edge, "models_without_cloud": dropped}


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))  # a TOML basic string takes JSON's escapes


def _toml_dump(data: dict[str, Any]) -> str:
    """Enough TOML for a catalog: top-level tables of scalars, and tables of such tables."""
    lines: list[str] = []
    for section, body in data.items():
        if not isinstance(body, dict):
            lines.append(f"{section} = {_toml_value(body)}")
            continue
        scalars = {k: v for k, v in body.items() if not isinstance(v, dict)}
        if scalars or not body:
            lines.append(f"\n[{section}]")
            lines += [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in scalars.items()]
        for name, table in ((k, v) for k, v in body.items() if isinstance(v, dict)):
            lines.append(f"\n[{section}.{json.dumps(name)}]")
            lines += [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"

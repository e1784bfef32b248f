"""The model catalog (TOML): models, their endpoints, regions and tiers, read once per process."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, fields
from functools import cache
from pathlib import Path

from latency.errors import UnknownModelError

_VARIABLE = re.compile(r"\$\{([A-Z0-9_]+)\}")


@dataclass(frozen=True)
class Endpoint:
    name: str
    base_url: str
    region: str
    api_key: str
    label: str = ""
    rtt_ms: float | None = None  # the round trip the region implies: a prior for routing


@dataclass(frozen=True)
class LatencyPriors:
    """What a model's latency is known to be before any trace, in ms, without the network."""

    ttft_p50_ms: float
    ttft_p90_ms: float
    ttft_p95_ms: float
    total_p50_ms: float
    total_p95_ms: float


@dataclass(frozen=True)
class ModelSpec:
    name: str
    upstream_name: str
    tier: str
    quality: int
    cost_per_mtok: float
    context: int
    endpoints: tuple[Endpoint, ...]
    priors: LatencyPriors | None = None


@dataclass(frozen=True)
class Catalog:
    models: dict[str, ModelSpec]
    defaults: dict[str, str]

    def model_get(self, name: str) -> ModelSpec:
        try:
            return self.models[name]
        except KeyError:
            raise UnknownModelError(name, known=sorted(self.models)) from None

    def model_default(self, feature: str) -> ModelSpec:
        return self.model_get(self.defaults.get(feature) or self.defaults["chat"])

    def endpoints(self) -> list[Endpoint]:
        seen: dict[str, Endpoint] = {}
        for spec in self.models.values():
            for endpoint in spec.endpoints:
                seen.setdefault(endpoint.name, endpoint)
        return list(seen.values())


def _expand(value: str, environ: dict[str, str]) -> str:
    return _VARIABLE.sub(lambda m: environ.get(m.group(1), ""), value)


def catalog_parse(*, text: str, environ: dict[str, str]) -> Catalog:
    data = tomllib.loads(text)
    endpoints: dict[str, Endpoint] = {}
    for name, raw in data.get("endpoints", {}).items():
        required = raw.get("requires_env")
        if required and not environ.get(required):
            continue
        key_env = raw.get("api_key_env")
        endpoints[name] = Endpoint(
            name=name,
            base_url=_expand(raw["base_url"], environ).rstrip("/"),
            region=raw.get("region", ""),
            # The SDK insists on a key; endpoints that need none get a placeholder.
            api_key=environ.get(key_env, "") if key_env else "not-needed",
            label=raw.get("label", ""),
            rtt_ms=float(raw["rtt_ms"]) if "rtt_ms" in raw else None,
        )
    models: dict[str, ModelSpec] = {}
    for name, raw in data.get("models", {}).items():
        usable = tuple(endpoints[e] for e in raw["endpoints"] if e in endpoints)
        if not usable:
            continue
        models[name] = ModelSpec(
            name=name,
            upstream_name=raw.get("upstream_name", name),
            tier=raw["tier"],
            quality=int(raw.get("quality", 1)),
            cost_per_mtok=float(raw.get("cost_per_mtok", 0)),
            context=int(raw.get("context", 8192)),
            endpoints=usable,
            priors=_priors_parse(raw),
        )
    return Catalog(models=models, defaults=dict(data.get("defaults", {})))


def _priors_parse(raw: dict[str, object]) -> LatencyPriors | None:
    names = [field.name for field in fields(LatencyPriors)]
    if not all(name in raw for name in names):
        return None
    return LatencyPriors(**{name: float(raw[name]) for name in names})


@cache
def catalog_load(path: str | None = None) -> Catalog:
    from django.conf import settings

    return catalog_parse(
        text=Path(path or settings.MODEL_CATALOG).read_text(),
        environ=settings.CATALOG_VARIABLES,
    )

"""Run-time configuration of the simulator: the faults it injects and its realism switches.

Faults come from rates (command line or `POST /sim/config`) or are forced for one request
with the `X-Sim-Fault` header: "malformed" is a stream line that is not JSON after the first
pieces, "reset" the connection dropped after the first pieces (the stream never ends).
Prefill, per-endpoint capacity and rate limits each switch on and off on their own; `0` turns
a capacity or a limit off.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from latency.simulator.profiles import ENDPOINT_CAPACITY, ENDPOINT_RPM, ENDPOINT_TPM

FAULTS = ("429", "500", "timeout", "stall", "malformed", "reset")
FAULT_HEADER = "x-sim-fault"

TIMEOUT_HOLD_S = 60.0  # a "timeout" holds the connection silent this long (times time_scale)
STALL_HOLD_S = 120.0  # a "stall" pauses mid-stream this long (times time_scale)
STALL_AFTER_TOKENS = 3  # also where a "malformed" or "reset" stream breaks
BREAKS = ("malformed", "reset")  # faults that break a stream (or a body) after it began
RETRY_AFTER_S = 1.0

_RATES = ("error_429", "error_500", "timeout_rate", "stall_rate", "malformed_rate", "reset_rate")
_FAULT_OF_RATE = dict(zip(_RATES, FAULTS, strict=True))


@dataclass(frozen=True)
class SimConfig:
    error_429: float = 0.0
    error_500: float = 0.0
    timeout_rate: float = 0.0
    stall_rate: float = 0.0
    malformed_rate: float = 0.0
    reset_rate: float = 0.0
    time_scale: float = 1.0
    prefill: bool = True
    capacity: int = ENDPOINT_CAPACITY  # concurrent requests per endpoint; 0: no queue
    rpm: int = ENDPOINT_RPM  # requests per minute per endpoint; 0: no limit
    tpm: int = ENDPOINT_TPM  # tokens per minute per endpoint; 0: no limit

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# The "bare" profile: only the per-model latency profiles, as before realism existed.
BARE: dict[str, Any] = {"prefill": False, "capacity": 0, "rpm": 0, "tpm": 0}
_INTEGERS = ("capacity", "rpm", "tpm")


def config_validate(*, config: SimConfig) -> SimConfig:
    """Check that rates are probabilities whose sum is at most 1 and time_scale is >= 0."""
    rates = [getattr(config, name) for name in _RATES]
    if any(not 0.0 <= rate <= 1.0 for rate in rates):
        raise ValueError("fault rates must be between 0 and 1")
    if sum(rates) > 1.0 + 1e-9:
        raise ValueError("fault rates must add up to at most 1")
    if config.time_scale < 0:
        raise ValueError("time_scale must be >= 0")
    if any(getattr(config, name) < 0 for name in _INTEGERS):
        raise ValueError("capacity, rpm and tpm must be >= 0 (0 turns them off)")
    return config


def config_update(*, config: SimConfig, changes: Any) -> SimConfig:
    """A new config with `changes` (a JSON object of known fields) applied, validated."""
    if not isinstance(changes, dict):
        raise ValueError("the body must be a JSON object")
    known = {field.name for field in fields(SimConfig)}
    unknown = sorted(set(changes) - known)
    if unknown:
        raise ValueError(f"unknown config fields: {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for name, value in changes.items():
        if name == "prefill":
            if not isinstance(value, bool):
                raise ValueError("prefill must be true or false")
            values[name] = value
        elif name in _INTEGERS:
            # null is accepted as "off", the way a client would naturally say "no limit".
            if value is None:
                value = 0
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be a whole number (0 or null: off)")
            values[name] = value
        else:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name} must be a number")
            values[name] = float(value)
    return config_validate(config=replace(config, **values))


def fault_choose(*, config: SimConfig, rng: random.Random, forced: str | None) -> str | None:
    """The fault for one request: the forced one, else one drawn from the rates, else None."""
    if forced:
        if forced not in FAULTS:
            raise ValueError(f"X-Sim-Fault must be one of {', '.join(FAULTS)}")
        return forced
    draw = rng.random()
    for name in _RATES:
        rate = getattr(config, name)
        if draw < rate:
            return _FAULT_OF_RATE[name]
        draw -= rate
    return None

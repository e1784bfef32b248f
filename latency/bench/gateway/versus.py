"""`--versus`: the same load against another OpenAI-compatible gateway in front of the same
simulator (LiteLLM's proxy, started here with `--versus litellm`, or any URL), and straight to
the simulator, interleaved round by round so that all three see the same machine. Added TTFT =
client TTFT through a gateway minus client TTFT direct (p50 - p50, p95 - p95)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from latency.bench.gateway.drive import load_run
from latency.bench.gateway.load import Endpoint
from latency.bench.report import percentiles
from latency.testing.processes import ROOT, Child, _die_with_parent, port_free
from latency.testing.serve import ServeChild

LEVELS = (1, 20)
REGION = "edge-eu"  # the endpoint the app's catalog tries first for gpt-4o-mini


def litellm_config_write(*, path: Path, upstream: str, model: str) -> Path:
    path.write_text(
        "model_list:\n"
        f"  - model_name: {model}\n"
        "    litellm_params:\n"
        f"      model: openai/{model}\n"
        f"      api_base: {upstream}\n"
        "      api_key: sk-simulator\n"
        "litellm_settings:\n"
        "  drop_params: true\n"
    )
    return path


def litellm_binary() -> Path:
    """LiteLLM's CLI: from a venv of its own under .data (its pins would downgrade the app's
    uvicorn and websockets), else beside this Python, else on PATH."""
    for candidate in (ROOT / ".data" / "litellm-venv" / "bin" / "litellm",
                      Path(sys.executable).parent / "litellm"):  # fmt: skip
        if candidate.exists():
            return candidate
    found = shutil.which("litellm")
    if found is None:
        raise RuntimeError("--versus litellm needs LiteLLM's proxy: see the `bench` extra")
    return Path(found)


def litellm_start(*, upstream: str, model: str, work: Path, timeout_s: float = 240.0) -> Child:
    """LiteLLM's proxy, one worker, in front of `upstream`; ready when its liveness answers."""
    config = litellm_config_write(path=work / "litellm.yaml", upstream=upstream, model=model)
    port = port_free()
    log = (work / "litellm.log").open("wb")
    command = [str(litellm_binary()), "--config", str(config),
               "--port", str(port), "--num_workers", "1"]  # fmt: skip
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                               preexec_fn=_die_with_parent)  # fmt: skip
    child = Child(url=f"http://127.0.0.1:{port}", process=process, log_path=work / "litellm.log",
                  files=[log])  # fmt: skip
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"{child.url}/health/liveliness", timeout=2) as response:
                if response.status == 200:
                    return child
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            child.stop()
            raise RuntimeError(f"litellm did not start; see {work / 'litellm.log'}")
        time.sleep(0.5)


def versus_run(
    *, serve: ServeChild, user_id: int, key: str, options: dict[str, Any], work: Path
) -> dict[str, Any]:
    model, target = options["model"], options["versus"]
    upstream = f"{serve.simulator_url}/{REGION}/v1"
    started: Child | None = None
    if target == "litellm":
        sys.stderr.write("starting LiteLLM's proxy\n")
        started = litellm_start(upstream=upstream, model=model, work=work)
        other_url = f"{started.url}/v1"
    else:
        other_url = target.rstrip("/")
    endpoints = [
        Endpoint(name="direct", base_url=upstream, api_key="sk-simulator", model=model),
        Endpoint(name="subsecond", base_url=f"{serve.url}/v1", api_key=key, model=model),
        Endpoint(name="versus", base_url=other_url, api_key="sk-simulator", model=model),
    ]
    rounds = max(1, options["versus_rounds"])
    seconds = options["versus_seconds"] / rounds / len(endpoints)
    levels = []
    try:
        for streams in LEVELS:
            samples: dict[str, list[Any]] = {e.name: [] for e in endpoints}
            for round_index in range(rounds):
                # Rotate who goes first, so that no gateway always follows another's tail.
                shift = round_index % len(endpoints)
                for endpoint in endpoints[shift:] + endpoints[:shift]:
                    sys.stderr.write(f"versus: {streams} streams, round {round_index + 1}/"
                                     f"{rounds}, {endpoint.name}\n")  # fmt: skip
                    load = load_run(endpoint=endpoint, streams=streams, loop="closed",
                                    seconds=seconds)  # fmt: skip
                    samples[endpoint.name].extend(load.samples)
            levels.append(_level(streams=streams, samples=samples, serve=serve))
    finally:
        if started is not None:
            started.stop()
    return {"target": target if target != "litellm" else "LiteLLM proxy (started here)",
            "rounds": rounds, "levels": levels}  # fmt: skip


def _level(*, streams: int, samples: dict[str, list[Any]], serve: ServeChild) -> dict[str, Any]:
    """Per gateway: client TTFT, and client TTFT minus the simulator's planned TTFT where the
    stream's id is the simulator's own completion id (direct; a gateway that passes it on)."""
    since = min(s.sent_at for group in samples.values() for s in group)
    planned = {
        id_: record["planned_ttft_ms"] for id_, record in serve.planned(after_ts=since - 1).items()
    }
    gateways, ttft_stats = {}, {}
    for name, group in samples.items():
        ok = [s for s in group if not s.error]
        ttft_stats[name] = percentiles([s.ttft_ms for s in ok])
        gateways[name] = {
            "requests": len(group), "errors": len(group) - len(ok),
            "client_ttft_ms": ttft_stats[name],
            "client_minus_planned_ms": percentiles(
                [s.ttft_ms - planned[s.chunk_id] for s in ok if s.chunk_id in planned]
            ),
        }  # fmt: skip
    direct = ttft_stats["direct"]
    added = {
        name: {stat: round(stats[stat] - direct[stat], 3) for stat in ("p50", "p95")}
        for name, stats in ttft_stats.items()
        if name != "direct" and stats.get("n") and direct.get("n")
    }
    return {"streams": streams, "gateways": gateways, "added_ttft_ms": added}

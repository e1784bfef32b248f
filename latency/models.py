"""What Subsecond keeps in PostgreSQL: conversations, messages, and a trace of every request."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from django.db.models import Q
from pgvector.django import HnswIndex, VectorField


class Feature(models.TextChoices):
    CHAT = "chat", "Chat"
    SEARCH = "search", "Search / Q&A"
    BACKGROUND = "background", "Background"


class Conversation(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations"
    )
    title = models.CharField(max_length=200, default="New conversation")
    feature = models.CharField(max_length=20, choices=Feature.choices, default=Feature.CHAT)
    use_documents = models.BooleanField(default=False, help_text="Answer from my documents.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["user", "-updated_at"])]

    def __str__(self) -> str:
        return self.title


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user"
        ASSISTANT = "assistant"

    class State(models.TextChoices):
        STREAMING = "streaming"
        DONE = "done"
        STOPPED = "stopped"
        FAILED = "failed"

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    role = models.CharField(max_length=10, choices=Role.choices)
    content = models.TextField(blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.DONE)
    model = models.CharField(max_length=100, blank=True)
    endpoint_label = models.CharField(max_length=100, blank=True)
    cache = models.CharField(max_length=10, default="off")  # hit, miss or off
    cache_tier = models.CharField(max_length=10, blank=True)  # exact or semantic
    cache_similarity = models.FloatField(null=True, blank=True)
    cache_matched_query = models.TextField(blank=True)
    cache_entry = models.ForeignKey(
        "CacheEntry", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    ttft_ms = models.FloatField(null=True, blank=True)
    total_ms = models.FloatField(null=True, blank=True)
    error = models.TextField(blank=True)
    # What the user sees under an answer besides timings: sources, retrieval, tokens, routing.
    citations = models.JSONField(default=list, blank=True)
    retrieval_embed_ms = models.FloatField(null=True, blank=True)
    retrieval_search_ms = models.FloatField(null=True, blank=True)
    tokens_before = models.IntegerField(null=True, blank=True)
    tokens_after = models.IntegerField(null=True, blank=True)
    decision = models.TextField(blank=True)
    trace_uid = models.UUIDField(null=True, blank=True)  # RequestTrace.uid of this answer
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    @property
    def from_cache(self) -> bool:
        return self.cache == "hit"


class RequestTrace(models.Model):
    """One row per request, from the moment the server received it to the last byte sent."""

    class Status(models.TextChoices):
        OK = "ok"
        STOPPED = "stopped"
        FAILED = "failed"

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    uid = models.UUIDField(null=True, blank=True, db_index=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    source = models.CharField(max_length=10, default="ws")
    feature = models.CharField(max_length=20, default=Feature.CHAT)
    model = models.CharField(max_length=100, blank=True)
    endpoint = models.CharField(max_length=100, blank=True)
    region = models.CharField(max_length=50, blank=True)
    upstream_id = models.CharField(max_length=100, blank=True)
    cache_outcome = models.CharField(max_length=10, default="off")
    cache_similarity = models.FloatField(null=True, blank=True)
    cache_note = models.CharField(max_length=200, blank=True)
    ttft_ms = models.FloatField(null=True, blank=True)
    total_ms = models.FloatField(null=True, blank=True)
    stages = models.JSONField(default=dict)
    # When each stage began, in ms after the request arrived: the waterfall draws them where
    # they ran (jsonb keeps no key order, and the speculative call overlaps the lookup).
    stage_starts = models.JSONField(default=dict)
    tokens_prompt = models.IntegerField(null=True, blank=True)
    tokens_completion = models.IntegerField(null=True, blank=True)
    tokens_before_compression = models.IntegerField(null=True, blank=True)
    tokens_after_compression = models.IntegerField(null=True, blank=True)
    strategies = models.JSONField(default=dict)
    decision = models.TextField(blank=True)
    # Routing: whether a hedge was sent, how many fallbacks it took, and the winning attempt's
    # own time to first token (what the live estimates learn from; ttft_ms adds the pipeline).
    hedged = models.BooleanField(default=False)
    fallbacks = models.PositiveSmallIntegerField(default=0)
    upstream_ttft_ms = models.FloatField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OK)
    error = models.TextField(blank=True)
    # UpstreamError.kind (timeout, stall, rate_limit, connection, http_500, ...), "request" for
    # the caller's fault, "internal" for ours: what the dashboard and /metrics count from.
    error_kind = models.CharField(max_length=20, blank=True)
    request_id = models.CharField(max_length=100, blank=True)  # the API's x-request-id

    class Meta:
        indexes = [models.Index(fields=["feature", "created_at"])]

    TIMEOUT_KINDS = ("timeout", "stall")


class StrategySettings(models.Model):
    """The switches and knobs of every strategy: one row, read by every worker."""

    exact_cache = models.BooleanField(default=True)
    semantic_cache = models.BooleanField(default=True)
    # Calibrated by cache_eval; the verifier's DEFAULT_THRESHOLD (a test keeps the two equal).
    semantic_threshold = models.FloatField(default=0.70)
    semantic_verify = models.BooleanField(default=True)
    cache_ttl_seconds = models.PositiveIntegerField(default=24 * 3600)
    cache_max_entries = models.PositiveIntegerField(default=100_000)
    cache_share_across_users = models.BooleanField(
        default=True, help_text="General answers (no private documents) may serve every user."
    )
    cache_max_temperature = models.FloatField(
        default=0.7, help_text="Requests with a higher temperature are never cached."
    )
    # vCache's δ: each entry's own threshold is learned so that its hits stay this rarely wrong.
    cache_error_bound = models.FloatField(
        default=0.02,
        help_text="δ: the share of one entry's semantic hits that may be wrong. Each entry "
        "learns its own similarity threshold from 'wrong answer' clicks and kept answers so "
        "that its observed error stays under δ (never below the global threshold).",
    )
    cache_replay_ms_per_token = models.FloatField(
        default=4.0,
        help_text="Pause between the words of a cached answer when a client asks for a paced "
        "replay (X-Cache-Replay: paced); hits are otherwise sent whole.",
    )
    # On by default: a miss then pays no lookup time; a hit cancels the call it started
    # (with a paid endpoint the prompt of a cancelled call may still be billed).
    speculative_cache = models.BooleanField(
        default=True, help_text="Start the model call alongside the cache lookup."
    )
    streaming = models.BooleanField(default=True)
    rag = models.BooleanField(
        default=True, help_text="Retrieval for conversations that use documents."
    )
    rag_top_k = models.PositiveSmallIntegerField(default=5)
    rag_fuse_fts = models.BooleanField(default=True, help_text="Fuse full-text search by rank.")
    compression = models.BooleanField(default=True)
    compression_budget_tokens = models.PositiveIntegerField(
        default=500, help_text="Tokens kept from each retrieved-context block."
    )
    routing = models.BooleanField(
        default=True, help_text="Choose the model per request from the feature's budget."
    )
    fixed_model = models.CharField(
        max_length=100, blank=True, help_text="With routing off: this model (blank: default)."
    )
    hedging = models.BooleanField(
        default=True, help_text="Send a second request when the first token is late."
    )
    hedge_cap = models.FloatField(default=0.10, help_text="At most this share of requests hedged.")
    first_token_timeout_s = models.FloatField(
        default=5.0, help_text="Longest wait for a first token before moving on."
    )
    stall_timeout_s = models.FloatField(
        default=2.0, help_text="A stream silent this long after its first token is cut."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "strategy settings"

    def as_flags(self) -> dict[str, bool]:
        return {"exact_cache": self.exact_cache, "semantic_cache": self.semantic_cache,
                "speculative_cache": self.speculative_cache, "streaming": self.streaming,
                "routing": self.routing, "hedging": self.hedging, "rag": self.rag,
                "compression": self.compression}


class CacheEntry(models.Model):
    """A stored answer, served again only within its scope (model tier, system prompt, feature,
    earlier turns, and owner when it used private documents)."""

    scope_key = models.CharField(max_length=64)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
        help_text="Set when the answer used this user's private documents.",
    )
    query = models.TextField()
    query_normalized = models.TextField()
    embedding = VectorField(dimensions=384)
    response = models.TextField()
    model = models.CharField(max_length=100)
    source_documents = ArrayField(models.BigIntegerField(), default=list, blank=True)
    # What each [n] of the response cites (Retrieval.citations()), shown again on a hit.
    citations = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)
    hits = models.PositiveIntegerField(default=0)
    last_hit_at = models.DateTimeField(null=True, blank=True)
    # Learned from people's verdicts on its semantic hits (CacheLabel), as vCache does: a
    # semantic hit is served only at or above this similarity. Null: the global threshold.
    learned_threshold = models.FloatField(null=True, blank=True)
    label_count = models.PositiveIntegerField(default=0)  # verdicts on its semantic hits
    label_wrong = models.PositiveIntegerField(default=0)  # of which "wrong answer"

    class Meta:
        verbose_name_plural = "cache entries"
        indexes = [
            models.Index(fields=["scope_key", "query_normalized"], name="cache_exact_idx"),
            # ef_construction 128, not pgvector's 64: at 1M entries in one scope the graph then
            # finds 77-81% of the exact top 3 at ef_search 40 instead of 59%, at about the same
            # lookup time (`latency_bench cache`, three runs); the build takes ~1.7x as long.
            HnswIndex(
                name="cache_embedding_hnsw",
                fields=["embedding"],
                m=16,
                ef_construction=128,
                opclasses=["vector_cosine_ops"],
            ),
            GinIndex(fields=["source_documents"], name="cache_sources_gin"),
            # The few entries with verdicts, for the dashboard's summary and relearning.
            models.Index(
                fields=["label_count"], name="cache_labelled_idx", condition=Q(label_count__gt=0)
            ),
        ]

    def __str__(self) -> str:
        return self.query[:80]

    @property
    def observed_error_rate(self) -> float | None:
        return self.label_wrong / self.label_count if self.label_count else None


class CacheLabel(models.Model):
    """A person's verdict on an answer served from the cache: a "wrong answer" click or a kept
    answer on a semantic hit (at its similarity), or a staff deletion of the entry."""

    class Source(models.TextChoices):
        WRONG = "wrong", "wrong answer, regenerated"
        KEPT = "kept", "kept (the user asked on)"
        STAFF = "staff", "deleted by staff"

    entry = models.ForeignKey(
        CacheEntry, null=True, blank=True, on_delete=models.SET_NULL, related_name="labels"
    )
    message = models.OneToOneField(
        "Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="cache_label"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    source = models.CharField(max_length=10, choices=Source.choices)
    correct = models.BooleanField()
    similarity = models.FloatField(null=True, blank=True)  # the hit's; none for staff
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [  # staff deletions are counted apart: their entries are gone
            models.Index(fields=["id"], name="cache_label_staff_idx", condition=Q(source="staff"))
        ]

    def __str__(self) -> str:
        return f"{self.get_source_display()} at {self.similarity}"


class ApiKey(models.Model):
    """A bearer key for the OpenAI-compatible API; only its SHA-256 is stored."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    name = models.CharField(max_length=100, default="default")
    prefix = models.CharField(max_length=12)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked = models.BooleanField(default=False)
    # Per-key limits, per minute; OpenAI's tier-1 limits for gpt-4o-mini are of this order.
    requests_per_minute = models.PositiveIntegerField(default=500)
    tokens_per_minute = models.PositiveIntegerField(default=200_000)

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"


class ApiKeyWindow(models.Model):
    """What a key has used in one fixed minute (PostgreSQL's rate-limit store when there is no
    Redis): one row a key a minute, counted up by an atomic upsert, old rows swept."""

    key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="windows")
    window_start = models.DateTimeField()
    requests = models.PositiveIntegerField(default=0)
    tokens = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["key", "window_start"], name="api_key_window_unique")
        ]


class Document(models.Model):
    """An uploaded file and the state of its ingestion; its bytes stay here so any worker on
    any host can (re)ingest it."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        PROCESSING = "processing"
        READY = "ready"
        FAILED = "failed"

    class Kind(models.TextChoices):
        TEXT = "text", "Plain text"
        MARKDOWN = "markdown", "Markdown"
        HTML = "html", "HTML"
        PDF = "pdf", "PDF"
        DOCX = "docx", "Word (.docx)"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="documents"
    )
    shared = models.BooleanField(default=False, help_text="Staff only: readable by everyone.")
    title = models.CharField(max_length=255)
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=10, choices=Kind.choices)  # detected by content
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    data = models.BinaryField(editable=False)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)  # percent
    error = models.TextField(blank=True)
    chunk_count = models.PositiveIntegerField(default=0)
    revision = models.PositiveIntegerField(default=1)  # +1 on every re-upload
    attempts = models.PositiveSmallIntegerField(default=0)  # ingestion runs of this revision
    task_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "sha256"], name="document_owner_sha256_uniq")
        ]
        indexes = [
            models.Index(fields=["owner", "-created_at"], name="document_owner_idx"),
            models.Index(fields=["status"], name="document_status_idx"),
            # Retrieval adds up the chunk counts of the documents a user may read, shared ones
            # included, to choose between an exact scan and the HNSW index.
            models.Index(
                fields=["shared"], condition=Q(shared=True), name="document_shared_idx"
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def finished(self) -> bool:
        return self.status in {self.Status.READY, self.Status.FAILED}


class Chunk(models.Model):
    """A passage of a document with its embedding. `owner`, `shared` and `searchable` are
    copied from the document so that retrieval filters without a join; `searchable` turns
    true in the same transaction that marks the document ready."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    ordinal = models.PositiveIntegerField()
    heading = models.TextField(blank=True)  # section path, "Guide > Install > Linux"
    text = models.TextField()
    token_count = models.PositiveIntegerField()
    embedding = VectorField(dimensions=384)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    shared = models.BooleanField(default=False)
    searchable = models.BooleanField(default=False)
    search = models.GeneratedField(
        expression=SearchVector("heading", "text", config="english"),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    class Meta:
        ordering = ["document_id", "ordinal"]
        constraints = [
            models.UniqueConstraint(fields=["document", "ordinal"], name="chunk_document_ordinal")
        ]
        indexes = [
            HnswIndex(
                name="chunk_embedding_hnsw",
                fields=["embedding"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            ),
            GinIndex(fields=["search"], name="chunk_search_gin"),
            models.Index(fields=["owner", "searchable"], name="chunk_owner_idx"),
            # Shared chunks are few: a partial index finds them for the exact small-set scan.
            models.Index(fields=["shared"], condition=Q(shared=True), name="chunk_shared_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.document_id}#{self.ordinal}"


class AlertRule(models.Model):
    """A threshold on a window of traces; the defaults are the seed's, editable on /settings/."""

    class Metric(models.TextChoices):
        TOTAL_P95 = "total_p95", "P95 total latency (ms)"
        TOTAL_P99 = "total_p99", "P99 total latency (ms)"
        TTFT_P95 = "ttft_p95", "P95 time to first token (ms)"
        ERROR_RATE = "error_rate", "Error rate (0–1)"
        HIT_RATE_DROP = "hit_rate_drop", "Cache hit rate drop (0–1)"

    class Severity(models.TextChoices):
        WARNING = "warning"
        CRITICAL = "critical"

    name = models.CharField(max_length=100, unique=True)
    metric = models.CharField(max_length=20, choices=Metric.choices)
    threshold = models.FloatField(help_text="Fires above this; for a hit rate drop, below it.")
    baseline = models.FloatField(
        null=True, blank=True,
        help_text="Hit rate drop only: the hour before the window must have been at least this.",
    )  # fmt: skip
    window_seconds = models.PositiveIntegerField(default=300)
    min_requests = models.PositiveIntegerField(
        default=5, help_text="Fewer requests than this in the window: no verdict."
    )
    severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.WARNING)
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class AlertEvent(models.Model):
    """One firing of a rule, from the check that saw it to the check that saw it clear."""

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="events")
    started_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    value = models.FloatField()
    message = models.CharField(max_length=300)
    notified = models.BooleanField(default=False)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            # Several processes may check at once; only one active event per rule survives.
            models.UniqueConstraint(
                fields=["rule"], condition=models.Q(resolved_at__isnull=True),
                name="alert_one_active_per_rule",
            )  # fmt: skip
        ]


class FeatureBudget(models.Model):
    """A feature's latency budget: the router picks models whose predicted P95 fits it, and the
    dashboard shows it beside the measured figures. Staff edit it in the admin."""

    feature = models.CharField(max_length=20, choices=Feature.choices, unique=True)
    p95_ms = models.FloatField(help_text="Total latency that 95% of requests must stay under.")
    ttft_ms = models.FloatField(
        null=True, blank=True, help_text="Time to first token at P95 (blank: no TTFT budget)."
    )
    note = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["p95_ms"]

    def __str__(self) -> str:
        return f"{self.feature}: P95 < {self.p95_ms:g} ms"


class EndpointBreaker(models.Model):
    """A circuit breaker opened for an endpoint that kept failing, shared by every worker; it
    stays open until a health probe after `open_until` succeeds."""

    endpoint = models.CharField(max_length=100, unique=True)
    opened_at = models.DateTimeField()
    open_until = models.DateTimeField(null=True, blank=True)  # null: closed
    reason = models.CharField(max_length=200, blank=True)
    trips = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.endpoint} ({'open' if self.open_until else 'closed'})"


class TraceRollup(models.Model):
    """Every trace of one finished minute, as arrays: the exact samples, not a sketch. The
    dashboard's long windows read 60 of these rows an hour instead of every trace; arrays are
    ordered alike, and `cells[i]` indexes `cell_keys` ("feature␟model␟region␟cache")."""

    minute = models.DateTimeField(primary_key=True)
    traces = models.PositiveIntegerField(default=0)
    cell_keys = ArrayField(models.TextField(), default=list)
    cells = ArrayField(models.SmallIntegerField(), default=list)
    total_ms = ArrayField(models.FloatField(), default=list)  # NaN: unknown
    ttft_ms = ArrayField(models.FloatField(), default=list)  # NaN: no first token
    flags = ArrayField(models.IntegerField(), default=list)  # latency.dashboard.queries bits

    def __str__(self) -> str:
        return f"{self.minute:%Y-%m-%d %H:%M} ({self.traces} traces)"


class BatchFile(models.Model):
    """A file of the Batch API: an uploaded input (`batch`) or a job's output or errors; its bytes
    stay here so any worker on any host can read them."""

    class Purpose(models.TextChoices):
        BATCH = "batch"
        OUTPUT = "batch_output"
        ERRORS = "batch_errors"

    uid = models.CharField(max_length=40, unique=True)  # "file-…", the API's id
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="batch_files"
    )
    purpose = models.CharField(max_length=20, choices=Purpose.choices)
    filename = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField()
    data = models.BinaryField(editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["owner", "-created_at"], name="batchfile_owner_idx")]

    def __str__(self) -> str:
        return f"{self.uid} ({self.filename})"


class BatchJob(models.Model):
    """Background work: many independent requests answered off the request path, made from the
    /batch/ page or the Batch API; its status is one of OpenAI's eight."""

    class Status(models.TextChoices):
        VALIDATING = "validating"
        FAILED = "failed"
        IN_PROGRESS = "in_progress"
        FINALIZING = "finalizing"
        COMPLETED = "completed"
        EXPIRED = "expired"
        CANCELLING = "cancelling"
        CANCELLED = "cancelled"

    class Source(models.TextChoices):
        PAGE = "page"
        API = "api"

    uid = models.CharField(max_length=40, unique=True)  # "batch_…", the API's id
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="batch_jobs"
    )
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.PAGE)
    name = models.CharField(max_length=200, blank=True)
    instruction = models.TextField(blank=True)
    model = models.CharField(max_length=100)
    endpoint = models.CharField(max_length=100, default="/v1/chat/completions")
    completion_window = models.CharField(max_length=10, default="24h")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.VALIDATING)
    input_file = models.ForeignKey(
        BatchFile, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    output_file = models.ForeignKey(
        BatchFile, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    error_file = models.ForeignKey(
        BatchFile, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    errors = models.JSONField(null=True, blank=True)  # {"object": "list", "data": [...]}
    metadata = models.JSONField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    total = models.PositiveIntegerField(default=0)
    # What the job cost upstream, and what the cache and packing saved (estimated tokens).
    upstream_requests = models.PositiveIntegerField(default=0)
    prompt_tokens = models.PositiveBigIntegerField(default=0)
    completion_tokens = models.PositiveBigIntegerField(default=0)
    saved_cache_tokens = models.PositiveBigIntegerField(default=0)
    saved_packing_tokens = models.BigIntegerField(default=0)
    rate_limited = models.PositiveIntegerField(default=0)  # 429s met
    created_at = models.DateTimeField(auto_now_add=True)
    in_progress_at = models.DateTimeField(null=True, blank=True)
    finalizing_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)
    cancelling_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["owner", "-created_at"], name="batchjob_owner_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "idempotency_key"], condition=Q(idempotency_key__isnull=False),
                name="batchjob_owner_idempotency_uniq",
            )  # fmt: skip
        ]

    def __str__(self) -> str:
        return self.uid

    @property
    def finished(self) -> bool:
        return self.status in {
            self.Status.FAILED, self.Status.COMPLETED, self.Status.EXPIRED, self.Status.CANCELLED
        }  # fmt: skip


class BatchItem(models.Model):
    """One request of a job. A worker claims it with a lease (`lease_owner`, `lease_until`);
    its answer commits in the transaction that ends the lease, so it is answered once."""

    class State(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"
        CANCELLED = "cancelled"
        EXPIRED = "expired"

    job = models.ForeignKey(BatchJob, on_delete=models.CASCADE, related_name="items")
    index = models.PositiveIntegerField()  # its line in the input, from 1
    custom_id = models.CharField(max_length=255)
    body = models.JSONField()  # the chat completion request: messages, temperature, ...
    dedupe_key = models.CharField(max_length=64)
    # An identical earlier item of the job: this one takes its answer and is never sent.
    duplicate_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="duplicates"
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_owner = models.UUIDField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    answer = models.TextField(blank=True)
    model = models.CharField(max_length=100, blank=True)
    request_id = models.CharField(max_length=100, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    from_cache = models.BooleanField(default=False)
    packed = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    error_code = models.CharField(max_length=50, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["job_id", "index"]
        constraints = [
            models.UniqueConstraint(fields=["job", "index"], name="batchitem_job_index_uniq")
        ]
        indexes = [models.Index(fields=["job", "state", "index"], name="batchitem_claim_idx")]

    def __str__(self) -> str:
        return f"{self.job_id}#{self.index}"

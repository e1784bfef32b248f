# The dashboard reads a window of traces by created_at; this index covers every column it reads,
# so the 1-hour view is one index-only range scan (see latency/dashboard_queries.py). Written as
# SQL because it is built CONCURRENTLY: a large trace table keeps taking writes meanwhile.

from django.db import migrations

COLUMNS = (
    "feature, model, region, cache_outcome, status, total_ms, ttft_ms, "
    "tokens_before_compression, tokens_after_compression, fallbacks, hedged, error"
)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('latency', '0008_chat_details'),
    ]

    operations = [
        migrations.RunSQL(
            sql=f"CREATE INDEX CONCURRENTLY IF NOT EXISTS trace_window_idx "
            f"ON latency_requesttrace (created_at) INCLUDE ({COLUMNS})",
            reverse_sql="DROP INDEX CONCURRENTLY IF EXISTS trace_window_idx",
        ),
    ]

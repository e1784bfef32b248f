# Failures are counted by their kind, recorded when they happen, instead of by matching words of
# their messages; the dashboard's covering index reads the kind instead of the message. The API
# request id is kept beside them.

from django.db import migrations, models

COLUMNS = (
    "feature, model, region, cache_outcome, status, total_ms, ttft_ms, "
    "tokens_before_compression, tokens_after_compression, fallbacks, hedged, error_kind"
)
OLD_COLUMNS = (
    "feature, model, region, cache_outcome, status, total_ms, ttft_ms, "
    "tokens_before_compression, tokens_after_compression, fallbacks, hedged, error"
)
TIMEOUT_WORDS = "in time|answered within|stopped sending|timed? ?out|stall"


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("latency", "0014_document_shared_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="requesttrace",
            name="error_kind",
            field=models.CharField(blank=True, max_length=20),
        ),
        migrations.AddField(
            model_name="requesttrace",
            name="stage_starts",
            field=models.JSONField(default=dict),
        ),
        migrations.AddField(
            model_name="requesttrace",
            name="request_id",
            field=models.CharField(blank=True, max_length=100),
        ),
        migrations.AlterField(
            model_name="strategysettings",
            name="cache_replay_ms_per_token",
            field=models.FloatField(
                default=4.0,
                help_text="Pause between the words of a cached answer when a client asks for a "
                "paced replay (X-Cache-Replay: paced); hits are otherwise sent whole.",
            ),
        ),
        # Rows written before: their kind from their words, as the dashboard counted them.
        migrations.RunSQL(
            sql="UPDATE latency_requesttrace SET error_kind = CASE WHEN error ~* "
            f"'{TIMEOUT_WORDS}' THEN 'timeout' ELSE 'upstream' END WHERE status = 'failed'",
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.RunSQL(
            sql="DROP INDEX CONCURRENTLY IF EXISTS trace_window_idx",
            reverse_sql=f"CREATE INDEX CONCURRENTLY IF NOT EXISTS trace_window_idx "
            f"ON latency_requesttrace (created_at) INCLUDE ({OLD_COLUMNS})",
        ),
        migrations.RunSQL(
            sql=f"CREATE INDEX CONCURRENTLY IF NOT EXISTS trace_window_idx "
            f"ON latency_requesttrace (created_at) INCLUDE ({COLUMNS})",
            reverse_sql="DROP INDEX CONCURRENTLY IF EXISTS trace_window_idx",
        ),
    ]

"""The app's own share of a request's time: the client's TTFT minus what the upstream itself
planned for that very call, found through the app's records.

websocket: the answer's `<article id="msg-N">` -> Message N -> its `trace_uid` -> the
RequestTrace -> `upstream_id` (the completion id of the call that answered, a hedge's winner);
API: the response's `x-request-id` -> RequestTrace.request_id -> `upstream_id`. Then the
simulator's log record of that completion id: `planned_ttft_ms` (queue + round trip + prefill +
profile TTFT; the queue wait only where the simulator models one). A cache hit's own share is
its whole TTFT; an answer that came whole is set against the upstream's planned total."""

from __future__ import annotations

from collections import Counter
from typing import Any

from latency.bench.ablation.clients import Sample


def samples_join(*, samples: list[Sample], records: list[dict[str, Any]]) -> None:
    from latency.models import Message, RequestTrace

    by_id = {record["id"]: record for record in records}  # the last record of an id wins
    message_ids = [s.message_id for s in samples if s.message_id is not None]
    trace_of_message = dict(
        Message.objects.filter(id__in=message_ids).values_list("id", "trace_uid")
    )
    uids = [uid for uid in trace_of_message.values() if uid]
    upstream_of_uid = dict(
        RequestTrace.objects.filter(uid__in=uids).values_list("uid", "upstream_id")
    )
    request_ids = [s.request_id for s in samples if s.request_id]
    upstream_of_request = dict(
        RequestTrace.objects.filter(request_id__in=request_ids).values_list(
            "request_id", "upstream_id"
        )
    )
    for sample in samples:
        if sample.message_id is not None:
            sample.upstream_id = upstream_of_uid.get(trace_of_message.get(sample.message_id), "")
        elif sample.request_id:
            sample.upstream_id = upstream_of_request.get(sample.request_id, "")
        record = by_id.get(sample.upstream_id) if sample.upstream_id else None
        if record is not None:
            sample.planned_ttft_ms = record.get("planned_ttft_ms")
            sample.planned_total_ms = record.get("planned_total_ms")
            sample.queue_ms = record.get("queue_ms")
            sample.prompt_tokens = record.get("prompt_tokens")
        sample.own_ms = own_share_ms(sample=sample)


def own_share_ms(*, sample: Sample) -> float | None:
    if sample.state != "done" or sample.ttft_ms is None:
        return None
    if sample.cache == "hit":
        return sample.ttft_ms
    planned = sample.planned_ttft_ms if sample.streamed else sample.planned_total_ms
    return sample.ttft_ms - planned if planned is not None else None


def upstream_counts(
    *, records: list[dict[str, Any]], segments: list[dict[str, Any]]
) -> dict[str, int]:
    """Upstream calls started during each arm's segments (served, failed or cancelled)."""
    counts: Counter[str] = Counter()
    for record in records:
        started = record.get("started_ts") or 0
        for segment in segments:
            if segment["start_ts"] <= started <= segment["end_ts"]:
                counts[segment["arm"]] += 1
                break
    return dict(counts)

"""The request pipeline (`run.py`), the one path every answer takes; `state.py` holds what one
run carries from stage to stage."""

from __future__ import annotations

from latency.events import ChatRequest, DoneEvent, ErrorEvent, Event, StartEvent, TokenEvent
from latency.pipeline.run import pipeline_run

__all__ = ["ChatRequest", "DoneEvent", "ErrorEvent", "Event", "StartEvent", "TokenEvent",
           "pipeline_run"]  # fmt: skip

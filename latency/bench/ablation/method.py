"""How the ablation measures, in words, for BENCHMARKS.md (formatted with the run's values)."""

from __future__ import annotations

METHOD = """### Method

- **Processes** as `make run` starts them, in a database of their own (`subsecond_bench_ablation`,
  embedded PostgreSQL): the bundled simulator (seed {seed}; realism switches {realism}), two
  daphne servers and, until the bench user's documents are ingested, the documents worker.
  Redis is not used (as `make run` on a fresh machine: the exact tier reads PostgreSQL).
- **Arms**, each one `StrategySettings` change on top of the one before: 1 baseline (exact,
  semantic and speculative cache off, streaming off, routing off with `fixed_model` =
  `{standard_model}`, hedging off, compression off; RAG on for document questions), 2 + semantic
  cache, 3 + streaming, 4 + routing by budget (`fixed_model` cleared), 5 + edge endpoints,
  6 + compression, 7 `StrategySettings()` defaults exactly (adds the exact tier, the speculative
  lookup and hedging). Arms 1-4 go to a daphne whose catalog is `{catalog}` without its edge
  endpoints ({cloud}); arms 5-7 to a daphne with the catalog unchanged. Routing has no "cloud
  only" setting, so the catalog is what differs. Every arm's segment starts with an empty
  semantic/exact cache, so its hits come from its own traffic.
- **Load**: {users} simulated users, open loop (Poisson, {rate_per_user} conversations a second
  a user, each of 1-3 turns with 1-3 s pauses), {rounds} round(s) of {arm_seconds:.0f} s an arm;
  every arm of a round replays the same plan, and odd rounds run the arms in reverse order,
  so drift in the machine's load shows as noise, not as an effect. About 75% websocket clients
  (the browser's htmx frames, 15% of them over uploaded documents), 15% openai SDK streamed,
  10% not streamed. First questions come from a pool with Zipf repeats and paraphrases plus a
  unique tail: share of requests that repeat an earlier question, by round, {cacheable_share}.
  API requests carry a system prompt and the conversation so far; websocket requests the history.
- **Timings** are the client's: total from send to the end (the `data-state` article, the
  last SSE chunk or the body); TTFT to the first token fragment or chunk, or the whole answer
  when it came at once (streaming off, a whole body). Errors are failed or stopped answers and
  exceptions. Upstream = chat calls the simulator logged during the arm's segments (served,
  failed or cancelled: speculative and hedged calls count).
- **Own share** = client TTFT minus the simulator's `planned_ttft_ms` for the call that
  answered (queue + round trip + prefill + profile TTFT), joined websocket `msg-N` -> Message
  -> `trace_uid` -> RequestTrace `upstream_id`, API `x-request-id` -> RequestTrace
  `request_id` -> `upstream_id`; an answer that came whole is set against `planned_total_ms`;
  a cache hit's own share is its whole TTFT. Queue p95 is "n/a" when the simulator does not
  log `queue_ms`.
"""

"""The ablation's concurrency sweep: the default arm at 1, 5 and 20 users, closed loop (each
user's next conversation right after the last), so concurrency is the user count."""

from __future__ import annotations

import asyncio
import time
from typing import Any, TextIO

from latency.bench.ablation.arms import DRAIN_S, Arm, arm_settings, settings_apply
from latency.bench.ablation.clients import Sample, Target, conversation_run
from latency.bench.ablation.workload import WorkloadShape, workload_plan


def sweep_drive(
    *, options: Any, arms: list[Arm], target: Target, err: TextIO
) -> list[Sample]:
    """The default arm at 1, 5 and 20 users, closed loop (each user's next conversation right
    after the last, so concurrency is the user count): the app's own share against it."""
    samples: list[Sample] = []
    for users in options.sweep:
        shape = WorkloadShape(users=users, rate_per_user=options.rate)
        plan = workload_plan(seed=options.seed * 7 + users, shape=shape,
                             window_s=options.sweep_seconds * 50)  # fmt: skip
        settings_apply(values=arm_settings(arms=arms, key=arms[-1].key))
        samples += asyncio.run(
            _closed_loop(target=target, plan=plan, users=users, seconds=options.sweep_seconds)
        )
        err.write(f"sweep {users} users: {len(samples)} requests so far\n")
    return samples


async def _closed_loop(
    *, target: Target, plan: list[Any], users: int, seconds: float
) -> list[Sample]:
    from openai import AsyncOpenAI

    api = AsyncOpenAI(base_url=f"{target.url}/v1", api_key=target.api_key, max_retries=0,
                      timeout=90)  # fmt: skip
    deadline = time.monotonic() + seconds

    async def user_run(user: int) -> list[Sample]:
        drawn: list[Sample] = []
        for conversation in (c for c in plan if c.user == user):
            if time.monotonic() >= deadline:
                break
            drawn += await conversation_run(target=target, conversation=conversation,
                                            arm=f"sweep_{users}", round_index=0, api=api)
        return drawn

    try:
        results = await asyncio.wait_for(
            asyncio.gather(*(user_run(u) for u in range(users))), timeout=seconds + DRAIN_S
        )
    finally:
        await api.close()
    return [sample for drawn in results for sample in drawn]

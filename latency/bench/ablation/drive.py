"""The ablation's child process, in its own database: start the simulator (realism on), two
daphnes (cloud-only catalog and the catalog as it is), ingest the bench user's documents with
the documents worker, then drive every arm in rounds, each round replaying one plan in
alternating order (A..G, G..A) so that drift cannot pass for an effect; then a concurrency
sweep on the default arm. Writes every sample, joined to its trace and upstream record."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO

from latency.bench.ablation.arms import (
    DRAIN_S,
    Arm,
    arm_settings,
    arms_build,
    catalog_cloud_write,
    settings_apply,
    standard_model_choose,
)
from latency.bench.ablation.clients import Sample, Target, conversation_run
from latency.bench.ablation.join import samples_join, upstream_counts
from latency.bench.ablation.sweep import sweep_drive
from latency.bench.ablation.workload import (
    DOCUMENTS,
    WorkloadShape,
    workload_cacheable_share,
    workload_plan,
)
from latency.bench.report import progress
from latency.testing.processes import (
    Child,
    daphne_launch,
    daphne_ready_wait,
    documents_worker_start,
    simulator_start,
)

# Realism on, limits generous for 20 users (about 200 requests and 200k tokens a minute at most)
REALISM = {"prefill": True, "capacity": 16, "rpm": 1200, "tpm": 2_000_000}


@dataclasses.dataclass(frozen=True)
class Options:
    users: int
    seed: int
    rounds: int
    arm_seconds: float
    rate: float
    sweep: tuple[int, ...]
    sweep_seconds: float
    work: Path


def realism_apply(*, simulator: Any, err: TextIO) -> dict[str, Any]:
    """Switch the simulator's realism on; a simulator without a switch reports it "n/a"."""
    try:
        config = simulator.configure(**REALISM)
    except Exception as error:  # noqa: BLE001 - an older simulator: 400 unknown fields
        err.write(f"simulator realism switches not available ({error}); running without\n")
        config = simulator.config()
    return {name: config.get(name, "n/a") for name in REALISM}


def documents_ingest(*, user: Any, work: Path, err: TextIO, timeout_s: float = 240) -> int:
    """Upload the bench documents through the app's own path, run the worker until the queue
    is empty (`--batch`), and wait for them to be ready."""
    from latency.models import Document
    from latency.rag.documents import document_upload

    for name, text in DOCUMENTS.items():
        document_upload(owner=user, filename=name, data=text.encode())
    pending = Document.objects.filter(owner=user).exclude(status=Document.Status.READY)
    if pending.exists():
        worker = documents_worker_start(log_path=work / "worker.log")
        deadline = time.monotonic() + timeout_s
        while pending.exists() and time.monotonic() < deadline:
            time.sleep(0.5)
        worker.stop()
        err.write(f"documents ingested by the documents worker ({len(DOCUMENTS)})\n")
    return Document.objects.filter(owner=user, status=Document.Status.READY).count()


def servers_start(*, simulator_url: str, cloud_catalog: Path, work: Path) -> dict[bool, Child]:
    """Two daphnes loading their models at once: edge False is the cloud-only catalog."""
    base = {"SIMULATOR_URL": simulator_url, "REDIS_URL": ""}
    servers = {
        False: daphne_launch(env={**base, "MODEL_CATALOG": str(cloud_catalog)},
                             log_path=work / "daphne-cloud.log"),
        True: daphne_launch(env=base, log_path=work / "daphne-edge.log"),
    }  # fmt: skip
    for server in servers.values():
        daphne_ready_wait(child=server, timeout_s=240)
    return servers


async def segment_drive(
    *, target: Target, plan: list[Any], arm: str, round_index: int, err: TextIO, label: str
) -> list[Sample]:
    """Open loop: each conversation starts at its planned time whatever the others are doing."""
    from openai import AsyncOpenAI

    api = AsyncOpenAI(base_url=f"{target.url}/v1", api_key=target.api_key, max_retries=0,
                      timeout=90)  # fmt: skip
    started = time.monotonic()
    done = 0

    async def one(conversation: Any) -> list[Sample]:
        nonlocal done
        await asyncio.sleep(max(0.0, conversation.start_s - (time.monotonic() - started)))
        samples = await conversation_run(
            target=target, conversation=conversation, arm=arm, round_index=round_index, api=api
        )
        done += 1
        progress(err, done, len(plan), label)
        return samples

    try:
        window = max((c.start_s for c in plan), default=0.0)
        results = await asyncio.wait_for(
            asyncio.gather(*(one(c) for c in plan)), timeout=window + DRAIN_S
        )
    finally:
        await api.close()
    return [sample for samples in results for sample in samples]


async def servers_warm(*, target: Target, err: TextIO) -> None:
    """Untimed: one conversation through each client, so that first-call costs (connection
    pools, the embedding model's first batches, template loading) land in no arm."""
    from latency.bench.ablation.workload import Conversation

    warm = [
        Conversation(start_s=0.0, user=0, client=client, turns=(f"Warm-up question {client}?",),
                     use_documents=client == "ws")  # fmt: skip
        for client in ("ws", "api_stream", "api_whole")
    ]
    drawn = await segment_drive(target=target, plan=warm, arm="warm", round_index=0, err=err,
                                label=f"warm-up {target.url}")  # fmt: skip
    failed = [s.error for s in drawn if s.state != "done"]
    if failed:
        err.write(f"warm-up requests failed: {failed}\n")


def rounds_drive(
    *, options: Options, arms: list[Arm], targets: dict[bool, Target], err: TextIO
) -> tuple[list[Sample], list[dict[str, Any]], dict[str, float]]:
    shape = WorkloadShape(users=options.users, rate_per_user=options.rate)
    samples: list[Sample] = []
    segments: list[dict[str, Any]] = []
    cacheable: dict[str, float] = {}
    for round_index in range(options.rounds):
        plan = workload_plan(seed=options.seed * 1000 + round_index, shape=shape,
                             window_s=options.arm_seconds)  # fmt: skip
        cacheable[str(round_index)] = round(workload_cacheable_share(plan=plan), 3)
        order = arms if round_index % 2 == 0 else arms[::-1]
        for arm in order:
            settings_apply(values=arm_settings(arms=arms, key=arm.key))
            started = time.time()
            label = f"round {round_index + 1}/{options.rounds} {arm.label}"
            samples += asyncio.run(
                segment_drive(target=targets[arm.edge], plan=plan, arm=arm.key,
                              round_index=round_index, err=err, label=label)
            )  # fmt: skip
            segments.append({"arm": arm.key, "round": round_index, "start_ts": started,
                             "end_ts": time.time()})  # fmt: skip
    return samples, segments, cacheable


def bench_user() -> tuple[Any, str, str]:
    from django.contrib.auth import get_user_model

    from latency.gateway.keys import api_key_create
    from latency.testing.sessions import session_key_make

    user, _ = get_user_model().objects.get_or_create(username="bench-ablation")
    key = api_key_create(user=user, name="ablation", unlimited=True)
    return user, session_key_make(user=user), key


def ablation_drive(*, options: Options, err: TextIO) -> dict[str, Any]:
    from django.conf import settings

    user, session, key = bench_user()
    catalog = Path(settings.MODEL_CATALOG)
    standard = standard_model_choose(catalog_path=catalog)
    arms = arms_build(standard_model=standard)
    cloud_catalog = options.work / "catalog-cloud.toml"
    catalog_note = catalog_cloud_write(source=catalog, target=cloud_catalog)
    simulator_log = options.work / "simulator.jsonl"
    simulator = simulator_start(seed=options.seed, log_path=simulator_log,
                                stderr_path=options.work / "simulator.err")  # fmt: skip
    try:
        realism = realism_apply(simulator=simulator, err=err)
        documents = documents_ingest(user=user, work=options.work, err=err)
        servers = servers_start(simulator_url=simulator.url, cloud_catalog=cloud_catalog,
                                work=options.work)  # fmt: skip
        targets = {edge: Target(url=s.url, session=session, api_key=key, user=user)
                   for edge, s in servers.items()}  # fmt: skip
        try:
            for target in targets.values():
                asyncio.run(servers_warm(target=target, err=err))
            samples, segments, cacheable = rounds_drive(
                options=options, arms=arms, targets=targets, err=err
            )
            sweep = sweep_drive(options=options, arms=arms, target=targets[True], err=err)
        finally:
            for server in servers.values():
                server.stop()
    finally:
        simulator.stop()
    time.sleep(0.5)
    records = [json.loads(line) for line in simulator_log.read_text().splitlines() if line]
    samples_join(samples=samples + sweep, records=records)
    return {
        "arms": [dataclasses.asdict(arm) for arm in arms], "standard_model": standard,
        "catalog": str(catalog), "cloud_catalog": catalog_note, "realism": realism,
        "documents_ready": documents, "cacheable_share": cacheable, "segments": segments,
        "upstream_requests": upstream_counts(records=records, segments=segments),
        "samples": [dataclasses.asdict(s) for s in samples],
        "sweep": [dataclasses.asdict(s) for s in sweep],
        "simulator_fields": sorted(records[0]) if records else [],
    }  # fmt: skip


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    for name, kind in (("--users", int), ("--seed", int), ("--rounds", int),
                       ("--arm-seconds", float), ("--rate", float), ("--sweep-seconds", float)):
        parser.add_argument(name, type=kind, required=True)  # fmt: skip
    parser.add_argument("--sweep", required=True)
    parser.add_argument("--result", required=True)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatapp.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    options = Options(
        users=args.users, seed=args.seed, rounds=args.rounds, arm_seconds=args.arm_seconds,
        rate=args.rate, sweep=tuple(int(n) for n in args.sweep.split(",") if n.strip()),
        sweep_seconds=args.sweep_seconds, work=Path(tempfile.mkdtemp(prefix="bench-ablation-")),
    )  # fmt: skip
    result = ablation_drive(options=options, err=sys.stderr)
    result["work_dir"] = str(options.work)
    Path(args.result).write_text(json.dumps(result))
    (options.work / "result.json").write_text(json.dumps(result))  # kept beside the logs
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

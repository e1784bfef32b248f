"""`latency_bench batch`: the measurements in a child of their own (child.py: the kill arm,
then the arms against `manage.py serve`), then the tables, the targets of issue #13 computed
from what it measured, and this run's section of BENCHMARKS.md."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, TextIO

from django.conf import settings

from latency.bench.batch.arms import INSTRUCTION
from latency.bench.batch.child import DATABASE
from latency.bench.benchmarks_md import (
    bench_command,
    benchmarks_section_write,
    markdown_table,
    targets_markdown,
)
from latency.bench.cache.run import child_run
from latency.bench.report import Target, cpu_model, machine_info, table_print
from latency.testing.processes import ROOT

ARM_HEADER = ["arm", "items", "items/s", "wall s", "requests", "prompt tokens", "tokens/item",
              "429s", "differ"]  # fmt: skip
CHAT_HEADER = ["chat (client TTFT, ms)", "n", "p50", "p95", "p99"]


def batch_run(
    *, out: TextIO, items: int = 2000, sequential_sample: int = 200, chat_users: int = 10,
    chat_messages: int = 200, out_dir: str = "", web_processes: int = 0, **_: Any,
) -> tuple[dict[str, Any], dict[str, Target]]:  # fmt: skip
    started, load_before = time.perf_counter(), os.getloadavg()
    data_dir = Path(settings.DATA_DIR) / "bench" / "batch"
    work = data_dir / "runs" / time.strftime("%Y%m%d-%H%M%S")
    work.mkdir(parents=True, exist_ok=True)
    options = {"items": items, "sequential_sample": sequential_sample, "work_dir": str(work),
               "chat_users": chat_users, "chat_messages": chat_messages,
               "web_processes": web_processes}  # fmt: skip
    measured = child_run(
        module="latency.bench.batch.child", arguments=["--options", json.dumps(options)],
        database=DATABASE, data_dir=data_dir,
    )  # fmt: skip
    results = _results(measured=measured)
    chat, kill, sample = results["chat"], results["kill"], results["sequential_sample"]
    results.update(load_average_before=[round(v, 2) for v in load_before],
                   load_average_after=[round(v, 2) for v in os.getloadavg()],
                   elapsed_s=round(time.perf_counter() - started, 1))  # fmt: skip
    targets = batch_targets(results=results)
    rows = _arm_rows(results)
    table_print(out, f"Batch: {items} classification items ({results['unique']} unique); "
                f"sequential on the first {sample} (a sample); differ: vs the concurrent "
                "arm, which asks each item alone", ARM_HEADER, rows)  # fmt: skip
    table_print(out, f"Chat: {chat_users} people over the websocket, with and without a "
                f"{items}-item job in serve's batch worker", CHAT_HEADER, _chat_rows(chat))
    out.write(f"job items answered during the chat arm: {chat['job_items_during_chat']} "
              f"({chat['job_items_per_s_during_chat']}/s); kill arm: {_kill_line(kill)}\n")
    target_rows = [[n, t.value, t.target, t.unit, t.as_dict()["met"]] for n, t in targets.items()]
    table_print(out, "Targets", ["target", "value", "goal", "unit", "met"], target_rows)
    root = Path(out_dir) if out_dir else ROOT
    markdown = _markdown(results=results, rows=rows, targets=targets)
    results["benchmarks_md"] = str(benchmarks_section_write(name="batch", markdown=markdown,
                                                            path=root / "BENCHMARKS.md"))
    out.write(f"BENCHMARKS.md: {results['benchmarks_md']}\n")
    return results, targets


def _results(*, measured: dict[str, Any]) -> dict[str, Any]:
    arms = measured.pop("arms")
    reference = arms["concurrent"]["answers"]
    unique = measured.pop("reviews_unique")
    results: dict[str, Any] = {**measured, "unique": unique}
    for name, arm in arms.items():
        answers = arm.pop("answers")
        arm["different_answers"] = sum(a != b for a, b in zip(answers, reference, strict=False))
        arm["items_per_s"] = arm["items"] / arm["wall_s"]
        arm["prompt_tokens_per_item"] = arm["prompt_tokens"] / arm["items"]
        results[name] = {k: round(v, 3) if isinstance(v, float) else v for k, v in arm.items()}
    return results


def batch_targets(*, results: dict[str, Any]) -> dict[str, Target]:
    default, unpacked, chat, kill = (results[k] for k in ("default", "concurrent", "chat", "kill"))
    items = results["items"]
    without, with_job = chat["without_ms"].get("p95"), chat["with_job_ms"].get("p95")
    return {
        "speedup_vs_sequential": Target(
            value=default["items_per_s"] / results["sequential"]["items_per_s"], target=10.0,
            unit="x", higher_is_better=True),
        "prompt_tokens_saved_vs_unpacked": Target(
            value=1 - default["prompt_tokens"] / max(unpacked["prompt_tokens"], 1), target=0.5,
            unit="share", higher_is_better=True),
        "items_accounted_for": Target(value=default["accounted"] / items, target=1.0,
                                      unit="share", higher_is_better=True),
        "items_answered_twice": Target(value=default["answered_twice"], target=0, unit="items"),
        "different_answers": Target(value=default["different_answers"], target=0, unit="items"),
        # No sample on one side: the ratio is unknown, and counts as missed.
        "chat_ttft_p95_with_job_vs_without": Target(
            value=with_job / without if with_job and without else float("inf"), target=1.10,
            unit="x"),
        "kill_job_finished": Target(value=float(kill["status"] == "completed"), target=1.0,
                                    unit="bool", higher_is_better=True),
        "kill_items_accounted_for": Target(value=kill["accounted"] / kill["items"], target=1.0,
                                           unit="share", higher_is_better=True),
        "kill_items_answered_twice": Target(
            value=kill["answered_twice"] + kill["changed_after_kill"], target=0, unit="items"),
    }  # fmt: skip


def _arm_rows(results: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for name in ("sequential", "concurrent", "default"):
        arm = results[name]
        label = f"{name} (sample)" if name == "sequential" else name
        rows.append([label, arm["items"], round(arm["items_per_s"], 2), round(arm["wall_s"], 2),
                     arm["requests"], arm["prompt_tokens"], round(arm["prompt_tokens_per_item"], 1),
                     arm["rate_limited"], arm["different_answers"]])  # fmt: skip
    return rows


def _chat_rows(chat: dict[str, Any]) -> list[list[Any]]:
    names = (("without a job (before + after)", "without_ms"), ("with the job running",
             "with_job_ms"), ("  before", "before_ms"), ("  after", "after_ms"))  # fmt: skip
    return [[label, chat[key].get("n"), chat[key].get("p50"), chat[key].get("p95"),
             chat[key].get("p99")] for label, key in names]  # fmt: skip


def _kill_line(kill: dict[str, Any]) -> str:
    return (f"{kill['done_at_kill']} of {kill['items']} done at the kill, "
            f"{kill['held_by_the_dead_worker']} held by the dead worker, {kill['asked_again']} "
            f"asked again, {kill['changed_after_kill']} answers changed after it, "
            f"{kill['answered_twice']} twice in the output; {kill['status']} "
            f"{kill['kill_to_finished_s']} s after the kill (lease {kill['lease_s']} s)")


def _markdown(*, results: dict[str, Any], rows: list[list[Any]],
              targets: dict[str, Target]) -> str:  # fmt: skip
    command = bench_command(scenario="batch")
    chat, items = results["chat"], results["items"]
    machine = {**machine_info(), "cpu_model": cpu_model()}
    realism = ", ".join(f"{k} {v}" for k, v in results["realism"].items())
    return "\n\n".join([
        "## Batch jobs: throughput, tokens, correctness, chat beside a job, a killed worker",
        f"Machine: {machine['cpus']} cores, {machine['cpu_model']}, load average "
        f"{results['load_average_before']} before and {results['load_average_after']} after "
        f"(a shared machine). Command: `{command}`. Took {results['elapsed_s']} s.",
        f"`manage.py serve` as `make run` starts it ({results['web_processes']} web processes, "
        f"the batch worker at nice {results['worker_nice']}) in a database of its own "
        f"(`{results['database']}`), the simulator's realism on ({realism}); "
        f"{items} items of `{INSTRUCTION}` with about 20% repeats ({results['unique']} unique). "
        f"One at a time is measured on the first {results['sequential_sample']} items, a sample "
        f"(all {items} would take about {items / results['sequential']['items_per_s']:.0f} s); "
        "answers are "
        "compared with the concurrent unpacked arm, which asks each item alone. The default "
        "arm is a job made as the /batch/ page makes one, timed from its creation to its last "
        "answer in the worker.",
        markdown_table(header=ARM_HEADER, rows=rows),
        f"### Chat beside a job\n\n{chat['users']} people chatting over the websocket (the "
        "browser's frames), time from sending to the first token fragment; without a job "
        f"before and after, and with a {items}-item job running (turns sent after the job "
        f"finished left out: {chat['with_job_turns_left_out']}). The job answered "
        f"{chat['job_items_during_chat']} items during the chat arm "
        f"({chat['job_items_per_s_during_chat']} a second).",
        markdown_table(header=CHAT_HEADER, rows=_chat_rows(chat)),
        "### A worker killed halfway\n\nA `manage.py batch_worker` killed with SIGKILL once "
        "half the job's items are answered; the next worker is the one `manage.py serve` "
        f"starts (as running `make run` again would): {_kill_line(results['kill'])}.",
        "### Targets", targets_markdown(targets=targets, value=lambda v: f"{v:.3g}"),
    ])  # fmt: skip

"""`python manage.py cache_eval FILE.jsonl`: how often the cache serves the right answer.

Lines are `{"a": ..., "b": ..., "same": bool}`. Prints each pair, a threshold sweep, and a
last line of JSON with `hit_rate` (on same pairs), `false_hit_rate` and `precision`.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from latency.bench.report import progress, table_print
from latency.cache.evaluation.calibrate import THRESHOLDS, pairs_load
from latency.cache.evaluation.pairs import pairs_evaluate, rates_of, threshold_sweep
from latency.strategies import strategy_settings_get


class Command(BaseCommand):
    help = "Evaluate the semantic cache on labelled query pairs."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("file", type=Path)
        parser.add_argument("--threshold", type=float, help="override the settings' threshold")

    def handle(self, *args: object, file: Path, threshold: float | None, **options: object):
        try:
            pairs = pairs_load(path=file)
        except (OSError, ValueError, KeyError) as error:
            raise CommandError(f"cannot read {file}: {error}") from error
        if not pairs:
            raise CommandError(f"{file} has no pairs")
        asyncio.run(self._run(pairs, threshold))

    async def _run(self, pairs, threshold: float | None) -> None:  # noqa: ANN001
        settings = await strategy_settings_get()
        if threshold is not None:
            settings.semantic_threshold = threshold
        outcomes = await pairs_evaluate(
            pairs=pairs, settings=settings, on_progress=lambda d, t: progress(sys.stderr, d, t)
        )
        table_print(
            self.stdout, "Pairs (a is cached, b is asked)",
            ["", "same", "served", "tier", "cosine", "a", "b", "note"],
            [["ok" if o.correct else "WRONG", o.pair.same, o.served, o.tier,
              "-" if o.similarity is None else round(o.similarity, 3),
              o.pair.cached[:40], o.pair.asked[:40], o.note[:40]] for o in outcomes],
        )  # fmt: skip
        for verified in (False, True):
            sweep = threshold_sweep(outcomes=outcomes, thresholds=THRESHOLDS, verified=verified)
            table_print(
                self.stdout,
                f"Threshold sweep, {'with verification' if verified else 'cosine alone'}",
                ["threshold", "hit rate", "false hits", "precision"],
                [[r.threshold, f"{r.hit_rate:.1%}", f"{r.false_hit_rate:.1%}",
                  "-" if r.precision is None else f"{r.precision:.1%}"] for r in sweep],
            )  # fmt: skip
        rates = rates_of(outcomes=outcomes, threshold=settings.semantic_threshold)
        self.stdout.write(
            f"\nAt threshold {settings.semantic_threshold:.2f} (verification "
            f"{'on' if settings.semantic_verify else 'off'}): hit rate {rates.hit_rate:.1%}, "
            f"false-hit rate {rates.false_hit_rate:.1%}, precision "
            f"{'-' if rates.precision is None else f'{rates.precision:.1%}'}\n"
        )
        self.stdout.write(json.dumps({
            "pairs": len(outcomes), "threshold": settings.semantic_threshold,
            "verification": settings.semantic_verify, "hit_rate": round(rates.hit_rate, 4),
            "false_hit_rate": round(rates.false_hit_rate, 4),
            "precision": None if rates.precision is None else round(rates.precision, 4),
        }))  # fmt: skip

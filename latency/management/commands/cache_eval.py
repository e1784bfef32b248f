"""`python manage.py cache_eval FILE.jsonl`: how often the cache serves the right answer.

Lines are `{"a": ..., "b": ..., "same": bool}`. Prints each pair, a threshold sweep, and a
last line of JSON with `hit_rate` (on same pairs), `false_hit_rate` and `precision`; a table per
`source` (when lines name one), and with `--report` the false hits by class.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from latency.bench.report import progress, table_print
from latency.cache.evaluation.calibrate import THRESHOLDS, pairs_load
from latency.cache.evaluation.pairs import (
    false_hits_explain,
    pairs_evaluate,
    rates_by_source,
    threshold_sweep,
)
from latency.strategies import strategy_settings_get


class Command(BaseCommand):
    help = "Evaluate the semantic cache on labelled query pairs."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("file", type=Path)
        parser.add_argument("--threshold", type=float, help="override the settings' threshold")
        parser.add_argument(
            "--report", action="store_true", help="list false hits by class (what let them in)"
        )

    def handle(
        self, *args: object, file: Path, threshold: float | None, report: bool, **options: object
    ):
        try:
            pairs = pairs_load(path=file)
        except (OSError, ValueError, KeyError) as error:
            raise CommandError(f"cannot read {file}: {error}") from error
        if not pairs:
            raise CommandError(f"{file} has no pairs")
        asyncio.run(self._run(pairs, threshold, report))

    async def _run(self, pairs, threshold: float | None, report: bool) -> None:  # noqa: ANN001
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
        by_source = rates_by_source(outcomes=outcomes, threshold=settings.semantic_threshold)
        table_print(
            self.stdout, "Per source", ["source", "pairs", "hit rate", "false hits", "precision"],
            [[source[-60:], sum(o.pair.source == source for o in outcomes) if source != "all"
              else len(outcomes), f"{r.hit_rate:.1%}", f"{r.false_hit_rate:.1%}",
              "-" if r.precision is None else f"{r.precision:.1%}"]
             for source, r in by_source.items()],
        )  # fmt: skip
        if report:
            explained = await asyncio.to_thread(lambda: false_hits_explain(outcomes=outcomes))
            classes = Counter(label.split(";")[0] for _, label in explained)
            table_print(self.stdout, "False hits by class", ["class", "false hits"],
                        [[label, count] for label, count in classes.most_common()])  # fmt: skip
            table_print(
                self.stdout, "False hits", ["class", "cosine", "a (cached)", "b (asked)"],
                [[label[:60], "-" if o.similarity is None else round(o.similarity, 3),
                  o.pair.cached[:50], o.pair.asked[:50]] for o, label in explained],
            )  # fmt: skip
        rates = by_source["all"]
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

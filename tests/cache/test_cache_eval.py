"""`manage.py cache_eval FILE.jsonl` as its contract says: a table per pair and per source, and a
last line of JSON with the hit rate on same pairs, the false-hit rate and the precision."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db(transaction=True)

PAIRS = [
    {"a": "What is the capital of France?", "b": "Which city is France's capital?",
     "same": True, "source": "chat"},
    {"a": "How do I boil an egg?", "b": "How do I boil an egg?", "same": True, "source": "chat"},
    {"a": "What foods should I eat for better sleep?",
     "b": "What foods should I avoid for better sleep?", "same": False, "source": "chat"},
    {"a": "Is 2024 a leap year?", "b": "Is 2024 a non-leap year?", "same": False,
     "source": "chat"},
]  # fmt: skip


def test_cache_eval_reports_per_pair_and_ends_with_the_rates(tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("\n".join(json.dumps(pair) for pair in PAIRS))
    out = io.StringIO()
    call_command("cache_eval", str(pairs), "--report", stdout=out)
    result = json.loads(out.getvalue().strip().splitlines()[-1])
    assert result["pairs"] == 4
    assert result["false_hit_rate"] == 0.0, "eat/avoid and leap/non-leap are refused"
    assert result["hit_rate"] >= 0.5 and result["precision"] == 1.0

"""Percentiles are exact for the window: the same numbers numpy gives on the same samples."""

from __future__ import annotations

import numpy as np
import pytest
from django.db import connection

from latency.dashboard.board import dashboard_build

FEATURES = ["chat", "search"]
MODELS = ["gpt-4o-mini", "gpt-4o", "llama-3.1-8b"]
OUTCOMES = ["exact", "semantic", "miss", "off"]


def _rows(rng: np.random.Generator, count: int, age_low: float, age_high: float) -> list[dict]:
    rows = []
    for _ in range(count):
        outcome = str(rng.choice(OUTCOMES))
        failed = rng.random() < 0.05
        rows.append({
            "feature": str(rng.choice(FEATURES)), "model": str(rng.choice(MODELS)),
            "region": str(rng.choice(["edge-eu", "cloud-us"])), "cache_outcome": outcome,
            "total_ms": round(float(rng.lognormal(6.5, 0.9)), 3),
            "ttft_ms": None if failed else round(float(rng.lognormal(5.5, 0.7)), 3),
            "status": "failed" if failed else "ok",
            "error": "sim-edge-eu did not answer in time." if failed else "",
            "error_kind": "timeout" if failed else "",
            "fallbacks": int(rng.random() < 0.1), "hedged": bool(rng.random() < 0.1),
            "tokens_before_compression": 800, "tokens_after_compression": 300,
            "age_s": float(rng.uniform(age_low, age_high)),
        })  # fmt: skip
    return rows


def _expected(rows: list[dict], key: str) -> list[float]:
    values = [row[key] for row in rows if row[key] is not None]
    return [float(v) for v in np.percentile(values, [50, 95, 99])]


@pytest.mark.django_db
def test_percentiles_match_numpy_on_the_same_samples(traces_make):  # noqa: ANN001
    rng = np.random.default_rng(3)
    recent = _rows(rng, 600, 1, 3500)  # inside the last hour
    older = _rows(rng, 200, 3700, 80000)  # inside 24 hours only
    traces_make(recent + older)
    # The rows' ages are counted from the database's now() (the test's transaction began then):
    # the windows end there too, so a row aged 299.9 s does not slip out while the test runs.
    with connection.cursor() as cursor:
        cursor.execute("SELECT now()")
        (now,) = cursor.fetchone()

    hour = dashboard_build(window_key="1h", now=now)
    assert hour.overall.requests == len(recent)
    assert list(hour.overall.total_p) == _expected(recent, "total_ms")
    assert list(hour.overall.ttft_p) == _expected(recent, "ttft_ms")

    day = dashboard_build(window_key="24h", now=now)
    assert day.overall.requests == len(recent) + len(older)
    assert list(day.overall.total_p) == _expected(recent + older, "total_ms")

    five = dashboard_build(window_key="5m", now=now)
    last = [row for row in recent if row["age_s"] < 300]
    assert five.overall.requests == len(last)


@pytest.mark.django_db
def test_breakdowns_are_exact_per_group_and_count_outcomes(traces_make):  # noqa: ANN001
    rng = np.random.default_rng(5)
    rows = _rows(rng, 500, 1, 3000)
    traces_make(rows)
    board = dashboard_build(window_key="1h")

    for name in ("feature", "model", "region", "cache_outcome"):
        for row in board.breakdowns[name]:
            group = [r for r in rows if r[name] == row.keys[name]]
            assert row.stats.requests == len(group)
            assert list(row.stats.total_p) == _expected(group, "total_ms")
    for row in board.breakdowns["feature_model"]:
        group = [r for r in rows if (r["feature"], r["model"]) == (row.keys["feature"],
                                                                   row.keys["model"])]  # fmt: skip
        assert list(row.stats.ttft_p) == _expected(group, "ttft_ms")

    overall = board.overall
    consulted = [r for r in rows if r["cache_outcome"] != "off"]
    hits = [r for r in consulted if r["cache_outcome"] in ("exact", "semantic")]
    assert overall.hit_rate == pytest.approx(len(hits) / len(consulted))
    assert overall.exact == sum(r["cache_outcome"] == "exact" for r in rows)
    assert overall.error_rate == pytest.approx(sum(r["status"] == "failed" for r in rows) / 500)
    assert overall.timeouts == sum(r["status"] == "failed" for r in rows)
    assert overall.fallbacks == sum(r["fallbacks"] > 0 for r in rows)
    assert overall.hedged == sum(r["hedged"] for r in rows)
    assert overall.per_second == pytest.approx(500 / 3600)


@pytest.mark.django_db
def test_hits_and_model_answers_are_reported_apart(traces_make):  # noqa: ANN001
    """A fast cache must not hide a slow model: each path has its own percentiles."""
    hits = [{"cache_outcome": "exact", "total_ms": 20.0 + i, "ttft_ms": 5.0, "age_s": 10}
            for i in range(90)]  # fmt: skip
    model = [{"cache_outcome": "miss", "total_ms": 4000.0 + i, "ttft_ms": 900.0, "age_s": 10,
              "fallbacks": 1 if i < 3 else 0} for i in range(10)]  # fmt: skip
    traces_make(hits + model)
    board = dashboard_build(window_key="5m")
    paths = {row.keys["path"]: row.stats for row in board.paths if "feature" not in row.keys}

    assert paths["cache hit"].requests == 90 and paths["model (miss or off)"].requests == 10
    assert paths["model (miss or off)"].total_p[0] == pytest.approx(4004.5)
    assert paths["fallback"].requests == 3
    assert board.overall.total_p[0] < 200  # together, the hits hide the slow model…
    assert paths["model (miss or off)"].total_p[1] > 4000  # …apart, they do not


@pytest.mark.django_db
def test_series_and_histogram_cover_the_window(traces_make):  # noqa: ANN001
    traces_make([
        {"total_ms": 120.0, "ttft_ms": 40.0, "age_s": 30, "cache_outcome": "exact"},
        {"total_ms": 180.0, "ttft_ms": 60.0, "age_s": 30, "cache_outcome": "miss"},
        {"total_ms": 2500.0, "ttft_ms": 700.0, "age_s": 1800, "cache_outcome": "miss"},
    ])  # fmt: skip
    board = dashboard_build(window_key="1h")
    assert sum(point.requests for point in board.series) == 3
    assert [p.hit_rate for p in board.series] == [0.0, 0.5]
    assert board.series[-1].total_p[0] == pytest.approx(150.0)
    bars = {bar.low_ms: bar for bar in board.histogram}
    assert bars[100].hits == 1 and bars[100].model == 1 and bars[2000].model == 1
    assert sum(bar.hits + bar.model for bar in board.histogram) == 3


def test_grouped_percentiles_equal_numpy_for_every_group():
    from latency.dashboard.stats import _Ranked

    rng = np.random.default_rng(11)
    values = np.round(rng.lognormal(6, 1.2, 5000), 3)
    values[rng.random(5000) < 0.05] = np.nan
    values[:50] = 123.0  # ties
    codes = rng.integers(-1, 40, 5000)
    result = _Ranked(values).percentiles(codes, 41)
    for group in range(41):
        members = values[(codes == group) & ~np.isnan(values)]
        if members.size == 0:
            assert np.isnan(result[group]).all()
        else:
            assert list(result[group]) == list(np.percentile(members, [50, 95, 99]))

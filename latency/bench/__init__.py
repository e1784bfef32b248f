"""Benchmarks behind `python manage.py latency_bench SCENARIO`: one module a scenario."""

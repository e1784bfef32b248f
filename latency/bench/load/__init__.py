"""`latency_bench load`: what the app holds (open-loop ramp to its capacity against one and two
web processes), a soak at 80% of it with uploads and batch jobs, and faults under load."""

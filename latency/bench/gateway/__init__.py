"""`latency_bench gateway`: the OpenAI API edge under load, its own TTFT cost, CPU, and a
reference gateway in front of the same simulator."""

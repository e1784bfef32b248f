"""`latency_bench batch` (issue #13): a classification task against `manage.py serve` as
`make run` starts it, the simulator with its capacity and rate limits on. Arms: one at a time
(a sample), concurrent unpacked, the app's default (a real job in the batch worker), chat with
and without a job running, and a worker killed with SIGKILL halfway through a job."""

"""`make run`: migrate, then start the simulator (when no real endpoint is set), one daphne
process per core sharing one listening socket, the documents worker and the alert checker.
`make run-edge` (EDGE_MODEL=smollm2) also starts llama.cpp's server beside the simulator, waits
for it, and hands its address to the children as EDGE_MODEL_URL.

Several web processes share state through Redis: REDIS_URL when set, else an embedded one
(chatapp/embedded_redis.py). Ctrl-C, SIGINT or SIGTERM stops every process this started. A
background worker that dies is started again (at most five times a minute); if a web process
dies, the rest stop too.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from chatapp import env

BACKGROUND = ("worker", "batch", "alerts")  # restarted when they die; nothing waits on them
RESTARTS_A_MINUTE = 5
RESTART_BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0)  # before the 1st, 2nd, ... restart in a minute


class Command(BaseCommand):
    help = "Start the whole app on its embedded defaults."

    def handle(self, *args: object, **options: object) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        login_hint = self._demo_user_ensure()
        # Prometheus files of an earlier run's processes would add up with this run's: start empty.
        shutil.rmtree(env.PROMETHEUS_MULTIPROC_DIR, ignore_errors=True)
        Path(env.PROMETHEUS_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)
        python = sys.executable
        child_env = env.environ_for_child()
        shared = None
        if env.WEB_PROCESSES > 1 and not env.REDIS_URL:
            from chatapp.embedded_redis import embedded_redis_start

            shared = embedded_redis_start(data_dir=env.DATA_DIR)
            child_env["REDIS_URL"] = shared.url
        commands = {}
        if not env.OPENAI_API_KEY:
            port = env.SIMULATOR_URL.rsplit(":", 1)[-1].strip("/")
            commands["simulator"] = [python, "-m", "latency.simulator", "--port", port]
        edge = None
        if env.EDGE_MODEL:
            from chatapp.edge_model import edge_model_command, edge_model_wait

            edge_url = f"http://127.0.0.1:{env.EDGE_MODEL_PORT}"
            edge = subprocess.Popen(
                edge_model_command(
                    name=env.EDGE_MODEL, port=env.EDGE_MODEL_PORT, threads=env.EDGE_MODEL_THREADS
                ),
                env=child_env,
            )
            try:
                edge_model_wait(url=edge_url, process=edge)
            except RuntimeError:
                self._processes_stop({"edge-model": edge})
                raise
            child_env["EDGE_MODEL_URL"] = edge_url
        # One listening socket, inherited by every web process: the kernel hands each new
        # connection to one of them, so every core serves. daphne runs through
        # chatapp.serving: requests must arrive within HTTP_BODY_TIMEOUT_S, and an oversized
        # websocket frame closes with a reason. Handshakes and dead peers are bounded.
        listener = socket.create_server((env.HOST, env.PORT), backlog=1024)
        listener.set_inheritable(True)
        for n in range(env.WEB_PROCESSES):
            commands[f"web{n + 1}"] = [
                python, "-m", "chatapp.serving", "--fd", str(listener.fileno()),
                "--websocket_connect_timeout", str(env.WEBSOCKET_CONNECT_TIMEOUT_S),
                "--ping-interval", "20", "--ping-timeout", "30", "--proxy-headers",
                "chatapp.asgi:application",
            ]  # fmt: skip
        # The background worker: document ingestion (django-tasks' database backend).
        commands["worker"] = [python, str(env.BASE_DIR / "manage.py"), "documents_worker"]
        # Batch jobs, on their own queue: a long job never holds up a document's ingestion.
        commands["batch"] = [python, str(env.BASE_DIR / "manage.py"), "batch_worker"]
        # Alerts fire even when no dashboard is open.
        commands["alerts"] = [
            python,
            str(env.BASE_DIR / "manage.py"),
            "alerts_check",
            "--every",
            "15",
        ]
        processes = {
            name: subprocess.Popen(
                command, env=child_env,
                pass_fds=(listener.fileno(),) if name.startswith("web") else (),
            )  # fmt: skip
            for name, command in commands.items()
        }
        if edge is not None:
            processes["edge-model"] = edge
        listener.close()  # the web processes hold it now
        sharing = "embedded Redis" if shared else ("Redis" if env.REDIS_URL else "one process")
        self.stdout.write(
            f"\nSubsecond is starting at http://{env.HOST}:{env.PORT}/ "
            f"({', '.join(processes)}; shared state: {sharing}).\n{login_hint}\n"
            "Press Ctrl-C to stop everything.\n"
        )
        stopping = False

        def stop(signum: int, frame: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        exit_code, restarts = 0, {name: [] for name in BACKGROUND}
        restart_at: dict[str, float] = {}
        while not stopping:
            for name, process in list(processes.items()):
                if process.poll() is None:
                    continue
                # A background worker that dies (kill -9, out of memory) is started again: its
                # start recovers the work it held. A web process, or a crash loop, stops all.
                # Each restart within a minute waits longer: a worker that cannot start while
                # the database is away for a few seconds must not use up its restarts at once.
                now = time.monotonic()
                recent = [t for t in restarts.get(name, []) if now - t < 60]
                if name in BACKGROUND and not stopping and len(recent) < RESTARTS_A_MINUTE:
                    if name not in restart_at:
                        delay = RESTART_BACKOFF_S[len(recent)]
                        restart_at[name] = now + delay
                        self.stderr.write(f"{name} exited with code {process.returncode}; "
                                          f"starting it again in {delay:g} s.")  # fmt: skip
                    if now >= restart_at[name]:
                        del restart_at[name]
                        restarts[name] = [*recent, now]
                        processes[name] = subprocess.Popen(commands[name], env=child_env)
                    continue
                self.stderr.write(f"{name} exited with code {process.returncode}; stopping.")
                stopping, exit_code = True, 1
            time.sleep(0.2)
        self._processes_stop(processes)
        if shared is not None:
            shared.stop()
        if not env.DATABASE_URL:
            from chatapp.embedded_db import embedded_database_stop

            embedded_database_stop(data_dir=env.DATA_DIR)
        sys.exit(exit_code)

    def _processes_stop(self, processes: dict[str, subprocess.Popen[bytes]]) -> None:
        for process in processes.values():
            if process.poll() is None:
                # SIGINT, not SIGTERM: Python then runs its exit handlers, and the last process
                # attached to the embedded PostgreSQL stops it on the way out.
                process.send_signal(signal.SIGINT)
        deadline = time.monotonic() + 8
        for process in processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.stdout.write("Stopped.")

    def _demo_user_ensure(self) -> str:
        if env.DATABASE_URL:
            return "Sign up at /accounts/signup/, or create staff with: manage.py createsuperuser"
        users = get_user_model()
        if not users.objects.filter(username="demo").exists():
            users.objects.create_user("demo", password="demo", is_staff=True, is_superuser=True)
        return "Log in as demo / demo (staff, local embedded database only), or sign up."

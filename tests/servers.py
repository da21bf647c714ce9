"""Real servers for tests that need real concurrency: uvicorn in a subprocess on a loopback port.

    with running_server(database_url, workers=2, api_key=new_key_in(database_url)) as s:
        httpx.get(f"{s.base_url}/api/v1/claims", headers=s.headers)

The server is the product's own entry point (``uvicorn app.main:create_app --factory``), so every
request crosses a socket, a worker process and the connection pool exactly as in production.
"""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


class ServerFailedToStart(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Server:
    base_url: str
    pid: int
    log_path: Path
    api_key: str | None = None  # sent by clients from ``headers``

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def log(self) -> str:
        """What the server wrote to stdout and stderr so far (for assertion messages)."""
        return self.log_path.read_text(errors="replace")


def free_port() -> int:
    """A port nothing listens on right now (the kernel's choice; a tiny race remains)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def server_env(database_url: str, settings: Mapping[str, str] | None = None) -> dict[str, str]:
    """The parent environment, minus any CLAIMS_* setting, plus the database and ``settings``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CLAIMS_")}
    env["CLAIMS_DATABASE_URL"] = database_url
    env.update(settings or {})
    return env


@contextmanager
def running_server(
    database_url: str,
    *,
    workers: int = 1,
    env: Mapping[str, str] | None = None,
    startup_timeout: float = 20.0,
    shutdown_timeout: float = 10.0,
    cwd: Path = ROOT,
    attempts: int = 3,
    api_key: str | None = None,
    via_cli: bool = False,
) -> Iterator[Server]:
    """Start uvicorn against ``database_url``, wait for /healthz, yield it, then stop it.

    ``env`` holds extra CLAIMS_* settings; ``api_key`` (made in that database by the caller)
    travels with the yielded Server for its clients to send. A port lost to another process
    between choosing it and binding it is retried on a new port, up to ``attempts`` times.
    ``via_cli`` starts ``claimtracker serve`` instead (it shares the connection budget among
    its workers), as an operator would.
    """
    with tempfile.TemporaryDirectory(prefix="claims-server-") as tmp:
        log_path = Path(tmp) / "server.log"
        for attempt in range(1, attempts + 1):
            port = free_port()
            with log_path.open("wb") as log:
                process = _spawn(
                    port, workers, server_env(database_url, env), cwd, log, via_cli=via_cli
                )
                try:
                    server = Server(f"http://{HOST}:{port}", process.pid, log_path, api_key)
                    try:
                        _wait_until_healthy(server, process, startup_timeout)
                    except ServerFailedToStart:
                        if attempt == attempts or process.poll() is None:
                            raise
                        continue  # exited early, most likely the port was taken: try another
                    yield server
                    return
                finally:
                    _stop(process, shutdown_timeout)


def _spawn(
    port: int,
    workers: int,
    env: dict[str, str],
    cwd: Path,
    log: IO[bytes],
    *,
    via_cli: bool = False,
) -> "subprocess.Popen[bytes]":
    if via_cli:
        command = [sys.executable, "-m", "app.cli", "serve"]
        env = {**env, "CLAIMS_LOG_LEVEL": "warning"}
    else:
        command = [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory"]
        # The app logs one line per request itself (app.web.request_log).
        command += ["--log-level", "warning", "--no-access-log"]
    command += ["--host", HOST, "--port", str(port), "--workers", str(workers)]
    # Its own session, so stopping it can reach the worker processes and nothing else.
    return subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _wait_until_healthy(server: Server, process: "subprocess.Popen[bytes]", timeout: float) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=server.base_url, timeout=1.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise ServerFailedToStart(
                    f"uvicorn exited with {process.returncode} before it was healthy:\n"
                    f"{server.log()}"
                )
            try:
                if client.get("/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
    raise ServerFailedToStart(f"uvicorn not healthy after {timeout} s:\n{server.log()}")


def _stop(process: "subprocess.Popen[bytes]", timeout: float) -> None:
    """SIGTERM (uvicorn's graceful shutdown, workers included); SIGKILL the group if it hangs."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        # Not reaped yet, so the group start_new_session made is still this server's own.
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)

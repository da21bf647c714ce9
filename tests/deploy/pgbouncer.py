"""PgBouncer in transaction-pooling mode on a free loopback port, in front of the PostgreSQL of
CLAIMS_TEST_PG_URL (Debian's ``pgbouncer``; .ci/run installs it)."""

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import make_url

from tests.servers import free_port

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


def have_pgbouncer() -> bool:
    return Path(PGBOUNCER).exists()


@contextmanager
def running_pgbouncer(pg_url: str, *, server_pool_size: int = 20) -> Iterator[int]:
    """Start PgBouncer (pool_mode=transaction, auth_type=trust) before ``pg_url``'s server;
    yield its port. At most ``server_pool_size`` server connections per database and user."""
    target = make_url(pg_url)
    with tempfile.TemporaryDirectory(prefix="claims-pgbouncer-") as tmp:
        directory = Path(tmp)
        port = free_port()
        (directory / "users.txt").write_text(f'"{target.username}" ""\n')
        (directory / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"* = host={target.host or '127.0.0.1'} port={target.port or 5432}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {port}\n"
            "unix_socket_dir =\n"
            "auth_type = trust\n"
            f"auth_file = {directory / 'users.txt'}\n"
            "pool_mode = transaction\n"
            "max_client_conn = 2000\n"
            f"default_pool_size = {server_pool_size}\n"
            f"max_db_connections = {server_pool_size}\n"
            # What psycopg and SQLAlchemy may send in the startup packet.
            "ignore_startup_parameters = extra_float_digits,options\n"
            "log_connections = 0\nlog_disconnections = 0\n"
        )
        command = [PGBOUNCER, str(directory / "pgbouncer.ini")]
        if os.geteuid() == 0:  # PgBouncer refuses to run as root: it runs as postgres
            command[1:1] = ["-u", "postgres"]
            postgres = pwd.getpwnam("postgres")
            for path in (directory, *directory.iterdir()):
                os.chown(path, postgres.pw_uid, postgres.pw_gid)
        output = (directory / "stderr.log").open("wb")
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            _wait_for_port(port, process, directory / "stderr.log")
            yield port
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
            output.close()


def _wait_for_port(
    port: int, process: "subprocess.Popen[bytes]", output: Path, timeout: float = 10
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            said = output.read_text(errors="replace")
            raise RuntimeError(f"pgbouncer exited with {process.returncode}: {said}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("pgbouncer did not listen in time")


def through(pg_url: str, port: int) -> str:
    """``pg_url`` with PgBouncer's port instead of the server's."""
    return make_url(pg_url).set(port=port).render_as_string(hide_password=False)

"""Servers on loopback and the load that wrk (or, without it, a small httpx client) puts on them."""

import asyncio
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
LUA = Path(__file__).resolve().parent / "random_id.lua"
HOST = "127.0.0.1"


@dataclass(frozen=True)
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # non-2xx/3xx answers plus socket errors
    cpu_us: float = float("nan")  # server CPU (user + system) per request
    timeouts: int = 0  # wrk's "Socket errors: ... timeout": no answer within --timeout
    non_2xx: int = 0  # answers outside 2xx/3xx
    statuses: tuple[tuple[int, int], ...] = ()  # (status, count), when the Lua script counts


@dataclass(frozen=True)
class Server:
    base: str
    pid: int
    headers: tuple[tuple[str, str], ...] = ()  # sent with every request (the API key)

    def cpu_seconds(self) -> float:
        """User + system CPU time so far of the server process and its children (uvicorn's
        workers), from Linux /proc; NaN elsewhere."""
        stats = _proc_stats()
        if self.pid not in stats:
            return float("nan")
        children: dict[int, list[int]] = {}
        for pid, (ppid, _) in stats.items():
            children.setdefault(ppid, []).append(pid)
        total, todo = 0, [self.pid]
        while todo:
            pid = todo.pop()
            total += stats[pid][1]
            todo += children.get(pid, [])
        return total / os.sysconf("SC_CLK_TCK")


def _proc_stats() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, user + system clock ticks) of every process (Linux /proc)."""
    stats: dict[int, tuple[int, int]] = {}
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = entry.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        stats[int(entry.parent.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    return stats


@dataclass(frozen=True)
class Target:
    """What one load run requests: a fixed path, or random ids under a prefix."""

    path: str
    random_ids: int = 0  # when > 0: path is a prefix, ids drawn from 1..random_ids
    skip_every: int = 0  # ids divisible by this are left out (soft-deleted rows)

    def pick(self, rng: random.Random) -> str:
        if not self.random_ids:
            return self.path
        while True:
            entity_id = rng.randint(1, self.random_ids)
            if not self.skip_every or entity_id % self.skip_every:
                return f"{self.path}{entity_id}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(
    app: str, *, factory: bool, env: dict[str, str], log: Path, workers: int = 1
) -> Iterator[Server]:
    """uvicorn (one worker unless told) on a free loopback port; yields it once /healthz
    answers."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", app, *(["--factory"] if factory else [])]
    command += ["--host", HOST, "--port", str(port), "--log-level", "warning"]
    if workers > 1:
        command += ["--workers", str(workers)]
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
        )
    base = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{app} exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{app} did not answer /healthz within 60 s")
            time.sleep(0.1)
        yield Server(base, process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def run_load(
    server: Server, target: Target, *, duration: float, connections: int, threads: int = 2
) -> Result:
    before = server.cpu_seconds()
    headers = dict(server.headers)
    if have_wrk():
        result = _wrk(
            server.base,
            target,
            duration=duration,
            connections=connections,
            threads=threads,
            headers=headers,
        )
    else:
        result = asyncio.run(
            _python_load(
                server.base, target, duration=duration, connections=connections, headers=headers
            )
        )
    cpu_us = (server.cpu_seconds() - before) / max(result.requests, 1) * 1e6
    return replace(result, cpu_us=cpu_us)


# --- wrk ------------------------------------------------------------------------------------

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value)
    if match is None:
        raise ValueError(f"unexpected wrk latency {value!r}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def parse_wrk(output: str) -> Result:
    def find(pattern: str) -> re.Match[str]:
        match = re.search(pattern, output)
        if match is None:
            raise ValueError(f"wrk output without {pattern!r}:\n{output}")
        return match

    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    non_2xx_match = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    non_2xx = int(non_2xx_match.group(1)) if non_2xx_match else 0
    errors = non_2xx
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    statuses = re.findall(r"^status (\d+) (\d+)$", output, re.MULTILINE)  # printed by Lua
    return Result(
        rps=float(find(r"Requests/sec:\s+([\d.]+)").group(1)),
        p50_ms=_ms(find(r"\s50%\s+(\S+)").group(1)),
        p99_ms=_ms(find(r"\s99%\s+(\S+)").group(1)),
        requests=int(find(r"(\d+) requests in").group(1)),
        errors=errors,
        timeouts=int(socket_errors.group(4)) if socket_errors else 0,
        non_2xx=non_2xx,
        statuses=tuple(sorted((int(code), int(count)) for code, count in statuses)),
    )


def _wrk(
    base: str,
    target: Target,
    *,
    duration: float,
    connections: int,
    threads: int,
    headers: dict[str, str],
) -> Result:
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", "--latency"]
    for name, value in headers.items():  # wrk.format() in random_id.lua sends these too
        command += ["-H", f"{name}: {value}"]
    if target.random_ids:
        command += ["-s", str(LUA), base, "--", target.path, str(target.random_ids)]
        command.append(str(target.skip_every))
    else:
        command.append(base + target.path)
    done = subprocess.run(
        command, capture_output=True, text=True, check=True, timeout=duration + 60
    )
    return parse_wrk(done.stdout)


def run_script(
    server: Server,
    script: Path,
    args: list[str],
    *,
    duration: float,
    connections: int,
    threads: int = 2,
    timeout: float = 2.0,
) -> Result:
    """wrk with a Lua script that builds its own requests (``-- args`` passed to it); the
    server's headers go in with -H, where the script finds them in ``wrk.headers``."""
    before = server.cpu_seconds()
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", "--latency"]
    command += [f"--timeout={timeout:g}s"]
    for name, value in server.headers:
        command += ["-H", f"{name}: {value}"]
    command += ["-s", str(script), server.base, "--", *args]
    done = subprocess.run(
        command, capture_output=True, text=True, check=True, timeout=duration + 60
    )
    result = parse_wrk(done.stdout)
    cpu_us = (server.cpu_seconds() - before) / max(result.requests, 1) * 1e6
    return replace(result, cpu_us=cpu_us)


# --- fallback: asyncio + httpx (shares the two cores with the server: ratios only) ----------


async def _python_load(
    base: str, target: Target, *, duration: float, connections: int, headers: dict[str, str]
) -> Result:
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(
        base_url=base, limits=limits, timeout=30, headers=headers
    ) as client:
        deadline = time.perf_counter() + duration

        async def worker(seed: int) -> None:
            nonlocal errors
            rng = random.Random(seed)
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    response = await client.get(target.pick(rng))
                    if response.status_code >= 400:
                        errors += 1
                except httpx.HTTPError:
                    errors += 1
                latencies.append(time.perf_counter() - started)

        began = time.perf_counter()
        await asyncio.gather(*(worker(seed) for seed in range(connections)))
        elapsed = time.perf_counter() - began
    cuts = statistics.quantiles(latencies, n=100)
    return Result(
        rps=len(latencies) / elapsed,
        p50_ms=cuts[49] * 1000,
        p99_ms=cuts[98] * 1000,
        requests=len(latencies),
        errors=errors,
    )

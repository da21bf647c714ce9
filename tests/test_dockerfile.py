"""The Docker image, checked without Docker.

The fast tests read the Dockerfile and .dockerignore. The slow one does what a build and a
``docker run`` would: it lays out the image's WORKDIR in a temporary folder from the Dockerfile's
COPY lines (minus what .dockerignore keeps out of the build context), runs its ``pip install``
in a fresh venv, then runs its CMD against a temporary SQLite file and checks /healthz, /readyz
and the HEALTHCHECK command. Nothing here uses the per-backend fixtures of conftest.py.
"""

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
LOOPBACK = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class Instruction:
    keyword: str
    args: str
    line: int


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions with their line continuations joined and comments dropped."""
    instructions: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue  # also inside a continuation, as Docker does
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        keyword, _, args = " ".join(pending).partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip(), start))
        pending = []
    assert not pending, "the Dockerfile ends inside a line continuation"
    return instructions


INSTRUCTIONS = parse_dockerfile(DOCKERFILE.read_text())


def all_of(keyword: str) -> list[Instruction]:
    return [i for i in INSTRUCTIONS if i.keyword == keyword]


def only(keyword: str) -> Instruction:
    found = all_of(keyword)
    assert len(found) == 1, f"expected exactly one {keyword}, found {len(found)}"
    return found[0]


def exec_form(args: str) -> list[str]:
    try:
        argv = json.loads(args)
    except json.JSONDecodeError:
        argv = None
    assert isinstance(argv, list), f"not exec (JSON) form: {args}"
    assert all(isinstance(arg, str) for arg in argv)
    return argv


def env_pairs(instruction: Instruction) -> dict[str, str]:
    tokens = shlex.split(instruction.args)
    if "=" not in tokens[0]:  # legacy `ENV KEY value`
        return {tokens[0]: " ".join(tokens[1:])}
    return dict(token.split("=", 1) for token in tokens)


def copy_paths(instruction: Instruction) -> tuple[list[str], str]:
    args = instruction.args
    tokens = exec_form(args) if args.startswith("[") else shlex.split(args)
    tokens = [token for token in tokens if not token.startswith("--")]  # --chown=, --chmod=
    return tokens[:-1], tokens[-1]


def shell_commands(script: str) -> list[list[str]]:
    """A shell line split at `&&`, `||` and `;` into argv lists (enough for these lines)."""
    return [shlex.split(part) for part in re.split(r"&&|\|\||;", script) if part.strip()]


def pip_install_commands(instruction: Instruction) -> list[list[str]]:
    """The pip arguments (after `pip`) of each `pip install` in a RUN line."""
    found = []
    for argv in shell_commands(instruction.args):
        for index, word in enumerate(argv):
            if PurePosixPath(word).name in {"pip", "pip3"} and argv[index + 1 : index + 2] == [
                "install"
            ]:
                found.append(argv[index + 1 :])
    return found


def cmd_script() -> str:
    """The CMD as one shell line: the `sh -c` script, or the exec-form argv joined."""
    argv = exec_form(only("CMD").args)
    if argv[:2] in (["sh", "-c"], ["/bin/sh", "-c"]):
        assert len(argv) == 3
        return argv[2]
    return shlex.join(argv)


def healthcheck_argv() -> list[str]:
    match = re.fullmatch(r"((?:--\S+\s+)*)CMD\s+(.+)", only("HEALTHCHECK").args, re.DOTALL)
    assert match, "HEALTHCHECK needs a CMD"
    return exec_form(match.group(2))


def final_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction in all_of("ENV"):
        env.update(env_pairs(instruction))
    return env


def _ignore_regex(pattern: str) -> re.Pattern[str]:
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out.append(pattern[i : end + 1])
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))


def _ignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for raw in DOCKERIGNORE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        rules.append((negate, _ignore_regex(line.lstrip("!").strip("/"))))
    return rules


IGNORE_RULES = _ignore_rules()


def dockerignored(relative: str) -> bool:
    """Whether .dockerignore keeps this context path (or a folder above it) out of the build."""
    parts = PurePosixPath(relative).parts
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    ignored = False
    for negate, regex in IGNORE_RULES:
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            ignored = not negate
    return ignored


# --- the Dockerfile's shape -------------------------------------------------------------------


def test_base_image_is_a_slim_python_pinned_to_a_minor_version() -> None:
    image = only("FROM").args.split()[0]
    match = re.fullmatch(r"python:3\.(\d+)-slim(?:-[a-z]+)?", image)
    assert match, f"expected python:3.X-slim, got {image}"
    required = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert int(match.group(1)) >= int(re.search(r">=\s*3\.(\d+)", required).group(1))


def test_python_environment_flags() -> None:
    env = final_env()
    assert env.get("PYTHONDONTWRITEBYTECODE") == "1"
    assert env.get("PYTHONUNBUFFERED") == "1"


def test_runs_as_a_non_root_user_from_before_cmd_on() -> None:
    users = all_of("USER")
    assert users, "no USER: the container would run as root"
    last = users[-1]
    assert last.line < only("CMD").line
    user = last.args.split(":")[0]
    assert user not in {"root", "0"}
    assert user.isdigit(), "a numeric USER lets runtimes verify it is not root"


def test_installs_the_project_from_the_lock_not_editable_without_dev_extras() -> None:
    installs = [argv for run in all_of("RUN") for argv in pip_install_commands(run)]
    assert len(installs) == 1, installs
    argv = installs[0]
    assert "-c" in argv
    assert argv[argv.index("-c") + 1] == "constraints.txt"
    assert "--no-cache-dir" in argv
    assert "-e" not in argv
    assert "--editable" not in argv
    targets = [arg for arg in argv[1:] if not arg.startswith("-") and arg != "constraints.txt"]
    assert targets == ["."], "install exactly the project, no extras"


def test_copies_what_the_app_needs_and_only_what_exists_in_the_context() -> None:
    copied = []
    for instruction in all_of("COPY"):
        sources, _ = copy_paths(instruction)
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: not in the build context"
            assert not dockerignored(source), f"COPY {source}: excluded by .dockerignore"
            copied.append(source.rstrip("/"))
    needed = {"pyproject.toml", "constraints.txt", "app", "alembic.ini", "migrations", "seeds"}
    readme = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"].get("readme")
    if isinstance(readme, str) and (ROOT / readme).exists():
        needed.add(readme)  # the wheel build reads it
    assert needed <= set(copied), f"not copied: {sorted(needed - set(copied))}"
    assert all(instruction.keyword != "ADD" for instruction in INSTRUCTIONS)


@pytest.mark.parametrize(
    "path",
    [
        ".git/HEAD",
        ".venv/bin/python",
        "claims.db",
        "claims.db-wal",
        ".env",
        "app/__pycache__/main.cpython-311.pyc",
        "bench/.work/x",
        "tests/conftest.py",
    ],
)
def test_dockerignore_keeps_local_state_out_of_the_context(path: str) -> None:
    assert dockerignored(path)


def test_cmd_migrates_then_serves_on_all_interfaces() -> None:
    commands = shell_commands(cmd_script())
    words = [" ".join(argv) for argv in commands]
    migrate = next(i for i, cmd in enumerate(words) if cmd.startswith("claimtracker migrate"))
    serve = next(i for i, cmd in enumerate(words) if "claimtracker serve" in cmd)
    assert migrate < serve
    script = cmd_script()
    between = script[script.index("claimtracker migrate") : script.index("claimtracker serve")]
    assert "&&" in between, "a failed migration must stop the container, not start the server"
    assert words[serve].startswith("exec "), "exec the server so it gets SIGTERM as PID 1"
    assert "--port" not in commands[serve], "the port comes from CLAIMS_PORT (HEALTHCHECK uses it)"
    host_flag = "--host 0.0.0.0" in words[serve]
    assert host_flag or final_env().get("CLAIMS_HOST") == "0.0.0.0"
    assert only("EXPOSE").args.split("/")[0] == final_env().get("CLAIMS_PORT", "8000")


def test_healthcheck_probes_healthz_with_python_not_curl() -> None:
    argv = healthcheck_argv()
    assert argv[0] == "python"
    assert "/healthz" in argv[-1]


def test_default_database_is_sqlite_on_a_volume_the_app_user_owns() -> None:
    url = final_env()["CLAIMS_DATABASE_URL"]
    assert url.startswith("sqlite:////"), "an absolute SQLite path"
    folder = str(PurePosixPath(url.removeprefix("sqlite:///")).parent)
    volumes = [v for instruction in all_of("VOLUME") for v in exec_form(instruction.args)]
    assert folder in volumes
    chowned = [run for run in all_of("RUN") if "chown" in run.args and folder in run.args]
    assert chowned, f"{folder} must belong to the app user"
    assert chowned[0].line < only("VOLUME").line, "chown before VOLUME, or it is discarded"


# --- the image's commands, run in a fresh venv ------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


@dataclass
class FakeImage:
    """The image's WORKDIR and venv on the host; ``env`` is the Dockerfile's ENV, mapped."""

    workdir: Path
    venv: Path
    env: dict[str, str]

    def run_env(self, **settings: str) -> dict[str, str]:
        base = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("CLAIMS_") and key not in {"PYTHONPATH", "VIRTUAL_ENV"}
        }
        base.update(self.env)
        base["PATH"] = f"{self.venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
        base.update(settings)
        return base


def build_fake_image(tmp: Path) -> FakeImage:
    """Replay the Dockerfile's WORKDIR, COPY, ENV and `pip install` steps, in order."""
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    rootfs = tmp / "rootfs"
    container_workdir = PurePosixPath("/")
    env: dict[str, str] = {}

    def on_host(container_path: PurePosixPath) -> Path:
        return rootfs / str(container_path).lstrip("/")

    def mapped(value: str) -> str:
        if container_workdir == PurePosixPath("/"):
            return value
        return value.replace(str(container_workdir), str(on_host(container_workdir)))

    for instruction in INSTRUCTIONS:
        if instruction.keyword == "WORKDIR":
            container_workdir = container_workdir / instruction.args
            on_host(container_workdir).mkdir(parents=True, exist_ok=True)
        elif instruction.keyword == "ENV":
            env.update({k: mapped(v) for k, v in env_pairs(instruction).items() if k != "PATH"})
        elif instruction.keyword == "COPY":
            sources, dest = copy_paths(instruction)
            target = on_host(container_workdir / dest)
            into_folder = dest.endswith("/") or len(sources) > 1
            for source in sources:
                _copy_context_path(source, target / Path(source).name if into_folder else target)
        elif instruction.keyword == "RUN":
            for pip_args in pip_install_commands(instruction):
                image = FakeImage(on_host(container_workdir), venv, env)
                subprocess.run(
                    [str(venv / "bin" / "python"), "-m", "pip", *pip_args],
                    cwd=on_host(container_workdir),
                    env=image.run_env(),
                    check=True,
                    timeout=600,
                )
    return FakeImage(on_host(container_workdir), venv, env)


def _copy_context_path(source: str, target: Path) -> None:
    """Docker's COPY: a file to ``target``, a folder's contents into ``target``."""
    path = ROOT / source
    if path.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
        return
    for file in path.rglob("*"):
        relative = file.relative_to(ROOT).as_posix()
        if file.is_file() and not dockerignored(relative):
            destination = target / file.relative_to(path)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(file, destination)


@pytest.fixture
def fake_image(tmp_path: Path) -> Iterator[FakeImage]:
    yield build_fake_image(tmp_path)
    # pytest keeps the last few tmp folders; a venv each is too much to keep.
    shutil.rmtree(tmp_path / "venv", ignore_errors=True)
    shutil.rmtree(tmp_path / "rootfs", ignore_errors=True)


@pytest.fixture
def container(fake_image: FakeImage, tmp_path: Path) -> Iterator[tuple[str, FakeImage, Path]]:
    """The CMD, as `docker run` would start it, on a loopback port and a temporary SQLite file."""
    database = tmp_path / "data" / "claims.db"
    database.parent.mkdir()
    port = free_port()
    env = fake_image.run_env(
        CLAIMS_DATABASE_URL=f"sqlite:///{database}",
        CLAIMS_HOST=LOOPBACK,
        CLAIMS_PORT=str(port),
        CLAIMS_LOG_LEVEL="warning",
    )
    log_path = tmp_path / "container.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            exec_form(only("CMD").args),
            cwd=fake_image.workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _wait_for_health(f"http://{LOOPBACK}:{port}", process, log_path, timeout=30)
            yield f"http://{LOOPBACK}:{port}", fake_image, database
        finally:
            _stop(process)
    print(log_path.read_text(errors="replace"))  # shown by pytest only on failure


def _wait_for_health(
    base_url: str, process: "subprocess.Popen[bytes]", log_path: Path, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=base_url, timeout=1.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(
                    f"the CMD exited with {process.returncode} before /healthz answered:\n"
                    f"{log_path.read_text(errors='replace')}"
                )
            try:
                if client.get("/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    pytest.fail(f"/healthz not 200 after {timeout} s:\n{log_path.read_text(errors='replace')}")


def _stop(process: "subprocess.Popen[bytes]") -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)


def _healthcheck(image: FakeImage, port: int) -> "subprocess.CompletedProcess[bytes]":
    argv = healthcheck_argv()
    argv[0] = str(image.venv / "bin" / "python")
    return subprocess.run(
        argv, env=image.run_env(CLAIMS_PORT=str(port)), capture_output=True, timeout=30
    )


@pytest.mark.slow
@pytest.mark.soak
def test_the_image_installs_migrates_and_serves(container: tuple[str, FakeImage, Path]) -> None:
    base_url, image, database = container
    assert database.is_file(), "migrate did not create the database at CLAIMS_DATABASE_URL"
    with httpx.Client(base_url=base_url, timeout=5.0) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["status"] == "ok"
    port = int(base_url.rsplit(":", 1)[1])
    healthy = _healthcheck(image, port)
    assert healthy.returncode == 0, healthy.stderr.decode(errors="replace")
    unhealthy = _healthcheck(image, free_port())
    assert unhealthy.returncode != 0, "the HEALTHCHECK must fail when nothing answers"
    # The one-off commands docs/deploy.md runs with `docker exec`, in the same environment.
    env = image.run_env(CLAIMS_DATABASE_URL=f"sqlite:///{database}")
    for command in (["seed", "--if-empty"], ["verify-history"], ["keys", "ensure-admin"]):
        done = subprocess.run(
            ["claimtracker", *command],
            cwd=image.workdir,
            env=env,
            capture_output=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()

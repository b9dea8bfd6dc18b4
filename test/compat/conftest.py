"""Compatibility suite: the real `prefect` client (from PyPI) against our server.

Run from the repository root (the Makefile's `test-compat` does this):

    PREFECTGO_SERVER_BIN=$PWD/bin/prefect-server \
    PREFECTGO_TEST_POSTGRES_URL=$(hack/postgres.sh url) \
    $VENV/bin/python -m pytest -q test/compat

Our binary gets the pinned prefect's block catalogue and collection views, as the image has them
(PREFECTGO_TEST_CATALOGUE, else hack/catalogue-assets.sh).

Every test runs once per backend (SQLite, PostgreSQL). Each backend gets one server for the
session on a FRESH database (a SQLite file in a temp dir, or a new `compat_<random>` database),
and tests keep out of each other's way by using distinct flow names.

Setting PREFECTGO_COMPAT_TARGET=python runs the same tests against the reference Python server
(`prefect server start` from the venv) instead: that is how the tests themselves are validated.

The client always runs in a subprocess: Prefect caches settings process-wide, so a fresh
interpreter per script is the only way to give each one its own API URL, home and auth.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
FLOWS = HERE / "flows"
PYTHON = sys.executable  # the venv's python: pytest runs under it
PREFECT_CLI = str(Path(sys.executable).parent / "prefect")
RESULT_MARK = "COMPAT_RESULT "

TARGET = os.environ.get("PREFECTGO_COMPAT_TARGET", "go")
# A bound on how long a server may take to answer /api/health (not a speed assertion). The
# Python server runs its migrations at start, which takes longer than our binary.
START_TIMEOUT = float(
    os.environ.get("PREFECTGO_COMPAT_START_TIMEOUT", "90" if TARGET == "python" else "30")
)
# A bound for one client script (a flow plus its read-back polling).
SCRIPT_TIMEOUT = float(os.environ.get("PREFECTGO_COMPAT_SCRIPT_TIMEOUT", "240"))

BACKENDS = ["sqlite", "postgres"]


# --------------------------------------------------------------------------- databases


def _psql() -> str:
    """psql from the postgresql package (Debian keeps it under /usr/lib/postgresql/*/bin)."""
    found = shutil.which("psql")
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin/psql"), reverse=True):
        return str(candidate)
    raise RuntimeError("psql not found (install Debian's postgresql package)")


_pg_url_cache: list[str] = []
_catalogue_cache: list[str] = []


def catalogue_dir() -> str:
    """The pinned prefect's block catalogue and collection views for our binary, as the image
    carries them: PREFECTGO_TEST_CATALOGUE, else what hack/catalogue-assets.sh prints."""
    found = os.environ.get("PREFECTGO_TEST_CATALOGUE")
    if found:
        return found
    if not _catalogue_cache:
        out = subprocess.run(
            ["bash", str(REPO_ROOT / "hack" / "catalogue-assets.sh")],
            check=True, capture_output=True, text=True,
        )
        _catalogue_cache.append(out.stdout.strip())
    return _catalogue_cache[0]


def postgres_admin_url() -> str:
    """The test PostgreSQL server's URL (`postgres://user@host:port/db?...`)."""
    url = os.environ.get("PREFECTGO_TEST_POSTGRES_URL")
    if url:
        return url
    if not _pg_url_cache:
        # Convenience for running pytest by hand: start the same cluster the Makefile uses.
        out = subprocess.run(
            ["bash", str(REPO_ROOT / "hack" / "postgres.sh"), "url"],
            check=True, capture_output=True, text=True,
        )
        _pg_url_cache.append(out.stdout.strip())
    return _pg_url_cache[0]


def _psql_run(sql: str) -> None:
    subprocess.run(
        [_psql(), postgres_admin_url(), "-v", "ON_ERROR_STOP=1", "-q", "-c", sql],
        check=True, capture_output=True, text=True, timeout=60,
    )


def create_postgres_database() -> tuple[str, str]:
    """Create a fresh database; return (its name, the server's asyncpg connection URL)."""
    name = "compat_" + uuid.uuid4().hex[:12]
    _psql_run(f'CREATE DATABASE "{name}"')
    u = urllib.parse.urlsplit(postgres_admin_url())
    userinfo = u.username or "postgres"
    if u.password:
        userinfo += ":" + urllib.parse.quote(u.password, safe="")
    host = u.hostname or "127.0.0.1"
    port = u.port or 5432
    return name, f"postgresql+asyncpg://{userinfo}@{host}:{port}/{name}"


def drop_postgres_database(name: str) -> None:
    last = None
    for _ in range(3):  # the server's last connections may still be closing
        try:
            _psql_run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except Exception as exc:
            last = exc
            time.sleep(1)
    # Best effort: a leftover database only costs disk.
    detail = getattr(last, "stderr", "") or last
    print(f"compat: could not drop database {name}: {detail}", file=sys.stderr)


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_environ() -> dict[str, str]:
    """The environment minus every PREFECT_* variable, so nothing from the caller leaks in."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}


@dataclass
class Server:
    backend: str
    api_url: str
    log_path: Path
    workdir: Path
    auth_string: str | None = None
    proc: subprocess.Popen | None = None
    db_name: str | None = None

    def log_tail(self, lines: int = 80) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError as exc:
            return f"(no server log: {exc})"
        return "\n".join(text.splitlines()[-lines:])

    # ---- plain HTTP, for raw-API checks and fast polling from the test process

    def http(self, method: str, path: str, body=None, auth: bool = True, timeout: float = 30,
             headers: dict[str, str] | None = None):
        """Return (status, parsed JSON or raw text) for one request to the API."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.api_url + path, data=data, method=method, headers=headers or {})
        if body is not None:
            req.add_header("Content-Type", "application/json")
        if auth and self.auth_string:
            token = base64.b64encode(self.auth_string.encode()).decode()
            req.add_header("Authorization", "Basic " + token)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")

    # ---- the real client in a subprocess

    def client_env(self, home: Path, auth: bool = True, **extra: str) -> dict[str, str]:
        env = clean_environ()
        env.update(
            PREFECT_API_URL=self.api_url,
            PREFECT_HOME=str(home),
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            PREFECT_LOGGING_TO_API_BATCH_INTERVAL="0.3",
            # Rich tables (CLI output) truncate to the terminal width; make it wide.
            COLUMNS="250",
            PYTHONUNBUFFERED="1",
            PYTHONDONTWRITEBYTECODE="1",
        )
        if auth and self.auth_string:
            env["PREFECT_API_AUTH_STRING"] = self.auth_string
        env.update(extra)
        return env

    def run(self, argv: list[str], home: Path, auth: bool = True, check: bool = True,
            timeout: float = SCRIPT_TIMEOUT, **extra_env: str) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            argv, cwd=str(home), env=self.client_env(home, auth=auth, **extra_env),
            capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{argv} exited {proc.returncode}\n--- stdout\n{proc.stdout[-6000:]}"
                f"\n--- stderr\n{proc.stderr[-6000:]}"
            )
        return proc

    def run_script(self, script: str | Path, *args: str, home: Path, **kw) -> tuple[subprocess.CompletedProcess, dict | None]:
        """Run a client script from flows/; return the process and its COMPAT_RESULT JSON."""
        path = Path(script)
        if not path.is_absolute():
            path = FLOWS / path
        proc = self.run([PYTHON, str(path), *args], home=home, **kw)
        return proc, parse_result(proc)


def parse_result(proc: subprocess.CompletedProcess) -> dict | None:
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            return json.loads(line[len(RESULT_MARK):])
    return None


def _die_with_parent() -> None:
    """In the forked child: ask Linux for SIGTERM when the parent (pytest) exits."""
    try:
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except Exception:
        pass  # not Linux, or no libc by that name: teardown still stops the server


def start_server(backend: str, tmp_root: Path, auth_string: str | None = None,
                 extra_env: dict[str, str] | None = None) -> Server:
    workdir = Path(tempfile.mkdtemp(prefix=f"compat-{backend}-", dir=tmp_root))
    port = free_port()
    db_name = None
    if backend == "sqlite":
        db_url = f"sqlite+aiosqlite:///{workdir / 'prefect.db'}"
    elif backend == "postgres":
        db_name, db_url = create_postgres_database()
    else:
        raise ValueError(backend)

    env = clean_environ()
    env.update(
        PREFECT_HOME=str(workdir / "home"),
        PREFECT_SERVER_API_HOST="127.0.0.1",
        PREFECT_SERVER_API_PORT=str(port),
        PREFECT_SERVER_DATABASE_CONNECTION_URL=db_url,
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_UI_ENABLED="false",
    )
    if auth_string:
        env["PREFECT_SERVER_API_AUTH_STRING"] = auth_string
    env.update(extra_env or {})

    if TARGET == "python":
        argv = [PREFECT_CLI, "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    else:
        binary = os.environ.get("PREFECTGO_SERVER_BIN")
        if not binary or not os.access(binary, os.X_OK):
            raise RuntimeError(
                "PREFECTGO_SERVER_BIN must name the built server binary (make build), "
                "or set PREFECTGO_COMPAT_TARGET=python to test against the Python server"
            )
        argv = [binary, "serve"]
        env.setdefault("PREFECT_SERVER_CATALOGUE_DIRECTORY", catalogue_dir())

    log_path = workdir / "server.log"
    server = Server(
        backend=backend, api_url=f"http://127.0.0.1:{port}/api", log_path=log_path,
        workdir=workdir, auth_string=auth_string, db_name=db_name,
    )
    log = open(log_path, "wb")
    # A session of its own, so stopping it takes any children (uvicorn workers) along; and
    # on Linux the server is told to stop if pytest dies without tearing down.
    server.proc = subprocess.Popen(
        argv, cwd=str(workdir), env=env, stdout=log, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=_die_with_parent,
    )
    log.close()

    deadline = time.monotonic() + START_TIMEOUT
    last = "no answer"
    while True:
        if server.proc.poll() is not None:
            stop_server(server)
            raise RuntimeError(
                f"server exited with {server.proc.returncode} before it was healthy "
                f"({' '.join(argv)})\n--- server log\n{server.log_tail(200)}"
            )
        try:
            status, body = server.http("GET", "/health", auth=False, timeout=2)
            if status == 200:
                return server
            last = f"status {status}: {body!r}"
        except Exception as exc:  # not listening yet
            last = repr(exc)
        if time.monotonic() > deadline:
            stop_server(server)
            raise RuntimeError(
                f"server not healthy after {START_TIMEOUT:.0f}s (last: {last})\n"
                f"--- server log\n{server.log_tail(200)}"
            )
        time.sleep(0.2)


def stop_server(server: Server) -> None:
    proc = server.proc
    if proc is not None and proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)
    if server.db_name:
        drop_postgres_database(server.db_name)
        server.db_name = None


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def compat_tmp(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("compat")


@pytest.fixture(scope="session", params=BACKENDS)
def server(request, compat_tmp) -> Server:
    """One server per backend for the whole session, on a fresh database."""
    srv = start_server(request.param, compat_tmp)
    yield srv
    stop_server(srv)


@pytest.fixture(scope="session")
def auth_server(server, compat_tmp) -> Server:
    """A second server, same backend, with basic auth (`admin:secret`) and CSRF protection on."""
    srv = start_server(server.backend, compat_tmp, auth_string="admin:secret",
                       extra_env={"PREFECT_SERVER_API_CSRF_PROTECTION_ENABLED": "true"})
    yield srv
    stop_server(srv)


@pytest.fixture
def home(tmp_path) -> Path:
    """A PREFECT_HOME (and working directory) of the test's own, so no profile leaks in."""
    h = tmp_path / "prefect-home"
    h.mkdir()
    return h


# When a test fails, attach the tail of the server log(s) it used to the report.
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        funcargs = getattr(item, "funcargs", {})
        for name in ("server", "auth_server"):
            srv = funcargs.get(name)
            if isinstance(srv, Server):
                report.sections.append(
                    (f"{name} log ({srv.backend}, {srv.log_path})", srv.log_tail())
                )

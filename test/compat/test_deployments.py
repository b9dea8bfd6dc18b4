"""Deployments, work pools, workers, `flow.serve()`, variables and concurrency limits, with the
real client and CLI, on every backend.

Every test names its flows, deployments, pools, variables and limits after itself, so the tests
sharing one server stay independent. Long-running client processes (workers, runners) run as
subprocesses bounded by timeouts; every wait is a poll with a deadline, never a speed assertion.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from conftest import FLOWS, PREFECT_CLI, PYTHON, TARGET, Server

TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
# Bounds on waiting for something asynchronous (a runner picking a run up, a run finishing).
RUN_WAIT = 90.0
# What the 3.9.1 worker logs at DEBUG on each sync while its worker channel is healthy, and what it
# logs when it gives the channel up for REST (for good, or until a reconnect).
CHANNEL_HEALTHY = "Skipping REST worker heartbeat because the worker channel is healthy."
CHANNEL_FALLBACK = ("Worker channel disabled", "REST fallback is active")
# A runner learns of a cancellation from /api/events/out or, failing that, by polling every
# 10 s; either way it must kill the process and report Cancelled within this bound.
CANCEL_WAIT = 90.0


# --------------------------------------------------------------------------- helpers


def wait_for(read: Callable[[], Any], done: Callable[[Any], bool], timeout: float,
             what: str, interval: float = 0.5) -> Any:
    """Poll read() until done(value); fail with the last value once the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout:.0f}s waiting for {what}; last: {value!r}")
        time.sleep(interval)


def get_ok(server: Server, path: str) -> Any:
    status, body = server.http("GET", path)
    assert status == 200, (path, status, body)
    return body


def post_ok(server: Server, path: str, body: Any) -> Any:
    status, out = server.http("POST", path, body)
    assert status in (200, 201), (path, status, out)
    return out


def read_deployment(server: Server, flow_name: str, name: str) -> dict | None:
    status, body = server.http("GET", f"/deployments/name/{flow_name}/{name}")
    if status == 404:
        return None
    assert status == 200, (status, body)
    return body


def read_run(server: Server, flow_run_id: str) -> dict:
    return get_ok(server, f"/flow_runs/{flow_run_id}")


def wait_run_state(server: Server, flow_run_id: str, states: set[str], timeout: float,
                   what: str = "") -> dict:
    return wait_for(lambda: read_run(server, flow_run_id),
                    lambda fr: fr["state_type"] in states, timeout,
                    what or f"flow run {flow_run_id} to reach {sorted(states)}")


def runs_of_deployment(server: Server, deployment_id: str) -> list[dict]:
    return post_ok(server, "/flow_runs/filter", {
        "deployments": {"id": {"any_": [deployment_id]}},
        "sort": "EXPECTED_START_TIME_ASC",
    })


def flow_run_id_from_cli(stdout: str) -> str:
    """`prefect deployment run` prints `└── UUID: <id>`."""
    for line in stdout.splitlines():
        if "UUID:" in line:
            return line.split("UUID:", 1)[1].strip()
    raise AssertionError(f"no flow run UUID in:\n{stdout}")


def ts(value: str | None) -> datetime:
    assert value, "timestamp missing"
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def scheduled_for_pool(server: Server, pool: str, queues: list[str] | None = None) -> list[str]:
    """Flow run ids `POST /work_pools/<pool>/get_scheduled_flow_runs` hands out right now."""
    body: dict[str, Any] = {"scheduled_before": iso(datetime.now(timezone.utc) + timedelta(seconds=10))}
    if queues is not None:
        body["work_queue_names"] = queues
    out = post_ok(server, f"/work_pools/{pool}/get_scheduled_flow_runs", body)
    return [item["flow_run"]["id"] for item in out]


def make_project(root: Path) -> Path:
    """A project directory holding flows/deploy_hello.py as flow.py (the flow is named through
    COMPAT_DEPLOY_FLOW_NAME in the environment of whoever loads it)."""
    project = root / "project"
    project.mkdir()
    shutil.copy(FLOWS / "deploy_hello.py", project / "flow.py")
    return project


def max_overlap(spans: list[dict]) -> int:
    """The largest number of [start, end) intervals open at one instant."""
    edges = sorted([(s["start"], 1) for s in spans] + [(s["end"], -1) for s in spans],
                   key=lambda e: (e[0], e[1]))  # at a tie, a close comes before an open
    best = cur = 0
    for _, delta in edges:
        cur += delta
        best = max(best, cur)
    return best


@contextlib.contextmanager
def serving(server: Server, home: Path, flow_name: str, deployment: str, *args: str,
            log_name: str = "runner.log") -> Iterator[subprocess.Popen]:
    """Run flows/serve_flow.py in the background until the block ends; then stop it with
    SIGTERM (graceful: the runner pauses its deployments) and, past a bound, kill its group."""
    log_path = home / log_name
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        [PYTHON, str(FLOWS / "serve_flow.py"), flow_name, deployment, *args],
        cwd=str(home), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        env=server.client_env(home, PREFECT_RUNNER_POLL_FREQUENCY="1"),
        start_new_session=True,
    )
    log.close()
    proc.log_path = log_path  # type: ignore[attr-defined]
    try:
        yield proc
    except BaseException as exc:
        # Attach what the runner said to the failure.
        tail = log_path.read_text(errors="replace")[-6000:] if log_path.exists() else ""
        if isinstance(exc, AssertionError):
            raise AssertionError(f"{exc}\n--- runner log\n{tail}") from exc
        raise
    finally:
        stop_process(proc)


def stop_process(proc: subprocess.Popen, timeout: float = 30) -> int | None:
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
    # Whatever the runner left behind (a flow-run child in the same session), and the runner
    # itself if it ignored SIGTERM.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    return proc.returncode


def runner_log(proc: subprocess.Popen) -> str:
    path: Path = proc.log_path  # type: ignore[attr-defined]
    return path.read_text(errors="replace") if path.exists() else ""


def wait_deployment(server: Server, proc: subprocess.Popen, flow_name: str, name: str) -> dict:
    """Wait for a serving runner to register its deployment."""
    def read():
        if proc.poll() is not None:
            raise AssertionError(f"runner exited {proc.returncode}\n{runner_log(proc)[-6000:]}")
        return read_deployment(server, flow_name, name)
    return wait_for(read, lambda d: d is not None, RUN_WAIT, f"deployment {flow_name}/{name}")


# --------------------------------------------------------------------------- 1. prefect deploy + worker


def test_deploy_yaml_and_worker(server: Server, home: Path, tmp_path: Path):
    flow_name, dep, pool = "compat-dep-yaml-flow", "compat-dep-yaml", "compat-dep-yaml-pool"
    project = make_project(tmp_path)
    env = {"COMPAT_DEPLOY_FLOW_NAME": flow_name}
    (project / "prefect.yaml").write_text(f"""\
name: compat-dep-yaml
prefect-version: 3.9.1
build: null
push: null
pull:
- prefect.deployments.steps.set_working_directory:
    directory: {project}
deployments:
- name: {dep}
  entrypoint: flow.py:hello
  description: a compat deployment
  tags: [compat, yaml]
  parameters:
    who: yaml
  work_pool:
    name: {pool}
  schedules:
  - interval: 3600
    timezone: UTC
  - cron: "0 4 * * *"
    timezone: America/New_York
    active: false
""")

    out = server.run([PREFECT_CLI, "work-pool", "create", pool, "--type", "process"], home=home)
    assert pool in out.stdout, out.stdout
    wp = get_ok(server, f"/work_pools/{pool}")
    assert wp["type"] == "process" and wp["is_paused"] is False, wp
    assert wp["base_job_template"].get("job_configuration"), wp

    # `prefect deploy` runs in the project directory (it reads ./prefect.yaml).
    out = server.run([PREFECT_CLI, "--no-prompt", "deploy", "--all"], home=project, **env)
    assert f"{flow_name}/{dep}" in out.stdout, out.stdout

    d = read_deployment(server, flow_name, dep)
    assert d is not None
    assert d["entrypoint"] == "flow.py:hello", d
    assert d["work_pool_name"] == pool and d["work_queue_name"] == "default", d
    assert d["parameters"] == {"who": "yaml"}, d
    assert sorted(d["tags"]) == ["compat", "yaml"], d
    assert d["description"] == "a compat deployment", d
    assert d["pull_steps"] == [
        {"prefect.deployments.steps.set_working_directory": {"directory": str(project)}}
    ], d
    assert d["paused"] is False, d
    assert d["parameter_openapi_schema"]["properties"]["who"]["default"] == "world", d
    scheds = {("interval" if "interval" in s["schedule"] else "cron"): s for s in d["schedules"]}
    assert set(scheds) == {"interval", "cron"}, d["schedules"]
    assert scheds["interval"]["schedule"]["interval"] == 3600, scheds
    assert scheds["interval"]["schedule"]["timezone"] == "UTC", scheds
    assert scheds["interval"]["active"] is True, scheds
    assert scheds["cron"]["schedule"]["cron"] == "0 4 * * *", scheds
    assert scheds["cron"]["schedule"]["timezone"] == "America/New_York", scheds
    assert scheds["cron"]["active"] is False, scheds
    for s in d["schedules"]:
        assert s["deployment_id"] == d["id"], s

    # The same schedules through the schedules sub-route.
    listed = get_ok(server, f"/deployments/{d['id']}/schedules")
    assert sorted(s["id"] for s in listed) == sorted(s["id"] for s in d["schedules"]), listed

    # The CLI sees it too.
    out = server.run([PREFECT_CLI, "deployment", "ls"], home=home)
    assert dep in out.stdout, out.stdout

    # Run it: a Scheduled run due now, executed by a worker that polls once.
    out = server.run([PREFECT_CLI, "deployment", "run", f"{flow_name}/{dep}"], home=home)
    run_id = flow_run_id_from_cli(out.stdout)
    fr = read_run(server, run_id)
    assert fr["state_type"] == "SCHEDULED", fr
    assert fr["deployment_id"] == d["id"] and fr["parameters"] == {"who": "yaml"}, fr
    assert fr["work_queue_name"] == "default", fr

    worker = server.run([PREFECT_CLI, "worker", "start", "--pool", pool, "--run-once"],
                        home=home, timeout=180, PREFECT_LOGGING_LEVEL="DEBUG", **env)
    fr = wait_run_state(server, run_id, TERMINAL, 60)
    assert fr["state_type"] == "COMPLETED", (fr, worker.stdout[-4000:], worker.stderr[-4000:])
    assert fr["work_pool_name"] == pool, fr
    assert (project / "ran-yaml").read_text() == "yaml"  # ran in the project directory

    # The worker synced over its worker channel and never fell back to REST.
    log = worker.stdout + worker.stderr
    assert CHANNEL_HEALTHY in log, log[-6000:]
    assert not [line for line in log.splitlines() if any(f in line for f in CHANNEL_FALLBACK)], log[-6000:]

    # The worker registered itself with the pool through heartbeats (the channel's hello is one).
    workers = post_ok(server, f"/work_pools/{pool}/workers/filter", {})
    assert workers and all(w["name"].startswith("ProcessWorker") for w in workers), workers


# A flow that records the environment variable a work pool's base job template may set.
CHANNEL_FLOW = """\
import os
from pathlib import Path

from prefect import flow


@flow(name=os.environ["COMPAT_DEPLOY_FLOW_NAME"])
def hello() -> None:
    Path("mark").write_text(os.environ.get("COMPAT_CHANNEL_MARK", "unset"))
"""


@contextlib.contextmanager
def working(server: Server, home: Path, pool: str, **env: str) -> Iterator[subprocess.Popen]:
    """Run `prefect worker start` (DEBUG logs) in the background until the block ends."""
    log_path = home / "worker.log"
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        [PREFECT_CLI, "worker", "start", "--pool", pool],
        cwd=str(home), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        env=server.client_env(home, PREFECT_LOGGING_LEVEL="DEBUG", **env),
        start_new_session=True,
    )
    log.close()
    proc.log_path = log_path  # type: ignore[attr-defined]
    try:
        yield proc
    except BaseException as exc:
        if isinstance(exc, AssertionError):
            raise AssertionError(f"{exc}\n--- worker log\n{runner_log(proc)[-6000:]}") from exc
        raise
    finally:
        stop_process(proc)


def test_worker_over_channel(server: Server, home: Path, tmp_path: Path):
    """A long-running process worker keeps its pool in sync over the worker channel alone: it reads
    the pool over REST only while the channel is down, and here heartbeats (which would also catch a
    change) only every 10 minutes, so a change of the pool's base job template can reach it only as
    the snapshot the server pushes. The run it executes next gets the template's new environment."""
    flow_name, dep, pool = "compat-channel-flow", "compat-channel", "compat-channel-pool"
    project = tmp_path / "project"
    project.mkdir()
    (project / "flow.py").write_text(CHANNEL_FLOW)
    env = {"COMPAT_DEPLOY_FLOW_NAME": flow_name}
    server.run([PREFECT_CLI, "work-pool", "create", pool, "--type", "process"], home=home)
    server.run_script("deploy_from_source.py", str(project), "flow.py:hello", dep, pool, home=home, **env)

    with working(server, home, pool, PREFECT_WORKER_HEARTBEAT_SECONDS="600",
                 PREFECT_WORKER_QUERY_SECONDS="1", **env) as worker:
        def alive_log() -> str:
            if worker.poll() is not None:
                raise AssertionError(f"worker exited {worker.returncode}")
            return runner_log(worker)
        wait_for(alive_log, lambda text: CHANNEL_HEALTHY in text, RUN_WAIT, "the worker's channel to be up")
        workers = post_ok(server, f"/work_pools/{pool}/workers/filter", {})
        assert [w["heartbeat_interval_seconds"] for w in workers] == [600], workers

        wp = get_ok(server, f"/work_pools/{pool}")
        template = wp["base_job_template"]
        template["variables"]["properties"]["env"]["default"] = {"COMPAT_CHANNEL_MARK": "from-snapshot"}
        status, body = server.http("PATCH", f"/work_pools/{pool}", {"base_job_template": template})
        assert status == 204, (status, body)

        out = server.run([PREFECT_CLI, "deployment", "run", f"{flow_name}/{dep}"], home=home)
        run_id = flow_run_id_from_cli(out.stdout)
        fr = wait_run_state(server, run_id, TERMINAL, RUN_WAIT)
        assert fr["state_type"] == "COMPLETED", fr
        assert (project / "mark").read_text() == "from-snapshot"

        log = alive_log()
        assert not [line for line in log.splitlines() if any(f in line for f in CHANNEL_FALLBACK)], log[-6000:]


# --------------------------------------------------------------------------- 2. pausing pools and queues


def test_pause_pool_and_queue(server: Server, home: Path, tmp_path: Path):
    flow_name, pool, queue = "compat-dep-pause-flow", "compat-dep-pause-pool", "compat-dep-pause-q"
    project = make_project(tmp_path)
    env = {"COMPAT_DEPLOY_FLOW_NAME": flow_name}

    server.run([PREFECT_CLI, "work-pool", "create", pool, "--type", "process"], home=home)
    server.run([PREFECT_CLI, "work-queue", "create", queue, "--pool", pool], home=home)

    # Two deployments made with the Python API: one on the pool's default queue, one on ours.
    server.run_script("deploy_from_source.py", str(project), "flow.py:hello",
                      "compat-dep-pause-default", pool, home=home, **env)
    server.run_script("deploy_from_source.py", str(project), "flow.py:hello",
                      "compat-dep-pause-queued", pool, queue, home=home, **env)
    dq = read_deployment(server, flow_name, "compat-dep-pause-queued")
    assert dq["work_queue_name"] == queue and dq["work_pool_name"] == pool, dq
    assert dq["pull_steps"][0]["prefect.deployments.steps.set_working_directory"], dq

    out = server.run([PREFECT_CLI, "deployment", "run", f"{flow_name}/compat-dep-pause-default"], home=home)
    run_default = flow_run_id_from_cli(out.stdout)
    out = server.run([PREFECT_CLI, "deployment", "run", f"{flow_name}/compat-dep-pause-queued"], home=home)
    run_queued = flow_run_id_from_cli(out.stdout)
    both = {run_default, run_queued}

    assert set(scheduled_for_pool(server, pool)) == both
    assert scheduled_for_pool(server, pool, [queue]) == [run_queued]

    # A paused pool hands out nothing, whichever queues are asked for.
    server.run([PREFECT_CLI, "work-pool", "pause", pool], home=home)
    assert get_ok(server, f"/work_pools/{pool}")["is_paused"] is True
    assert scheduled_for_pool(server, pool) == []
    assert scheduled_for_pool(server, pool, [queue]) == []
    assert scheduled_for_pool(server, pool, ["default"]) == []
    server.run([PREFECT_CLI, "work-pool", "resume", pool], home=home)
    assert get_ok(server, f"/work_pools/{pool}")["is_paused"] is False
    assert set(scheduled_for_pool(server, pool)) == both

    # A paused queue hands out nothing; the pool's other queues are unaffected.
    server.run([PREFECT_CLI, "work-queue", "pause", queue, "--pool", pool], home=home)
    wq = get_ok(server, f"/work_pools/{pool}/queues/{queue}")
    assert wq["is_paused"] is True, wq
    assert scheduled_for_pool(server, pool, [queue]) == []
    assert scheduled_for_pool(server, pool) == [run_default]
    server.run([PREFECT_CLI, "work-queue", "resume", queue, "--pool", pool], home=home)
    assert get_ok(server, f"/work_pools/{pool}/queues/{queue}")["is_paused"] is False
    assert scheduled_for_pool(server, pool, [queue]) == [run_queued]
    assert set(scheduled_for_pool(server, pool)) == both

    # Handing out is not claiming: the runs are still Scheduled.
    for run_id in both:
        assert read_run(server, run_id)["state_type"] == "SCHEDULED"


# --------------------------------------------------------------------------- 3. flow.serve()


def test_serve_and_run(server: Server, home: Path):
    flow_name, dep = "compat-serve-flow", "compat-serve"
    with serving(server, home, flow_name, dep) as runner:
        d = wait_deployment(server, runner, flow_name, dep)
        assert d["paused"] is False and d["schedules"] == [], d
        assert d["work_pool_name"] is None, d
        assert d["entrypoint"], d

        out = server.run([PREFECT_CLI, "deployment", "run", f"{flow_name}/{dep}",
                          "--param", "sleep=0.1"], home=home)
        run_id = flow_run_id_from_cli(out.stdout)
        fr = wait_run_state(server, run_id, TERMINAL, RUN_WAIT)
        assert fr["state_type"] == "COMPLETED", fr
        assert fr["deployment_id"] == d["id"] and fr["parameters"] == {"sleep": 0.1}, fr
        assert fr["run_count"] == 1 and fr["start_time"] and fr["end_time"], fr

        # The runner's polls mark the deployment READY.
        d = read_deployment(server, flow_name, dep)
        assert d["status"] == "READY" and d["last_polled"], d

        # A graceful stop pauses the served deployment.
        runner.send_signal(signal.SIGTERM)
        try:
            runner.wait(timeout=60)
        except subprocess.TimeoutExpired:
            raise AssertionError("runner did not stop within 60s of SIGTERM")
        d = wait_for(lambda: read_deployment(server, flow_name, dep), lambda d: d["paused"],
                     15, "the deployment to be paused after the runner stopped")
        assert "Pausing all deployments" in runner_log(runner), runner_log(runner)[-4000:]


# --------------------------------------------------------------------------- 4. cancellation


def test_serve_cancel_running(server: Server, home: Path):
    flow_name, dep = "compat-cancel-flow", "compat-cancel"
    with serving(server, home, flow_name, dep, "--sleep", "120") as runner:
        wait_deployment(server, runner, flow_name, dep)
        out = server.run([PREFECT_CLI, "deployment", "run", f"{flow_name}/{dep}"], home=home)
        run_id = flow_run_id_from_cli(out.stdout)
        fr = wait_run_state(server, run_id, {"RUNNING"} | TERMINAL, RUN_WAIT)
        assert fr["state_type"] == "RUNNING", fr

        out = server.run([PREFECT_CLI, "flow-run", "cancel", run_id], home=home)
        assert "cancel" in out.stdout.lower(), out.stdout
        # The CLI proposes Cancelling; the runner kills the process and reports Cancelled.
        fr = wait_run_state(server, run_id, TERMINAL, CANCEL_WAIT)
        assert fr["state_type"] == "CANCELLED", fr
        assert fr["state_name"] == "Cancelled", fr
        assert fr["end_time"], fr

        states = get_ok(server, f"/flow_run_states?flow_run_id={run_id}")
        names = [s["name"] for s in sorted(states, key=lambda s: s["timestamp"])]
        assert "Cancelling" in names and names[-1] == "Cancelled", names
        assert names.index("Running") < names.index("Cancelling"), names


# --------------------------------------------------------------------------- 5. variables


def test_variables_cli_and_python(server: Server, home: Path):
    prefix = "compat-vars"
    cli = lambda *a, **kw: server.run([PREFECT_CLI, "variable", *a], home=home, **kw)  # noqa: E731

    cli("set", f"{prefix}-cli", '{"region": "eu", "n": 3}', "--tag", "compat")
    cli("set", f"{prefix}-plain", "just text")
    assert cli("get", f"{prefix}-plain").stdout.strip() == '"just text"'
    # Without --overwrite a second set is refused; with it the value changes.
    out = cli("set", f"{prefix}-plain", "other", check=False)
    assert out.returncode != 0 and "already exists" in out.stdout + out.stderr, out
    cli("set", f"{prefix}-plain", "42", "--overwrite")
    assert cli("get", f"{prefix}-plain").stdout.strip() == "42"

    v = get_ok(server, f"/variables/name/{prefix}-cli")
    assert v["value"] == {"region": "eu", "n": 3} and v["tags"] == ["compat"], v

    listed = cli("ls").stdout
    assert f"{prefix}-cli" in listed and f"{prefix}-plain" in listed, listed

    _, res = server.run_script("variables.py", prefix, home=home)
    assert res["from_cli"] == {"region": "eu", "n": 3}, res
    assert res["missing"] == "fallback", res
    assert res["created"] == {"name": f"{prefix}-py", "value": {"answer": 42, "nested": [1, "two"]},
                              "tags": ["compat"]}, res
    assert res["read"] == {"answer": 42, "nested": [1, "two"]}, res
    assert res["duplicate_error"] and "already exists" in res["duplicate_error"], res
    assert res["updated"] == "overwritten" and res["read_after_update"] == "overwritten", res
    assert res["number"] == 7, res
    assert res["unset"] is True and res["read_after_unset"] is None, res
    assert res["unset_missing"] is False, res

    # The script's number is visible to the CLI; unset removes it.
    assert cli("get", f"{prefix}-number").stdout.strip() == "7"
    cli("unset", f"{prefix}-number")
    out = cli("get", f"{prefix}-number", check=False)
    assert out.returncode != 0 and "not found" in out.stdout + out.stderr, out
    out = cli("unset", f"{prefix}-number", check=False)
    assert out.returncode != 0 and "not found" in out.stdout + out.stderr, out
    listed = cli("ls").stdout
    assert f"{prefix}-number" not in listed and f"{prefix}-py" not in listed, listed


# --------------------------------------------------------------------------- 6. concurrency limits


def test_global_concurrency_limit(server: Server, home: Path):
    name = "compat-gcl-two"
    out = server.run([PREFECT_CLI, "gcl", "create", name, "--limit", "2"], home=home)
    assert name in out.stdout, out.stdout
    limit = get_ok(server, f"/v2/concurrency_limits/{name}")
    assert limit["limit"] == 2 and limit["active"] is True and limit["active_slots"] == 0, limit

    _, res = server.run_script("concurrency_flow.py", "compat-gcl-flow", "gcl", name, home=home)
    assert res["flow_run"]["state_type"] == "COMPLETED", res["flow_run"]
    spans = res["spans"]
    assert sorted(s["i"] for s in spans) == list(range(6)), spans
    assert max_overlap(spans) <= 2, spans
    assert [tr["state_type"] for tr in res["task_runs"]] == ["COMPLETED"] * 6, res["task_runs"]

    # Every lease was released.
    limit = wait_for(lambda: get_ok(server, f"/v2/concurrency_limits/{name}"),
                     lambda lim: lim["active_slots"] == 0, 15, "the limit's slots to be free")
    out = server.run([PREFECT_CLI, "gcl", "inspect", name], home=home)
    assert name in out.stdout, out.stdout


def test_tag_concurrency_limit(server: Server, home: Path):
    tag = "compat-tag-two"
    out = server.run([PREFECT_CLI, "concurrency-limit", "create", tag, "2"], home=home)
    assert tag in out.stdout, out.stdout
    status, v1 = server.http("GET", f"/concurrency_limits/tag/{tag}")
    assert status == 200 and v1["concurrency_limit"] == 2 and v1["active_slots"] == [], (status, v1)

    _, res = server.run_script("concurrency_flow.py", "compat-tag-flow", "tag", tag, home=home)
    assert res["flow_run"]["state_type"] == "COMPLETED", res["flow_run"]
    spans = res["spans"]
    assert sorted(s["i"] for s in spans) == list(range(6)), spans
    assert max_overlap(spans) <= 2, spans
    assert [tr["state_type"] for tr in res["task_runs"]] == ["COMPLETED"] * 6, res["task_runs"]

    v1 = wait_for(lambda: get_ok(server, f"/concurrency_limits/tag/{tag}"),
                  lambda lim: lim["active_slots"] == [], 15, "the tag's slots to be free")
    out = server.run([PREFECT_CLI, "concurrency-limit", "inspect", tag], home=home)
    assert tag in out.stdout, out.stdout
    out = server.run([PREFECT_CLI, "concurrency-limit", "ls"], home=home)
    assert tag in out.stdout, out.stdout


# --------------------------------------------------------------------------- 7. server-side schedules


def completed_auto_runs(server: Server, deployment_id: str) -> list[dict]:
    return [fr for fr in runs_of_deployment(server, deployment_id)
            if fr["auto_scheduled"] and fr["state_type"] == "COMPLETED"]


def future_auto_runs(server: Server, deployment_id: str) -> list[dict]:
    """Auto-scheduled runs still Scheduled for a time after now."""
    now = datetime.now(timezone.utc)
    return [fr for fr in runs_of_deployment(server, deployment_id)
            if fr["auto_scheduled"] and fr["state_type"] == "SCHEDULED"
            and ts(fr["expected_start_time"]) > now]


def test_serve_interval_schedule(server: Server, home: Path):
    flow_name, dep = "compat-sched-interval-flow", "compat-sched-interval"
    with serving(server, home, flow_name, dep, "--interval", "3") as runner:
        d = wait_deployment(server, runner, flow_name, dep)
        assert [s["schedule"]["interval"] for s in d["schedules"]] == [3], d["schedules"]
        # The server's scheduler creates the runs; the runner only executes them.
        done = wait_for(lambda: completed_auto_runs(server, d["id"]), lambda runs: len(runs) >= 2,
                        RUN_WAIT, "two scheduled runs to complete")
        # The scheduler keeps at least its minimum (3) of future runs ahead.
        ahead = future_auto_runs(server, d["id"])
        assert len(ahead) >= 3, ahead
    # The runner paused the deployment on its way out, and pausing deletes the future
    # auto-scheduled runs.
    assert read_deployment(server, flow_name, dep)["paused"] is True
    left = future_auto_runs(server, d["id"])
    assert left == [], left
    sched_id = d["schedules"][0]["id"]
    for fr in done:
        assert "auto-scheduled" in fr["tags"], fr
        assert fr["created_by"]["id"] == sched_id and fr["created_by"]["type"] == "SCHEDULE", fr
        assert fr["idempotency_key"].startswith(f"scheduled {d['id']} {sched_id} "), fr
        assert fr["run_count"] == 1, fr
    starts = sorted(ts(fr["expected_start_time"]) for fr in done)
    gaps = {(b - a).total_seconds() % 3 for a, b in zip(starts, starts[1:])}
    assert gaps == {0.0}, starts  # on the 3-second grid


def test_serve_cron_schedule(server: Server, home: Path):
    flow_name, dep = "compat-sched-cron-flow", "compat-sched-cron"
    with serving(server, home, flow_name, dep, "--cron", "* * * * *") as runner:
        d = wait_deployment(server, runner, flow_name, dep)
        assert [s["schedule"]["cron"] for s in d["schedules"]] == ["* * * * *"], d["schedules"]
        # The first run is at the next full minute: at most 60 s away, plus pickup.
        done = wait_for(lambda: completed_auto_runs(server, d["id"]), lambda runs: len(runs) >= 1,
                        RUN_WAIT, "a cron-scheduled run to complete")
        # More runs are scheduled ahead, on the minute (read before the runner stops: pausing
        # the deployment on shutdown deletes them).
        upcoming = [ts(fr["expected_start_time"]) for fr in future_auto_runs(server, d["id"])]
    for fr in done:
        start = ts(fr["expected_start_time"])
        assert start.second == 0 and start.microsecond == 0, fr
        assert "auto-scheduled" in fr["tags"], fr
    assert len(upcoming) >= 3, upcoming
    assert all(t.second == 0 and t.microsecond == 0 for t in upcoming), upcoming
    assert len(set(upcoming)) == len(upcoming), upcoming
    assert future_auto_runs(server, d["id"]) == []  # deleted when the runner paused it



def test_bulk_create_and_backfill(server: Server):
    """create_flow_run/bulk and schedule (a backfill) over plain HTTP, as the UI and scripts call them."""
    if TARGET == "python" and server.backend == "sqlite":
        pytest.skip("Prefect 3.9.1 on SQLite fails every run of a bulk create with 'database is locked'")
    status, flow = server.http("POST", "/flows/", {"name": "compat-bulk"})
    assert status in (200, 201), (status, flow)
    status, dep = server.http("POST", "/deployments/", {
        "flow_id": flow["id"], "name": "bulk", "tags": ["dep"], "paused": True,
        "parameter_openapi_schema": {"type": "object", "properties": {"x": {"type": "integer"}}},
        "enforce_parameter_schema": True,
        "schedules": [{"schedule": {"interval": 60, "anchor_date": "2025-01-01T00:00:00Z", "timezone": "UTC"}}],
    })
    assert status in (200, 201), (status, dep)
    runs_of = {"deployments": {"id": {"any_": [dep["id"]]}}}

    status, out = server.http("POST", f"/deployments/{dep['id']}/create_flow_run/bulk", [
        {"parameters": {"x": 1}, "tags": ["one"]},
        {"parameters": {"x": "two"}},
        {"parameters": {"x": 3}, "state": {"type": "PENDING"}},
    ])
    assert status == 200, (status, out)
    assert [r["status"] for r in out["results"]] == ["CREATED", "FAILED", "CREATED"], out
    assert out["results"][1]["error"].startswith("Parameter validation failed"), out
    status, first = server.http("GET", f"/flow_runs/{out['results'][0]['flow_run_id']}")
    assert status == 200 and sorted(first["tags"]) == ["dep", "one"], first
    status, n = server.http("POST", "/flow_runs/count", runs_of)
    assert (status, n) == (200, 2)

    status, out = server.http("POST", f"/deployments/{dep['id']}/create_flow_run/bulk", [{}] * 101)
    assert status == 400 and "Cannot create more than 100" in out["detail"], (status, out)

    # A backfill of ten minutes in the past, twice: ten runs, not twenty.
    window = {"start_time": "2025-06-01T00:00:00Z", "end_time": "2025-06-01T00:09:30Z", "max_runs": 50}
    for _ in range(2):
        status, out = server.http("POST", f"/deployments/{dep['id']}/schedule", window)
        assert (status, out) == (200, None)
    status, runs = server.http("POST", "/flow_runs/filter", {**runs_of, "flow_runs": {"expected_start_time": {
        "before_": "2025-06-02T00:00:00Z"}}, "sort": "EXPECTED_START_TIME_ASC"})
    assert status == 200, (status, runs)
    assert [r["expected_start_time"][11:16] for r in runs] == [f"00:0{i}" for i in range(10)], runs
    assert all(r["auto_scheduled"] and r["state"]["type"] == "SCHEDULED" for r in runs), runs


def test_concurrency_status(server: Server):
    """Who holds a pool's and a queue's slots, as /concurrency_status answers it."""
    pool = "compat-slots-pool"
    status, _ = server.http("POST", "/work_pools/", {"name": pool, "type": "process", "concurrency_limit": 5})
    assert status == 201, status
    status, busy = server.http("POST", f"/work_pools/{pool}/queues", {"name": "busy", "concurrency_limit": 3, "priority": 2})
    assert status == 201, (status, busy)
    status, _ = server.http("POST", f"/work_pools/{pool}/queues", {"name": "idle", "priority": 3})
    assert status == 201
    status, flow = server.http("POST", "/flows/", {"name": "compat-slots"})
    status, dep = server.http("POST", "/deployments/", {"flow_id": flow["id"], "name": "slots",
                                                        "work_pool_name": pool, "work_queue_name": "busy"})
    assert status in (200, 201), (status, dep)
    held = []
    for state in ("PENDING", "RUNNING", "RUNNING", "SCHEDULED", "COMPLETED"):
        status, run = server.http("POST", f"/deployments/{dep['id']}/create_flow_run", {"state": {"type": state}})
        assert status == 201, (status, run)
        if state in ("PENDING", "RUNNING"):
            held.append(run["id"])
    held.sort()

    status, out = server.http("POST", f"/work_pools/{pool}/concurrency_status", {"flow_run_limit": 2})
    assert status == 200, (status, out)
    assert (out["active_slots"], out["concurrency_limit"], out["count"], out["page"], out["pages"]) == (3, 5, 3, 1, 1), out
    by_name = {q["queue_name"]: q for q in out["queues"]}
    assert [q["queue_name"] for q in out["queues"]] == ["default", "busy", "idle"], out
    assert (by_name["busy"]["active_slots"], by_name["busy"]["flow_run_count"], by_name["busy"]["concurrency_limit"]) == (3, 3, 3)
    assert [r["id"] for r in by_name["busy"]["flow_runs"]] == held[:2], out
    run = by_name["busy"]["flow_runs"][0]
    assert set(run) == {"id", "name", "state_type", "state_name", "start_time", "state_timestamp", "time_in_current_state"}, run
    assert isinstance(run["time_in_current_state"], float) and run["time_in_current_state"] >= 0, run
    assert (by_name["idle"]["active_slots"], by_name["idle"]["flow_runs"]) == (0, [])

    status, out = server.http("POST", f"/work_pools/{pool}/concurrency_status", {"page": 2, "limit": 2})
    assert status == 200 and [q["queue_name"] for q in out["queues"]] == ["idle"] and out["pages"] == 2, out

    status, out = server.http("POST", f"/work_queues/{busy['id']}/concurrency_status", {"limit": 2, "page": 2})
    assert status == 200, (status, out)
    assert (out["active_slots"], out["count"], out["pages"], out["page"], out["limit"]) == (3, 3, 2, 2, 2), out
    assert [r["id"] for r in out["flow_runs"]] == held[2:], out

    status, out = server.http("POST", "/work_pools/compat-no-such-pool/concurrency_status", {})
    assert status == 404, (status, out)
    status, out = server.http("POST", "/work_queues/00000000-0000-4000-8000-000000000000/concurrency_status", {})
    assert (status, out) == (404, {"detail": "Work queue not found."})
    for body, loc in (({"page": 0}, "page"), ({"flow_run_limit": 201}, "flow_run_limit")):
        status, out = server.http("POST", f"/work_pools/{pool}/concurrency_status", body)
        assert status == 422 and out["exception_detail"][0]["loc"] == ["body", loc], (body, status, out)


def test_work_queue_check(server: Server):
    """The deprecated work_queue_check: queues whose legacy filter takes a deployment's runs."""
    status, flow = server.http("POST", "/flows/", {"name": "compat-wq-check"})
    status, dep = server.http("POST", "/deployments/", {"flow_id": flow["id"], "name": "checked", "tags": ["a", "b"]})
    assert status in (200, 201), (status, dep)
    queues = {
        "compat-wqc-tags": {"tags": ["a"]},
        "compat-wqc-other-tags": {"tags": ["a", "z"]},
        "compat-wqc-ids": {"deployment_ids": [dep["id"]]},
        "compat-wqc-other-ids": {"deployment_ids": ["00000000-0000-4000-8000-000000000000"]},
        "compat-wqc-open": {"tags": [], "deployment_ids": []},
    }
    for name, queue_filter in queues.items():
        status, out = server.http("POST", "/work_queues/", {"name": name, "filter": queue_filter})
        assert status == 201, (status, out)
    status, out = server.http("GET", f"/deployments/{dep['id']}/work_queue_check")
    assert status == 200, (status, out)
    names = {q["name"] for q in out if q["name"].startswith("compat-wqc-")}
    assert names == {"compat-wqc-tags", "compat-wqc-ids", "compat-wqc-open"}, out
    status, out = server.http("GET", "/deployments/00000000-0000-4000-8000-000000000000/work_queue_check")
    assert (status, out) == (404, {"detail": "Deployment not found"})

"""Background tasks with the real client, on every backend: task.delay() in one process is run
by a task worker (prefect.task_worker.serve) in another and its result read back; two workers
serving the same tasks share their queue, and each of many runs is executed once, by one of
them.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections import Counter
from pathlib import Path
from typing import Iterator

from conftest import FLOWS, PYTHON, RESULT_MARK, Server
from test_deployments import RUN_WAIT, stop_process, wait_for


@contextlib.contextmanager
def task_worker(server: Server, home: Path, limit: int, log_name: str) -> Iterator[subprocess.Popen]:
    """Serve the tasks of flows/background_tasks.py in the background until the block ends."""
    log_path = home / log_name
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [PYTHON, str(FLOWS / "background_tasks.py"), "serve", str(limit)], cwd=str(home),
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=server.client_env(home),
            start_new_session=True,
        )
    proc.log_path = log_path  # type: ignore[attr-defined]
    try:
        yield proc
    except BaseException as exc:
        if isinstance(exc, AssertionError):
            tail = log_path.read_text(errors="replace")[-6000:]
            raise AssertionError(f"{exc}\n--- task worker log ({log_name})\n{tail}") from exc
        raise
    finally:
        stop_process(proc)


def served_keys(proc: subprocess.Popen) -> list[str]:
    """The task keys the worker announced before serving them."""
    def read() -> list[str] | None:
        for line in Path(proc.log_path).read_text(errors="replace").splitlines():  # type: ignore[attr-defined]
            if line.startswith(RESULT_MARK):
                return json.loads(line[len(RESULT_MARK):])["task_keys"]
        assert proc.poll() is None, f"the task worker exited with {proc.returncode}"
        return None
    return wait_for(read, lambda keys: keys is not None, RUN_WAIT, "the task worker to start")


def workers_of(server: Server, key: str) -> list[dict]:
    status, body = server.http("POST", "/task_workers/filter", {"task_worker_filter": {"task_keys": [key]}})
    assert status == 200, body
    return body


def test_delay_runs_on_task_worker(server: Server, home: Path):
    with task_worker(server, home, 2, "worker.log") as worker:
        add_key, record_key = served_keys(worker)
        listed = wait_for(lambda: workers_of(server, add_key), lambda ws: len(ws) == 1, RUN_WAIT,
                          "the task worker to subscribe")
        assert sorted(listed[0]["task_keys"]) == sorted([add_key, record_key]), listed
        assert listed[0]["timestamp"], listed

        _, out = server.run_script("background_tasks.py", "delay", "2", "3", home=home)
        assert out["result"] == 5, out
        assert out["task_key"] == add_key, out
        tr = out["task_run"]
        assert tr["flow_run_id"] is None, tr
        # The task worker reports its states as events; they may land after the result is read.
        wait_for(lambda: server.http("GET", f"/task_runs/{tr['id']}")[1],
                       lambda r: r["state_type"] == "COMPLETED", RUN_WAIT, "the task run to be completed")
        status, states = server.http("GET", f"/task_run_states?task_run_id={tr['id']}")
        assert status == 200, states
        names = [s["name"] for s in sorted(states, key=lambda s: s["timestamp"])]
        assert names == ["Scheduled", "Pending", "Running", "Completed"], names
        assert states[0]["state_details"]["deferred"] is True, states


def test_two_task_workers_share_the_queue(server: Server, home: Path, tmp_path: Path):
    markers = tmp_path / "markers"
    markers.mkdir()
    runs = 24
    # One run at a time each: a worker busy with one (and holding at most two more it was
    # sent) leaves the others to the other worker.
    with task_worker(server, home, 1, "worker-a.log") as a, task_worker(server, home, 1, "worker-b.log") as b:
        _, record_key = served_keys(a)
        assert served_keys(b)[1] == record_key
        wait_for(lambda: workers_of(server, record_key), lambda ws: len(ws) == 2, RUN_WAIT,
                 "both task workers to subscribe")

        _, out = server.run_script("background_tasks.py", "many", str(runs), str(markers), home=home)
        assert out["results"] == list(range(runs)), out

        executions = [p.name.split(".") for p in markers.iterdir()]
        per_run = Counter(run_id for run_id, _, _ in executions)
        assert set(per_run) == set(out["task_run_ids"]), (per_run, out["task_run_ids"])
        twice = {run_id: n for run_id, n in per_run.items() if n != 1}
        assert not twice, f"task runs executed more than once: {twice}"
        by_worker = Counter(pid for _, pid, _ in executions)
        assert set(by_worker) == {str(a.pid), str(b.pid)}, by_worker

"""Background tasks: task.delay() from one process, run by task workers in others.

usage: background_tasks.py serve LIMIT          serve the tasks below (prefect.task_worker.serve)
       background_tasks.py delay X Y            delay add(X, Y), wait for its result
       background_tasks.py many N MARKERS       delay N record() runs, wait for them all

The tasks are defined at the top of this file so that every process computes the same task
keys (Prefect derives them from the function's code). record() leaves one file per execution
in MARKERS, named after its task run and the worker's process, so that the test can count how
often each run was executed and by whom.
"""

import os
import sys
import time
import uuid
from pathlib import Path

from prefect import task
from prefect.client.orchestration import get_client
from prefect.runtime import task_run as current_task_run
from prefect.task_worker import serve

from _compat import emit


@task
def add(x: int, y: int) -> int:
    return x + y


@task
def record(i: int, markers: str) -> int:
    Path(markers, f"{current_task_run.id}.{os.getpid()}.{uuid.uuid4().hex}").touch()
    # Long enough that a worker serving one run at a time leaves the next ones to the other.
    time.sleep(0.3)
    return i


def task_run_info(task_run_id) -> dict:
    with get_client(sync_client=True) as client:
        tr = client.read_task_run(task_run_id)
        states = client.read_task_run_states(task_run_id)
    return {
        "id": str(tr.id),
        "task_key": tr.task_key,
        "flow_run_id": str(tr.flow_run_id) if tr.flow_run_id else None,
        "state_type": tr.state_type.value if tr.state_type else None,
        "states": [s.name for s in sorted(states, key=lambda s: s.timestamp)],
    }


def main(mode: str, args: list[str]) -> None:
    if mode == "serve":
        emit({"task_keys": [add.task_key, record.task_key]})
        serve(add, record, limit=int(args[0]))
    elif mode == "delay":
        future = add.delay(int(args[0]), int(args[1]))
        result = future.result(timeout=120)
        emit({"result": result, "task_key": add.task_key, "task_run": task_run_info(future.task_run_id)})
    elif mode == "many":
        futures = [record.delay(i, args[1]) for i in range(int(args[0]))]
        emit({
            "results": [f.result(timeout=240) for f in futures],
            "task_run_ids": [str(f.task_run_id) for f in futures],
        })
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])

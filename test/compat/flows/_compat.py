"""Helpers for the client scripts in this folder (each runs in its own interpreter).

A script runs a flow with the real prefect client, reads what the server recorded back through
the real client (`get_client(sync_client=True)`), and prints one line `COMPAT_RESULT <json>`
that the test parses. Reads that depend on asynchronous recording (task runs arrive as events,
logs are batched) poll with a bound instead of reading once.
"""

from __future__ import annotations

import json
import time
from typing import Any, Callable, TypeVar

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterId,
    LogFilter,
    LogFilterFlowRunId,
)

RESULT_MARK = "COMPAT_RESULT "
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
POLL_TIMEOUT = 20.0  # a bound on waiting for asynchronous recording, not a speed check

T = TypeVar("T")


def emit(obj: Any) -> None:
    print(RESULT_MARK + json.dumps(obj, default=str), flush=True)


def poll(read: Callable[[], T], done: Callable[[T], bool], timeout: float = POLL_TIMEOUT) -> T:
    """Call read() until done(value) or the bound passes; return the last value either way."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.25)


def _state(s) -> dict | None:
    if s is None:
        return None
    return {"type": s.type.value, "name": s.name, "timestamp": s.timestamp, "message": s.message}


def flow_run_info(fr) -> dict:
    return {
        "id": str(fr.id),
        "name": fr.name,
        "flow_id": str(fr.flow_id),
        "state_type": fr.state_type.value if fr.state_type else None,
        "state_name": fr.state_name,
        "state": _state(fr.state),
        "run_count": fr.run_count,
        "start_time": fr.start_time,
        "end_time": fr.end_time,
        "total_run_time": fr.total_run_time.total_seconds() if fr.total_run_time is not None else None,
        "parent_task_run_id": str(fr.parent_task_run_id) if fr.parent_task_run_id else None,
        "tags": list(fr.tags or []),
    }


def task_run_info(tr) -> dict:
    return {
        "id": str(tr.id),
        "name": tr.name,
        "flow_run_id": str(tr.flow_run_id) if tr.flow_run_id else None,
        "task_key": tr.task_key,
        "dynamic_key": tr.dynamic_key,
        "state_type": tr.state_type.value if tr.state_type else None,
        "state_name": tr.state_name,
        "run_count": tr.run_count,
        "start_time": tr.start_time,
        "end_time": tr.end_time,
    }


def read_flow_run(flow_run_id) -> dict:
    with get_client(sync_client=True) as client:
        return flow_run_info(client.read_flow_run(flow_run_id))


def read_task_runs(flow_run_id) -> list[dict]:
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
        return [task_run_info(r) for r in runs]


def wait_task_runs(flow_run_id, count: int, accept: Callable[[dict], bool] | None = None) -> list[dict]:
    """Task runs of a flow run, polled until at least `count` match `accept` and all of
    those are terminal (the server may record them asynchronously, from events)."""
    accept = accept or (lambda tr: True)

    def done(runs: list[dict]) -> bool:
        mine = [tr for tr in runs if accept(tr)]
        return len(mine) >= count and all(tr["state_type"] in TERMINAL for tr in mine)

    return poll(lambda: read_task_runs(flow_run_id), done)


def read_states(flow_run_id) -> list[dict]:
    with get_client(sync_client=True) as client:
        states = client.read_flow_run_states(flow_run_id)
    return [_state(s) for s in sorted(states, key=lambda s: s.timestamp)]


def read_logs(flow_run_id) -> list[dict]:
    with get_client(sync_client=True) as client:
        logs = client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
        )
    return [
        {
            "message": log.message,
            "level": log.level,
            "name": log.name,
            "flow_run_id": str(log.flow_run_id) if log.flow_run_id else None,
            "task_run_id": str(log.task_run_id) if log.task_run_id else None,
        }
        for log in logs
    ]

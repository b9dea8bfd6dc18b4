"""The real prefect client against a server in the e2e cluster (PREFECT_API_URL).

    client.py run              run a flow with tasks to Completed, read its task runs and logs back
    client.py get FLOW_RUN_ID  read one flow run back
    client.py load STOP_FILE   create flow runs until STOP_FILE exists, retrying failed calls,
                               then check that every acknowledged run is there
    client.py deploy           create a deployment with an hourly schedule
    client.py scheduled ID     count the flow runs of deployment ID

Each prints one line "E2E_RESULT <json>" on stdout; progress goes to stderr.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from datetime import timedelta

from prefect import flow, get_run_logger, task
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import DeploymentScheduleCreate
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterName,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.client.schemas.schedules import IntervalSchedule

MARKER = "e2e log line from the flow"


def result(**kw) -> None:
    print("E2E_RESULT " + json.dumps(kw), flush=True)


@task
def square(x: int) -> int:
    return x * x


@task
def add(numbers: list[int]) -> int:
    return sum(numbers)


@flow(name="e2e-flow")
def e2e_flow(n: int = 4) -> int:
    total = add([square(i) for i in range(n)])
    get_run_logger().info("%s: total %d", MARKER, total)
    return total


async def read_back(flow_run_id: uuid.UUID) -> dict:
    async with get_client() as client:
        run = await client.read_flow_run(flow_run_id)
        task_runs = await client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
        # Logs are shipped in batches in the background: poll a little.
        deadline = time.monotonic() + 30
        while True:
            logs = await client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
            if any(MARKER in log.message for log in logs) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        return dict(
            flow_run_id=str(run.id),
            state=run.state.type.value if run.state else None,
            task_runs=len(task_runs),
            task_states=sorted({tr.state.type.value for tr in task_runs if tr.state}),
            marker_logged=any(MARKER in log.message for log in logs),
            logs=len(logs),
        )


def cmd_run() -> None:
    state = e2e_flow(return_state=True)
    assert state.result() == 0 + 1 + 4 + 9, state
    result(**asyncio.run(read_back(state.state_details.flow_run_id)))


def cmd_get(flow_run_id: str) -> None:
    result(**asyncio.run(read_back(uuid.UUID(flow_run_id))))


@flow(name="e2e-load")
def load_flow() -> None:
    pass


async def cmd_load(stop_file: str) -> None:
    """Create flow runs one after another until stop_file exists. A call that fails is
    retried; before a retry, the run is looked up by its unique name, because the failed
    call may have created it."""
    prefix = uuid.uuid4().hex[:8]
    acknowledged: list[str] = []
    errors = 0
    max_gap = 0.0
    last_ok = time.monotonic()
    async with get_client() as client:
        i = 0
        while not os.path.exists(stop_file):
            name = f"load-{prefix}-{i}"
            while True:
                try:
                    existing = await client.read_flow_runs(
                        flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name]))
                    ) if errors else []
                    if not existing:
                        await client.create_flow_run(load_flow, name=name)
                    break
                except Exception as exc:  # connection refused or reset, timeouts, 5xx
                    errors += 1
                    print(f"load: {name}: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
                    await asyncio.sleep(0.2)
            now = time.monotonic()
            max_gap = max(max_gap, now - last_ok)
            last_ok = now
            acknowledged.append(name)
            i += 1
            if i % 20 == 0:
                print(f"load: created {i}", file=sys.stderr, flush=True)
        missing, duplicated = [], 0
        for name in acknowledged:
            runs = await client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name])))
            if not runs:
                missing.append(name)
            duplicated += max(0, len(runs) - 1)
    result(created=len(acknowledged), errors=errors, missing=missing, duplicated=duplicated, max_gap_seconds=round(max_gap, 2))


async def cmd_deploy() -> None:
    async with get_client() as client:
        flow_id = await client.create_flow_from_name("e2e-scheduled")
        deployment_id = await client.create_deployment(
            flow_id=flow_id,
            name="e2e-hourly",
            schedules=[DeploymentScheduleCreate(schedule=IntervalSchedule(interval=timedelta(hours=1)), active=True)],
        )
    result(deployment_id=str(deployment_id))


async def cmd_scheduled(deployment_id: str) -> None:
    async with get_client() as client:
        runs = await client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[uuid.UUID(deployment_id)]))
        )
    result(flow_runs=len(runs), states=sorted({r.state.type.value for r in runs if r.state}))


def main() -> None:
    cmd = sys.argv[1]
    if cmd == "run":
        cmd_run()
    elif cmd == "get":
        cmd_get(sys.argv[2])
    elif cmd == "load":
        asyncio.run(cmd_load(sys.argv[2]))
    elif cmd == "deploy":
        asyncio.run(cmd_deploy())
    elif cmd == "scheduled":
        asyncio.run(cmd_scheduled(sys.argv[2]))
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()

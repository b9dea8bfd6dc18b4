"""Follow a flow run's logs live with the real client's logs subscriber (/api/logs/out).

Usage: logs_out_subscriber.py ID_FILE GO_FILE. Waits for the flow run id in ID_FILE, subscribes
twice with prefect.logging.clients.get_logs_subscriber: once to all of the run's logs, once to its
warnings and worse (level ge_ 30; the client's task_run_id filter has only any_, and the run's
task run ids are not known ahead). Probe logs for the run, posted until both have
received one, show the subscriptions are live; then GO_FILE lets the flow log, and each
subscriber is read until the flow's last log.
"""

import asyncio
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import LogCreate
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId, LogFilterLevel
from prefect.logging.clients import get_logs_subscriber

from _compat import emit

DONE = "compat logs-out done"
PROBE = "compat logs-out probe"
WAIT = 120.0  # a bound on each wait, not a speed check


def wait_for_run_id(path: Path) -> uuid.UUID:
    deadline = time.monotonic() + WAIT
    while not path.exists():
        if time.monotonic() > deadline:
            raise RuntimeError("the flow never started")
        time.sleep(0.1)
    return uuid.UUID(path.read_text())


async def collect(subscriber, into: list) -> None:
    async for log in subscriber:
        into.append(log)
        if log.message == DONE:
            return


def as_dict(log) -> dict:
    return {"id": str(log.id), "message": log.message, "level": log.level, "name": log.name,
            "flow_run_id": str(log.flow_run_id) if log.flow_run_id else None,
            "task_run_id": str(log.task_run_id) if log.task_run_id else None}


async def main(id_file: Path, go_file: Path) -> dict:
    run_id = wait_for_run_id(id_file)
    everything = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id]))
    warnings = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id]), level=LogFilterLevel(ge_=30))
    all_logs: list = []
    warning_logs: list = []
    async with get_logs_subscriber(filter=everything) as s1, get_logs_subscriber(filter=warnings) as s2:
        tasks = [asyncio.create_task(collect(s1, all_logs)), asyncio.create_task(collect(s2, warning_logs))]

        def probed(logs: list) -> bool:
            return any(log.message.startswith(PROBE) for log in logs)

        async with get_client() as client:
            deadline = time.monotonic() + WAIT
            n = 0
            while not (probed(all_logs) and probed(warning_logs)):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no probe came back: {all_logs!r} {warning_logs!r}")
                for t in tasks:
                    if t.done():
                        t.result()  # raises what ended it
                n += 1
                await client.create_logs([LogCreate(
                    name="compat.probe", level=40, message=f"{PROBE} {n}",
                    timestamp=datetime.now(timezone.utc), flow_run_id=run_id,
                )])
                await asyncio.sleep(0.2)
        go_file.touch()
        await asyncio.wait_for(asyncio.gather(*tasks), WAIT)
    return {"flow_run_id": str(run_id), "all": [as_dict(l) for l in all_logs],
            "warnings": [as_dict(l) for l in warning_logs]}


if __name__ == "__main__":
    emit(asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2]))))

"""Six tasks at once under a concurrency limit; each records when it held its slot.

usage: concurrency_flow.py FLOW_NAME gcl LIMIT_NAME   (`with concurrency(name, occupy=1)`)
       concurrency_flow.py FLOW_NAME tag TAG          (tasks tagged TAG, a v1 tag limit)

Prints the [start, end] wall-clock interval each task spent inside its slot; the test checks
how many overlapped. Each task sleeps a little so that overlap would show if the limit leaked.
"""

import sys
import time

from prefect import flow, runtime, task
from prefect.concurrency.sync import concurrency

from _compat import emit, read_flow_run, wait_task_runs

N_TASKS = 6
HOLD_SECONDS = 1.0


def main(flow_name: str, mode: str, name: str) -> None:
    @task
    def gcl_worker(i: int) -> dict:
        with concurrency(name, occupy=1):
            start = time.time()
            time.sleep(HOLD_SECONDS)
            return {"i": i, "start": start, "end": time.time()}

    @task(tags=[name])
    def tagged_worker(i: int) -> dict:
        start = time.time()
        time.sleep(HOLD_SECONDS)
        return {"i": i, "start": start, "end": time.time()}

    worker = gcl_worker if mode == "gcl" else tagged_worker

    @flow(name=flow_name)
    def limited() -> dict:
        futures = [worker.submit(i) for i in range(N_TASKS)]
        return {"spans": [f.result() for f in futures], "flow_run_id": str(runtime.flow_run.id)}

    value = limited()
    emit({
        "spans": value["spans"],
        "flow_run": read_flow_run(value["flow_run_id"]),
        "task_runs": wait_task_runs(value["flow_run_id"], N_TASKS),
    })


if __name__ == "__main__":
    main(*sys.argv[1:4])

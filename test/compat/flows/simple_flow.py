"""A small flow with one task, named from argv; reads its own run back (tests h, j).

usage: simple_flow.py FLOW_NAME [FLOW_RUN_NAME]
"""

import sys

from prefect import flow, runtime, task

from _compat import emit, read_flow_run, wait_task_runs


@task
def greet(who: str) -> str:
    return f"hello {who}"


def main(flow_name: str, run_name: str | None) -> None:
    @flow(name=flow_name, flow_run_name=run_name)
    def simple() -> dict:
        return {"greeting": greet("compat"), "flow_run_id": str(runtime.flow_run.id)}

    value = simple()
    emit({
        "value": value,
        "flow_run": read_flow_run(value["flow_run_id"]),
        "task_runs": wait_task_runs(value["flow_run_id"], 1),
    })


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)

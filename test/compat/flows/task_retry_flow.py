"""A task with retries=2 that fails once, then succeeds (test d)."""

from prefect import flow, runtime, task

from _compat import emit, poll, read_flow_run, read_task_runs

attempts = {"n": 0}


@task(retries=2, retry_delay_seconds=0)
def wobbly() -> int:
    attempts["n"] += 1
    if attempts["n"] == 1:
        raise ValueError("planned task failure")
    return 42


@flow(name="compat-task-retries")
def outer() -> dict:
    return {"value": wobbly(), "flow_run_id": str(runtime.flow_run.id)}


if __name__ == "__main__":
    value = outer()
    fr_id = value["flow_run_id"]
    # The task run is recorded asynchronously; wait until it shows its final state.
    task_runs = poll(
        lambda: read_task_runs(fr_id),
        lambda runs: len(runs) >= 1 and all(tr["state_type"] == "COMPLETED" and tr["run_count"] >= 2 for tr in runs),
    )
    emit({
        "value": value,
        "attempts": attempts["n"],
        "flow_run": read_flow_run(fr_id),
        "task_runs": task_runs,
    })

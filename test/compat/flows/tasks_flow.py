"""A flow with several tasks returning results (test a)."""

from prefect import flow, runtime, task

from _compat import emit, read_flow_run, wait_task_runs


@task
def add(x: int, y: int) -> int:
    return x + y


@task
def double(x: int) -> int:
    return 2 * x


@flow(name="compat-tasks")
def pipeline(n: int) -> dict:
    a = add(1, 2)  # 3
    b = double(a)  # 6
    c = add(b, n)  # 16 for n=10
    parts = [double(i) for i in range(3)]  # [0, 2, 4]
    return {"c": c, "parts": parts, "flow_run_id": str(runtime.flow_run.id)}


if __name__ == "__main__":
    value = pipeline(10)
    task_runs = wait_task_runs(value["flow_run_id"], 6)
    emit({
        "value": value,
        "flow_run": read_flow_run(value["flow_run_id"]),
        "task_runs": task_runs,
    })

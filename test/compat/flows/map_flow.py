"""`.map()` over 50 items (test f)."""

from prefect import flow, runtime, task

from _compat import emit, read_flow_run, wait_task_runs

N = 50


@task
def square(x: int) -> int:
    return x * x


@flow(name="compat-map")
def mapper() -> dict:
    futures = square.map(range(N))
    results = [f.result() for f in futures]
    return {"results": results, "flow_run_id": str(runtime.flow_run.id)}


if __name__ == "__main__":
    value = mapper()
    fr_id = value["flow_run_id"]
    task_runs = wait_task_runs(fr_id, N, accept=lambda tr: tr["name"].startswith("square"))
    emit({"value": value, "flow_run": read_flow_run(fr_id), "task_runs": task_runs})

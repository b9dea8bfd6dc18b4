"""Nested subflows: a flow calling a flow calling a flow (test e)."""

from prefect import flow, runtime
from prefect.client.orchestration import get_client

from _compat import emit, poll, read_flow_run

ids = {}


@flow(name="compat-grandchild")
def grandchild() -> int:
    ids["grandchild"] = str(runtime.flow_run.id)
    return 1


@flow(name="compat-child")
def child() -> int:
    ids["child"] = str(runtime.flow_run.id)
    return grandchild() + 1


@flow(name="compat-parent")
def parent() -> int:
    ids["parent"] = str(runtime.flow_run.id)
    return child() + 1


def read_parent_task(task_run_id):
    """The task run a subflow hangs from (it may be recorded asynchronously)."""
    def read():
        try:
            with get_client(sync_client=True) as client:
                tr = client.read_task_run(task_run_id)
            return {"id": str(tr.id), "flow_run_id": str(tr.flow_run_id), "name": tr.name}
        except Exception as exc:  # not there yet
            return {"error": repr(exc)}
    return poll(read, lambda v: "error" not in v)


if __name__ == "__main__":
    value = parent()
    runs = {k: read_flow_run(v) for k, v in ids.items()}
    parent_tasks = {
        k: read_parent_task(runs[k]["parent_task_run_id"])
        for k in ("child", "grandchild")
        if runs[k]["parent_task_run_id"]
    }
    emit({"value": value, "ids": ids, "runs": runs, "parent_tasks": parent_tasks})

"""Logs from a flow and its tasks via get_run_logger (test g)."""

from prefect import flow, get_run_logger, runtime, task

from _compat import emit, poll, read_logs

FLOW_MSG = "compat flow says hello"
TASK_MSG = "compat task says hello {}"


@task
def chatty(i: int) -> int:
    get_run_logger().info(TASK_MSG.format(i))
    return i


@flow(name="compat-logs")
def logger_flow() -> str:
    get_run_logger().info(FLOW_MSG)
    get_run_logger().warning("compat flow warns")
    for i in range(3):
        chatty(i)
    return str(runtime.flow_run.id)


if __name__ == "__main__":
    fr_id = logger_flow()
    wanted = [FLOW_MSG, "compat flow warns"] + [TASK_MSG.format(i) for i in range(3)]
    logs = poll(
        lambda: read_logs(fr_id),
        lambda logs: all(any(w in log["message"] for log in logs) for w in wanted),
    )
    emit({"flow_run_id": fr_id, "wanted": wanted, "logs": logs})

"""A flow run whose logs test_logs_out.py follows live from another process.

Usage: logs_out_flow.py ID_FILE GO_FILE. The flow writes its run id to ID_FILE, waits for GO_FILE
(the subscriber has subscribed), then logs from itself, its tasks and a subflow, and last DONE.
"""

import sys
import time
from pathlib import Path

from prefect import flow, get_run_logger, runtime, task

from _compat import emit

DONE = "compat logs-out done"
WAIT = 120.0  # a bound on the subscriber getting ready, not a speed check


@task
def chatty(i: int) -> int:
    get_run_logger().info(f"compat task says {i}")
    get_run_logger().warning(f"compat task warns {i}")
    return i


@flow(name="compat-logs-out-subflow")
def other_run() -> None:
    get_run_logger().warning("compat subflow warns")


@flow(name="compat-logs-out")
def watched(id_file: str, go_file: str) -> str:
    run_id = str(runtime.flow_run.id)
    tmp = Path(id_file + ".tmp")
    tmp.write_text(run_id)
    tmp.rename(id_file)
    deadline = time.monotonic() + WAIT
    while not Path(go_file).exists():
        if time.monotonic() > deadline:
            raise RuntimeError("the subscriber never got ready")
        time.sleep(0.1)
    logger = get_run_logger()
    logger.info("compat flow says info")
    logger.warning("compat flow warns")
    for i in range(2):
        chatty(i)
    other_run()
    logger.warning(DONE)
    return run_id


if __name__ == "__main__":
    emit({"flow_run_id": watched(sys.argv[1], sys.argv[2])})

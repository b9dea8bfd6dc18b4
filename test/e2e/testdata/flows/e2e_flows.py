"""The flow the e2e's PrefectDeployment runs as Kubernetes Jobs; baked into the worker image
(hack/worker-image.sh), whose pull step sets the working directory to it."""

import time

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

MARKER = "hello from a Kubernetes Job"


@flow(name="e2e-k8s")
def hello(name: str = "world", sleep: float = 0, fail: bool = False) -> str:
    log = get_run_logger()
    log.info("%s: %s (attempt %d)", MARKER, name, flow_run.run_count)
    # Only the first attempt sleeps: a run rescheduled after its pod went finishes at once.
    if sleep and flow_run.run_count <= 1:
        log.info("sleeping %s s", sleep)
        time.sleep(sleep)
    if fail:
        raise RuntimeError("failing on purpose")
    return name

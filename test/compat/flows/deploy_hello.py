"""A flow for `prefect deploy` and `flow.from_source(...).deploy()` (test_deployments).

The test copies this file into a temporary project directory; the flow's name comes from the
COMPAT_DEPLOY_FLOW_NAME environment variable at import time, so a worker or runner that loads
the entrypoint later finds the same flow. The flow writes a marker file next to itself, which
proves the run happened in the deployment's working directory (the `set_working_directory`
pull step).
"""

import os
from pathlib import Path

from prefect import flow

FLOW_NAME = os.environ.get("COMPAT_DEPLOY_FLOW_NAME", "compat-deploy-hello")


@flow(name=FLOW_NAME, log_prints=True)
def hello(who: str = "world") -> str:
    Path("ran-" + who).write_text(who)
    print(f"hello {who}")
    return f"hello {who}"

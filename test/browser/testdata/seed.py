"""Seed a realistic workspace for the browser suite with the real prefect client.

    seed.py        (PREFECT_API_URL names the server)

It runs a flow with tasks, log lines, a subflow, a task that fails after its retries and two
artifacts; creates a process work pool with a queue, a deployment of the flow on it with an
interval schedule (no worker: nothing has to run it), a Secret block and a JSON block, a
variable, a global and a tag concurrency limit, an automation that runs the deployment when a
flow run fails, and emits an event. Then it waits until the
server has recorded what arrives asynchronously (task runs and events come over the events
WebSocket, logs in batches), so every page the suite opens has its data.

Prints one line "BROWSER_SEED <json>" with the ids and names the pages are opened at; the
client's chatter goes to stderr.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import timedelta
from typing import Any

import prefect
from prefect import flow, get_run_logger, tags, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.blocks.core import Block
from prefect.blocks.system import Secret
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import (
    DeploymentScheduleCreate,
    GlobalConcurrencyLimitCreate,
    WorkPoolCreate,
)
from prefect.client.schemas.filters import (
    LogFilter,
    LogFilterFlowRunId,
    TaskRunFilter,
    TaskRunFilterFlowRunId,
)
from prefect.client.schemas.schedules import IntervalSchedule
from prefect.automations import Automation
from prefect.events import emit_event
from prefect.events.actions import RunDeployment
from prefect.events.schemas.automations import EventTrigger, Posture
from prefect.utilities.callables import parameter_schema
from prefect.variables import Variable
from prefect.workers.process import ProcessWorker

RESULT_MARK = "BROWSER_SEED "
FLOW_NAME = "browser-etl"
SUBFLOW_NAME = "browser-subflow"
DEPLOYMENT_NAME = "browser-deployment"
POOL_NAME = "browser-pool"
QUEUE_NAME = "browser-queue"
ARTIFACT_KEY = "browser-report"
TABLE_KEY = "browser-table"
SECRET_NAME = "browser-secret"
JSON_NAME = "browser-json"
VARIABLE_NAME = "browser_variable"
AUTOMATION_NAME = "browser-rerun-on-failure"
GLOBAL_LIMIT = "browser-global-limit"
TAG_LIMIT = "browser-tag"
SEED_EVENT = "browser.seed.finished"
FAILED_TASK = "flaky-load"
# A bound on waiting for what the server records asynchronously, not a speed check.
POLL_TIMEOUT = 60.0


class JSON(Block):
    """The JSON block that Prefect 2 shipped in prefect.blocks.system (3.x dropped it)."""

    _block_type_name = "JSON"
    value: Any


@task
def extract(n: int) -> list[int]:
    get_run_logger().info("extracted %d rows", n)
    return list(range(n))


@task(tags=[TAG_LIMIT])
def transform(rows: list[int], factor: int) -> list[int]:
    get_run_logger().info("transforming %d rows by %d", len(rows), factor)
    return [r * factor for r in rows]


@task
def load(rows: list[int]) -> int:
    total = sum(rows)
    get_run_logger().info("loaded total %d", total)
    create_markdown_artifact(
        key=ARTIFACT_KEY,
        markdown=f"# Browser report\n\nThe run loaded **{total}** in total.",
        description="The report of the browser seed run",
    )
    create_table_artifact(
        key=TABLE_KEY,
        table=[{"factor": f, "rows": len(rows)} for f in (1, 2, 3)],
        description="Rows per factor",
    )
    return total


@task(name=FAILED_TASK, retries=2, retry_delay_seconds=0)
def flaky_load() -> None:
    get_run_logger().warning("the flaky load is about to fail")
    raise RuntimeError("browser seed: the flaky load gave up")


@flow(name=SUBFLOW_NAME)
def subflow(rows: list[int]) -> int:
    get_run_logger().info("subflow got %d rows", len(rows))
    return len(rows)


@flow(name=FLOW_NAME)
def browser_etl(n: int = 5, factors: list[int] = [1, 2, 3]) -> int:  # noqa: B006 (a schema default)
    logger = get_run_logger()
    logger.info("starting the browser ETL with n=%d", n)
    rows = extract(n)
    transformed = [transform(rows, f) for f in factors]
    total = load([r for part in transformed for r in part])
    # The failure is kept as a state, so the flow run itself completes.
    flaky_load(return_state=True)
    subflow(rows)
    logger.info("the browser ETL is done")
    return total


def poll(read, done, what: str):
    deadline = time.monotonic() + POLL_TIMEOUT
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise SystemExit(f"seed: gave up waiting for {what} (last: {value!r})")
        time.sleep(0.3)


def main() -> None:
    with get_client(sync_client=True) as client:
        # Limits first, so the tagged task runs meet the tag limit.
        client.create_concurrency_limit(tag=TAG_LIMIT, concurrency_limit=10)
        client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=GLOBAL_LIMIT, limit=5))

    with tags("browser"):
        state = browser_etl(return_state=True)
    flow_run_id = state.state_details.flow_run_id

    Secret(value="browser-secret-value").save(SECRET_NAME)
    JSON(value={"region": "eu", "replicas": 3}).save(JSON_NAME)
    Variable.set(VARIABLE_NAME, {"retries": 3, "owner": "browser"})

    with get_client(sync_client=True) as client:
        pool = client.create_work_pool(
            WorkPoolCreate(
                name=POOL_NAME,
                type="process",
                description="The browser suite's process pool",
                base_job_template=ProcessWorker.get_default_base_job_template(),
            )
        )
        client.create_work_queue(name=QUEUE_NAME, work_pool_name=POOL_NAME, description="The browser queue")
        run = client.read_flow_run(flow_run_id)
        deployment_id = client.create_deployment(
            flow_id=run.flow_id,
            name=DEPLOYMENT_NAME,
            description="The browser suite's deployment",
            work_pool_name=POOL_NAME,
            work_queue_name=QUEUE_NAME,
            entrypoint="seed.py:browser_etl",
            path=".",
            tags=["browser"],
            parameters={"n": 3},
            parameter_openapi_schema=parameter_schema(browser_etl).model_dump_for_openapi(),
            schedules=[DeploymentScheduleCreate(schedule=IntervalSchedule(interval=timedelta(hours=1)), active=True)],
        )

        automation = Automation(
            name=AUTOMATION_NAME,
            description="Runs the browser deployment again when a flow run fails",
            trigger=EventTrigger(expect={"prefect.flow-run.Failed"}, posture=Posture.Reactive, threshold=1),
            actions=[RunDeployment(source="selected", deployment_id=deployment_id)],
        ).create()

        emit_event(
            event=SEED_EVENT,
            resource={"prefect.resource.id": f"browser.seed.{flow_run_id}", "prefect.resource.name": "browser seed"},
        )

        # Task runs and events arrive over the events WebSocket and logs in batches: wait until
        # the server has them all (the subflow's tracking task run counts as one of the flow's).
        task_runs = poll(
            lambda: client.read_task_runs(task_run_filter=TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=[flow_run_id]))),
            lambda trs: len(trs) >= 7 and all(tr.state_type and tr.state_type.value in ("COMPLETED", "FAILED") for tr in trs),
            "the task runs",
        )
        failed = [tr for tr in task_runs if tr.name.startswith(FAILED_TASK)]
        poll(
            lambda: client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))),
            lambda logs: any("the browser ETL is done" in log.message for log in logs),
            "the flow run's logs",
        )
        for name in (SEED_EVENT, "prefect.flow-run.Completed"):
            poll(
                lambda: client.request(
                    "POST", "/events/filter", json={"filter": {"event": {"name": [name]}}, "limit": 1}
                ).json()["events"],
                bool,
                f"a {name} event",
            )
        artifacts = {a.key: a for a in client.read_artifacts() if a.key}
        secret = client.read_block_document_by_name(SECRET_NAME, "secret")
        flow_ = client.read_flow(run.flow_id)

    result = {
        "prefect_version": prefect.__version__,
        "flow_id": str(flow_.id),
        "flow_name": flow_.name,
        "flow_run_id": str(flow_run_id),
        "flow_run_name": run.name,
        "failed_task_run_id": str(failed[0].id),
        "failed_task_run_name": failed[0].name,
        "deployment_id": str(deployment_id),
        "deployment_name": DEPLOYMENT_NAME,
        "work_pool_name": pool.name,
        "work_queue_name": QUEUE_NAME,
        "artifact_id": str(artifacts[ARTIFACT_KEY].id),
        "artifact_key": ARTIFACT_KEY,
        "table_artifact_key": TABLE_KEY,
        "secret_block_id": str(secret.id),
        "secret_block_name": SECRET_NAME,
        "json_block_name": JSON_NAME,
        "variable_name": VARIABLE_NAME,
        "global_limit_name": GLOBAL_LIMIT,
        "tag_limit": TAG_LIMIT,
        "automation_id": str(automation.id),
        "automation_name": AUTOMATION_NAME,
    }
    print(RESULT_MARK + json.dumps(result), flush=True)


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)
    main()

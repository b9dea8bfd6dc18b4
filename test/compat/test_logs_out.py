"""Live logs (WebSocket /api/logs/out) with the real client: subscribers from
prefect.logging.clients.get_logs_subscriber follow a flow run running in another process, each
receiving the logs that match its filter, and only those.

Prefect streams logs only with PREFECT_SERVER_LOGS_STREAM_PUBLISHING_ENABLED and
PREFECT_SERVER_LOGS_STREAM_OUT_ENABLED, both off by default; this module's server turns them on.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conftest import FLOWS, PYTHON, SCRIPT_TIMEOUT, Server, parse_result, start_server, stop_server
from test_deployments import stop_process

DONE = "compat logs-out done"
PROBE = "compat logs-out probe"


@pytest.fixture(scope="module")
def logs_server(server: Server, compat_tmp: Path) -> Server:
    """A server of the same backend with live logs on."""
    srv = start_server(server.backend, compat_tmp, extra_env={
        "PREFECT_SERVER_LOGS_STREAM_OUT_ENABLED": "true",
        "PREFECT_SERVER_LOGS_STREAM_PUBLISHING_ENABLED": "true",
    })
    yield srv
    stop_server(srv)


def test_logs_subscriber_follows_a_flow_run(logs_server: Server, home: Path):
    id_file, go_file = home / "flow_run_id", home / "go"
    flow_log = home / "flow.log"
    with open(flow_log, "wb") as out:
        flow = subprocess.Popen(
            [PYTHON, str(FLOWS / "logs_out_flow.py"), str(id_file), str(go_file)], cwd=str(home),
            env=logs_server.client_env(home), stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
    try:
        _, res = logs_server.run_script("logs_out_subscriber.py", str(id_file), str(go_file), home=home)
        assert flow.wait(timeout=SCRIPT_TIMEOUT) == 0, flow_log.read_text(errors="replace")[-6000:]
    finally:
        stop_process(flow)
    flow_res = parse_result(subprocess.CompletedProcess([], 0, flow_log.read_text(errors="replace"), ""))
    run_id = res["flow_run_id"]
    assert flow_res == {"flow_run_id": run_id}

    everything, warnings = res["all"], res["warnings"]
    for logs in (everything, warnings):
        assert all(log["flow_run_id"] == run_id for log in logs), logs
        assert len({log["id"] for log in logs}) == len(logs), "a log came twice"
        assert logs[-1]["message"] == DONE, logs

    messages = [log["message"] for log in everything]
    for wanted in ["compat flow says info", "compat flow warns", "compat task says 0",
                   "compat task warns 0", "compat task says 1", "compat task warns 1"]:
        assert wanted in messages, messages
    assert "compat subflow warns" not in messages, "another flow run's log"
    assert messages.index("compat flow warns") < messages.index("compat task says 0") < messages.index(DONE)
    assert all(log["task_run_id"] for log in everything if log["message"].startswith("compat task ")), everything

    # Warnings and worse of the run, its tasks' included: no info.
    assert [log["message"] for log in warnings if not log["message"].startswith(PROBE)] == \
        ["compat flow warns", "compat task warns 0", "compat task warns 1", DONE], warnings
    assert all(log["level"] >= 30 for log in warnings), warnings

    # What was streamed is what was stored: the same ids.
    status, stored = logs_server.http("POST", "/logs/filter", {
        "logs": {"flow_run_id": {"any_": [run_id]}}, "limit": 200})
    assert status == 200, stored
    stored_ids = {log["id"] for log in stored}
    assert {log["id"] for log in everything} <= stored_ids

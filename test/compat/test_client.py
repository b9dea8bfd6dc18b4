"""The real prefect client, CLI and raw API against the server, on every backend.

Each test uses flow names of its own, so the tests sharing one server stay independent.
Scripts under flows/ run in their own interpreter and print a COMPAT_RESULT JSON line.
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from pathlib import Path

from conftest import PREFECT_CLI, PYTHON, REPO_ROOT, Server


def ts(value: str | None) -> datetime:
    assert value, "timestamp missing"
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def assert_completed_run(fr: dict, run_count: int = 1) -> None:
    assert fr["state_type"] == "COMPLETED", fr
    assert fr["state_name"] == "Completed", fr
    assert fr["run_count"] == run_count, fr
    assert fr["start_time"] and fr["end_time"], fr
    assert ts(fr["end_time"]) >= ts(fr["start_time"]), fr
    assert fr["total_run_time"] is not None and fr["total_run_time"] > 0, fr


# --------------------------------------------------------------------------- a. tasks


def test_flow_with_tasks(server: Server, home: Path):
    _, res = server.run_script("tasks_flow.py", home=home)
    assert res["value"]["c"] == 16
    assert res["value"]["parts"] == [0, 2, 4]

    assert_completed_run(res["flow_run"])

    task_runs = res["task_runs"]
    assert len(task_runs) == 6, task_runs
    for tr in task_runs:
        assert tr["flow_run_id"] == res["flow_run"]["id"], tr
        assert tr["state_type"] == "COMPLETED", tr
        assert tr["state_name"] == "Completed", tr
        assert tr["run_count"] == 1, tr
    names = sorted(tr["name"].rsplit("-", 1)[0] for tr in task_runs)
    assert names == ["add"] * 2 + ["double"] * 4


# --------------------------------------------------------------------------- b. failure


def test_failing_flow(server: Server, home: Path):
    _, res = server.run_script("failing_flow.py", home=home)
    assert res["caught"] == {"type": "CompatBoom", "message": "boom from compat-failing"}
    fr = res["flow_run"]
    assert fr["state_type"] == "FAILED", fr
    assert fr["state_name"] == "Failed", fr
    assert fr["run_count"] == 1, fr
    assert fr["end_time"], fr


# --------------------------------------------------------------------------- c. flow retries


def test_flow_retries(server: Server, home: Path):
    _, res = server.run_script("retry_flow.py", home=home)
    assert res["value"] == "third time lucky"
    assert res["attempts"] == 3
    fr = res["flow_run"]
    assert_completed_run(fr, run_count=3)

    # As Prefect 3.9.1's server records it: the rejected FAILED becomes a SCHEDULED
    # "AwaitingRetry", and the flow engine then proposes a plain Running() which the flow
    # policy keeps as "Running" (only task runs are renamed "Retrying", by RenameReruns).
    seen = [(s["type"], s["name"]) for s in res["states"]]
    assert seen == [
        ("PENDING", "Pending"),
        ("RUNNING", "Running"),
        ("SCHEDULED", "AwaitingRetry"),
        ("RUNNING", "Running"),
        ("SCHEDULED", "AwaitingRetry"),
        ("RUNNING", "Running"),
        ("COMPLETED", "Completed"),
    ], seen
    # AwaitingRetry keeps the failure's message.
    awaiting = [s for s in res["states"] if s["name"] == "AwaitingRetry"]
    assert [s["message"] for s in awaiting] and all(
        "planned failure" in (s["message"] or "") for s in awaiting
    ), awaiting
    stamps = [ts(s["timestamp"]) for s in res["states"]]
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == len(stamps), "state timestamps of one run must be unique"


# --------------------------------------------------------------------------- d. task retries


def test_task_retries(server: Server, home: Path):
    _, res = server.run_script("task_retry_flow.py", home=home)
    assert res["value"]["value"] == 42
    assert res["attempts"] == 2
    assert_completed_run(res["flow_run"])
    task_runs = res["task_runs"]
    assert len(task_runs) == 1, task_runs
    tr = task_runs[0]
    assert tr["state_type"] == "COMPLETED", tr
    assert tr["run_count"] == 2, tr


# --------------------------------------------------------------------------- e. subflows


def test_nested_subflows(server: Server, home: Path):
    _, res = server.run_script("subflows.py", home=home)
    assert res["value"] == 3
    runs = res["runs"]
    assert set(runs) == {"parent", "child", "grandchild"}
    assert len({r["id"] for r in runs.values()}) == 3
    for r in runs.values():
        assert_completed_run(r)

    assert runs["parent"]["parent_task_run_id"] is None
    for kid, dad in (("child", "parent"), ("grandchild", "child")):
        ptr = runs[kid]["parent_task_run_id"]
        assert ptr, f"{kid} has no parent_task_run_id"
        parent_task = res["parent_tasks"][kid]
        assert parent_task.get("id") == ptr, parent_task
        assert parent_task["flow_run_id"] == runs[dad]["id"], (kid, parent_task, runs[dad])

    # The same links over plain HTTP.
    status, body = server.http("POST", "/flow_runs/filter", {
        "flow_runs": {"id": {"any_": [runs["grandchild"]["id"]]}},
    })
    assert status == 200 and len(body) == 1
    assert body[0]["parent_task_run_id"] == runs["grandchild"]["parent_task_run_id"]


# --------------------------------------------------------------------------- f. map


def test_map_50(server: Server, home: Path):
    _, res = server.run_script("map_flow.py", home=home)
    assert res["value"]["results"] == [i * i for i in range(50)]
    assert_completed_run(res["flow_run"])
    squares = [tr for tr in res["task_runs"] if tr["name"].startswith("square")]
    assert len(squares) == 50, [tr["name"] for tr in res["task_runs"]]
    assert len({tr["id"] for tr in squares}) == 50
    not_done = [tr for tr in res["task_runs"] if tr["state_type"] != "COMPLETED"]
    assert not not_done, not_done


# --------------------------------------------------------------------------- g. logs


def test_logs(server: Server, home: Path):
    _, res = server.run_script("logs_flow.py", home=home)
    messages = [log["message"] for log in res["logs"]]
    for wanted in res["wanted"]:
        assert any(wanted in m for m in messages), (wanted, messages)
    for log in res["logs"]:
        assert log["flow_run_id"] == res["flow_run_id"], log
    task_logs = [log for log in res["logs"] if "compat task says hello" in log["message"]]
    assert task_logs and all(log["task_run_id"] for log in task_logs), task_logs
    flow_logs = [log for log in res["logs"] if log["message"] == "compat flow says hello"]
    assert flow_logs and flow_logs[0]["task_run_id"] is None and flow_logs[0]["level"] == 20
    warns = [log for log in res["logs"] if log["message"] == "compat flow warns"]
    assert warns and warns[0]["level"] == 30


# --------------------------------------------------------------------------- h. CLI


def test_cli_ls(server: Server, home: Path):
    server.run_script("simple_flow.py", "compat-cli-flow", "compat-cli-run", home=home)

    out = server.run([PREFECT_CLI, "flow", "ls"], home=home)
    assert "compat-cli-flow" in out.stdout, out.stdout

    out = server.run([PREFECT_CLI, "flow-run", "ls"], home=home)
    assert "compat-cli-run" in out.stdout, out.stdout
    assert "compat-cli-flow" in out.stdout, out.stdout

    out = server.run([PREFECT_CLI, "flow-run", "ls", "--flow-name", "compat-cli-flow",
                      "--state-type", "COMPLETED"], home=home)
    assert "compat-cli-run" in out.stdout, out.stdout


# --------------------------------------------------------------------------- i. idempotency


def test_flow_run_idempotency_key(server: Server):
    status, flow = server.http("POST", "/flows/", {"name": "compat-idempotency"})
    assert status in (200, 201), (status, flow)
    status, again = server.http("POST", "/flows/", {"name": "compat-idempotency"})
    assert status == 200 and again["id"] == flow["id"], (status, again)

    body = {"flow_id": flow["id"], "idempotency_key": "k1", "state": {"type": "PENDING"}}
    status1, run1 = server.http("POST", "/flow_runs/", body)
    assert status1 == 201, (status1, run1)
    status2, run2 = server.http("POST", "/flow_runs/", body)
    assert status2 == 200, (status2, run2)
    assert run2["id"] == run1["id"]
    assert run1["idempotency_key"] == "k1"
    assert run1["state"]["type"] == "PENDING"

    status, count = server.http("POST", "/flow_runs/count", {
        "flows": {"id": {"any_": [flow["id"]]}},
    })
    assert status == 200 and count == 1, (status, count)

    # A different key is a different run.
    status3, run3 = server.http("POST", "/flow_runs/", {**body, "idempotency_key": "k2"})
    assert status3 == 201 and run3["id"] != run1["id"]
    status, count = server.http("POST", "/flow_runs/count", {
        "flows": {"id": {"any_": [flow["id"]]}},
    })
    assert status == 200 and count == 2, (status, count)


# --------------------------------------------------------------------------- j. basic auth


def test_basic_auth_and_csrf(auth_server: Server, home: Path, tmp_path: Path):
    # Health needs no credentials.
    status, body = auth_server.http("GET", "/health", auth=False)
    assert status == 200 and body is True, (status, body)

    # Without credentials the API refuses ...
    status, body = auth_server.http("GET", "/flows/name/anything", auth=False)
    assert status == 401, (status, body)
    # ... with them, a write still needs a CSRF token (CSRF protection is on) ...
    status, body = auth_server.http("POST", "/flows/filter", {})
    assert status == 403 and "Missing CSRF token" in str(body), (status, body)
    status, token = auth_server.http("GET", "/csrf-token?client=compat-test")
    assert status == 200 and token["token"], (status, token)
    status, body = auth_server.http("POST", "/flows/filter", {}, headers={
        "Prefect-Csrf-Token": token["token"], "Prefect-Csrf-Client": "compat-test"})
    assert status == 200 and isinstance(body, list), (status, body)

    # The real client with PREFECT_API_AUTH_STRING runs a flow end to end,
    # fetching and sending CSRF tokens itself.
    _, res = auth_server.run_script("simple_flow.py", "compat-auth-flow", home=home)
    assert res["value"]["greeting"] == "hello compat"
    assert_completed_run(res["flow_run"])

    # The real client without it fails.
    other_home = tmp_path / "no-auth-home"
    other_home.mkdir()
    proc, res = auth_server.run_script("simple_flow.py", "compat-auth-denied", home=other_home,
                                       auth=False, check=False)
    assert proc.returncode != 0, proc.stdout
    assert res is None
    assert "401" in proc.stdout + proc.stderr or "Unauthorized" in proc.stdout + proc.stderr


# --------------------------------------------------------------------------- k. README


def quickstart_block() -> str:
    readme = (REPO_ROOT / "README.md").read_text()
    m = re.search(r"^## Quickstart\s*$(.*?)(?=^## |\Z)", readme, re.M | re.S)
    assert m, "README.md has no '## Quickstart' section"
    blocks = re.findall(r"^```python\s*\n(.*?)^```", m.group(1), re.M | re.S)
    assert len(blocks) == 1, f"'## Quickstart' must hold exactly one ```python block, found {len(blocks)}"
    return blocks[0]


def count_completed(server: Server) -> int:
    status, count = server.http("POST", "/flow_runs/count", {
        "flow_runs": {"state": {"type": {"any_": ["COMPLETED"]}}},
    })
    assert status == 200, (status, count)
    return count


def test_readme_quickstart(server: Server, home: Path):
    script = home / "quickstart.py"
    script.write_text(quickstart_block())
    before = count_completed(server)
    server.run([PYTHON, str(script)], home=home)
    # The run is written synchronously by the client before the script exits; a short bounded
    # wait only guards against a server that commits asynchronously.
    deadline = time.monotonic() + 15
    while count_completed(server) <= before and time.monotonic() < deadline:
        time.sleep(0.25)
    assert count_completed(server) > before


# --------------------------------------------------------------------------- blocks


def test_blocks(server: Server, home: Path):
    _, res = server.run_script("blocks.py", "compat-blocks", home=home)
    assert res["loaded"] == "s3cr3t", res
    assert res["duplicate_error"] and "overwrite=True" in res["duplicate_error"], res
    assert res["rotated"] == "r0tated", res
    assert res["json_loaded"] == {"user": "u", "password": "p"}, res
    assert res["hidden_value"] == "********", res
    assert "compat-blocks-secret" in res["listed"], res
    assert res["schema_checksum"].startswith("sha256:"), res
    assert res["outer"] == {"label": "outer", "token": "tok", "count": 5, "maybe_token": "inline",
                            "generic_class": "CompatOuter"}, res
    assert res["resolved"] == {"secret": "r0tated", "label": "outer"}, res

    out = server.run([PREFECT_CLI, "block", "ls"], home=home)
    assert "compat-blocks-secret" in out.stdout, out.stdout
    out = server.run([PREFECT_CLI, "block", "inspect", "secret/compat-blocks-secret"], home=home)
    assert "compat-blocks-secret" in out.stdout, out.stdout
    assert "r0tated" not in out.stdout, out.stdout



def test_observed_states(server: Server):
    """/observed-states: the state pairs runs have been in, searched by a prefix of any case."""
    status, flow = server.http("POST", "/flows/", {"name": "compat-observed"})
    assert status in (200, 201), (status, flow)
    for name in ("ObservedQuiet", "ObservedLoud"):
        status, run = server.http("POST", "/flow_runs/", {"flow_id": flow["id"], "state": {"type": "PENDING", "name": name}})
        assert status == 201, (status, run)
    status, run = server.http("POST", "/flow_runs/", {"flow_id": flow["id"], "state": {"type": "PENDING", "name": "ObservedQuiet"}})
    assert status == 201, (status, run)

    status, found = server.http("GET", "/observed-states?query=%20observedq&order_by=NAME_ASC")
    assert status == 200, (status, found)
    assert [(s["state_type"], s["state_name"]) for s in found] == [("PENDING", "ObservedQuiet")], found
    assert found[0]["first_seen"] <= found[0]["last_seen"], found
    status, found = server.http("GET", "/observed-states?query=OBSERVED&order_by=NAME_ASC")
    assert [s["state_name"] for s in found] == ["ObservedLoud", "ObservedQuiet"], found
    status, found = server.http("GET", "/observed-states?query=observed&limit=1")
    assert status == 200 and [s["state_name"] for s in found] == ["ObservedQuiet"], found  # last seen first
    status, found = server.http("GET", "/observed-states?query=pend")
    assert status == 200 and ("PENDING", "ObservedLoud") in [(s["state_type"], s["state_name"]) for s in found], found

    for query, loc, kind in (("limit=0", "limit", "greater_than_equal"), ("limit=201", "limit", "less_than_equal"),
                             ("limit=x", "limit", "int_parsing"), ("order_by=NEWEST", "order_by", "enum"),
                             ("query=" + "a" * 101, "query", "string_too_long")):
        status, body = server.http("GET", "/observed-states?" + query)
        assert status == 422, (query, status, body)
        assert [(d["loc"], d["type"]) for d in body["exception_detail"]] == [(["query", loc], kind)], body

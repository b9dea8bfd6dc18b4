"""Automations with the real client and CLI, on every backend: created, read, paused and resumed,
listed, inspected, related to the deployment they run, deleted; and fired by an event, calling a
webhook and running a deployment with what the event carried.
"""

from __future__ import annotations

import http.server
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from conftest import PREFECT_CLI, Server
from test_deployments import get_ok, make_project, post_ok, wait_for


def test_automations_cli_and_python(server: Server, home: Path):
    prefix = "compat-automations"
    flow = post_ok(server, "/flows/", {"name": f"{prefix}-flow"})
    deployment = post_ok(server, "/deployments/", {"name": f"{prefix}-deployment", "flow_id": flow["id"]})

    _, res = server.run_script("automations.py", prefix, deployment["id"], home=home)
    assert res["by_name"] == {"id": res["id"], "description": "runs the deployment again", "threshold": 2,
                              "within": 60.0, "expect": ["prefect.flow-run.Failed"]}, res
    assert res["action"]["type"] == "run-deployment" and res["action"]["deployment_id"] == deployment["id"], res
    assert res["action"]["parameters"] == {"n": 1}, res
    assert res["enabled_after_disable"] is False and res["enabled_after_enable"] is True, res
    assert res["proactive_within"] == 10.0, res
    assert res["after_update"] == {"tags": ["compat"], "description": "runs the deployment again", "enabled": True,
                                   "threshold": 2}, res

    cli = lambda *a, **kw: server.run([PREFECT_CLI, *a], home=home, **kw)  # noqa: E731
    listed = cli("automation", "ls").stdout
    assert f"{prefix}-rerun" in listed and f"{prefix}-quiet" in listed, listed
    cli("automation", "pause", f"{prefix}-rerun")
    assert get_ok(server, f"/automations/{res['id']}")["enabled"] is False
    cli("automation", "resume", f"{prefix}-rerun")
    assert get_ok(server, f"/automations/{res['id']}")["enabled"] is True
    inspected = cli("automation", "inspect", f"{prefix}-rerun").stdout
    assert "runs the deployment again" in inspected and deployment["id"] in inspected, inspected

    # The deployment knows the automation that runs it.
    related = get_ok(server, f"/automations/related-to/prefect.deployment.{deployment['id']}")
    assert [a["name"] for a in related] == [f"{prefix}-rerun"], related
    shown = cli("deployment", "inspect", f"{prefix}-flow/{prefix}-deployment").stdout
    assert f"{prefix}-rerun" in shown, shown

    cli("automation", "delete", "--id", res["id"], "--no-prompt")
    status, _ = server.http("GET", f"/automations/{res['id']}")
    assert status == 404
    listed = cli("automation", "ls").stdout
    assert f"{prefix}-rerun" not in listed and f"{prefix}-quiet" in listed, listed


class _Hook(http.server.BaseHTTPRequestHandler):
    """Records what a webhook action sends."""

    received: list = []

    def do_POST(self):  # noqa: N802 (the stdlib's name)
        n = int(self.headers.get("Content-Length", 0))
        _Hook.received.append({"path": self.path, "body": self.rfile.read(n).decode(),
                               "header": self.headers.get("X-Compat")})
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def _events_named(server: Server, name: str, automation_id: str) -> list:
    status, page = server.http("POST", "/events/filter", {"filter": {
        "event": {"name": [name]}, "any_resource": {"id": [f"prefect.automation.{automation_id}"]},
        "occurred": {"since": "2020-01-01T00:00:00Z"}}, "limit": 50})
    assert status == 200, page
    return page["events"]


def test_automation_fires_its_actions(server: Server, home: Path):
    """An event matching an automation's trigger fires it: a webhook is called with the rendered
    payload, and a deployment is run with a parameter taken from the event; the automation's
    triggered and action events are recorded."""
    prefix = "compat-fires"
    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    try:
        _, block = server.run_script("webhook_block.py", f"{prefix}-hook",
                                     f"http://127.0.0.1:{hook.server_address[1]}/hook", home=home)
        flow = post_ok(server, "/flows/", {"name": f"{prefix}-flow"})
        deployment = post_ok(server, "/deployments/", {"name": f"{prefix}-deployment", "flow_id": flow["id"]})
        automation = post_ok(server, "/automations/", {
            "name": f"{prefix}-automation",
            "trigger": {"posture": "Reactive", "expect": ["compat.fires.ping"],
                        "match": {"prefect.resource.id": "compat.fires.*"}, "threshold": 1, "within": 0},
            "actions": [
                {"type": "call-webhook", "block_document_id": block["id"],
                 "payload": "{{ event.resource.id }} says {{ event.payload.n }}"},
                {"type": "run-deployment", "source": "selected", "deployment_id": deployment["id"],
                 "parameters": {"n": "{{ event.payload.n }}", "who": "{{ event.resource['prefect.resource.name'] }}"}},
            ],
        })
        # Prefect's server loads a new automation a moment after saving it; events sent before
        # that are not evaluated against it (ours reloads in stream order).
        time.sleep(3)
        # Another event, and one on another resource, fire nothing.
        now = datetime.now(timezone.utc).isoformat()
        events = [
            {"id": str(uuid.uuid4()), "occurred": now, "event": "compat.fires.other",
             "resource": {"prefect.resource.id": "compat.fires.1"}, "payload": {"n": 1}},
            {"id": str(uuid.uuid4()), "occurred": now, "event": "compat.fires.ping",
             "resource": {"prefect.resource.id": "elsewhere.1"}, "payload": {"n": 2}},
            {"id": str(uuid.uuid4()), "occurred": now, "event": "compat.fires.ping",
             "resource": {"prefect.resource.id": "compat.fires.1", "prefect.resource.name": "thing"}, "payload": {"n": 7}},
        ]
        status, out = server.http("POST", "/events", events)
        assert status == 204, (status, out)

        wait_for(lambda: list(_Hook.received), lambda r: len(r) >= 1, 60, "the webhook call")
        time.sleep(1)
        assert _Hook.received == [{"path": "/hook", "body": "compat.fires.1 says 7", "header": "1"}], _Hook.received

        runs = wait_for(lambda: post_ok(server, "/flow_runs/filter", {"deployments": {"id": {"any_": [deployment["id"]]}}}),
                        lambda r: len(r) >= 1, 60, "the deployment's run")
        assert len(runs) == 1 and runs[0]["parameters"] == {"n": 7, "who": "thing"}, runs
        assert runs[0]["state_type"] == "SCHEDULED", runs

        triggered = wait_for(lambda: _events_named(server, "prefect.automation.triggered", automation["id"]),
                             lambda e: len(e) >= 1, 60, "the triggered event")
        assert len(triggered) == 1, triggered
        assert triggered[0]["payload"]["triggering_event"]["payload"] == {"n": 7}, triggered
        executed = wait_for(lambda: _events_named(server, "prefect.automation.action.executed", automation["id"]),
                            lambda e: len(e) >= 2, 60, "the actions' executed events")
        by_type = {e["payload"]["action_type"]: e for e in executed}
        assert set(by_type) == {"call-webhook", "run-deployment"}, executed
        assert by_type["call-webhook"]["payload"]["status_code"] == 204, executed
        related = {r["prefect.resource.role"] for r in by_type["run-deployment"]["related"]}
        assert {"target", "flow-run", "triggering-event"} <= related, by_type["run-deployment"]
        assert not _events_named(server, "prefect.automation.action.failed", automation["id"])
    finally:
        hook.shutdown()
        _Hook.received.clear()


def test_templates_validate(server: Server):
    """The UI checks a notification's template as it is typed."""
    for path in ("/templates/validate", "/automations/templates/validate"):
        status, out = server.http("POST", path, "Flow run {{ flow_run.name }} is {{ flow_run.state.name }}")
        assert (status, out) == (204, None), (path, status, out)
        status, out = server.http("POST", path, "{{ flow_run.name ")
        assert status == 422 and out["error"]["source"] == "{{ flow_run.name " and out["error"]["line"] == 1, (path, status, out)
        assert out["error"]["message"] == "unexpected end of template, expected 'end of print statement'.", out
        # Jinja's words for a tag left open and for one it does not know,
        # and Prefect's loop limit (no line: the template as a whole).
        status, out = server.http("POST", path, "line one\n{% if flow_run %}")
        assert status == 422 and out["error"]["line"] == 2, (path, status, out)
        assert out["error"]["message"] == (
            "Unexpected end of template. Jinja was looking for the following tags: 'elif' or 'else' or 'endif'. "
            "The innermost block that needs to be closed is 'if'."
        ), out
        status, out = server.http("POST", path, "{% frobnicate %}")
        assert (status, out["error"]["message"]) == (422, "Encountered unknown tag 'frobnicate'."), out
        deep = "{% for a in b %}{% for c in d %}{% for e in f %}{% endfor %}{% endfor %}{% endfor %}"
        status, out = server.http("POST", path, deep)
        assert status == 422 and out["error"] == {
            "line": 0,
            "message": "Contains nested for loops at a depth of 3. Templates can nest for loops no more than 2 loops deep.",
            "source": deep,
        }, out


def test_deploy_with_triggers(server: Server, home: Path, tmp_path: Path):
    """`triggers:` in prefect.yaml become automations owned by the deployment, which run it with
    the event's values when their event comes."""
    flow_name, dep, pool = "compat-triggers-flow", "compat-triggers", "compat-triggers-pool"
    project = make_project(tmp_path)
    env = {"COMPAT_DEPLOY_FLOW_NAME": flow_name}
    (project / "prefect.yaml").write_text(f"""\
name: compat-triggers
prefect-version: 3.9.1
build: null
push: null
pull: null
deployments:
- name: {dep}
  entrypoint: flow.py:hello
  work_pool:
    name: {pool}
  triggers:
  - type: event
    enabled: true
    match:
      prefect.resource.id: compat.triggers.*
    expect:
    - compat.triggers.go
    parameters:
      who: "{{{{ event.payload.who }}}}"
""")
    server.run([PREFECT_CLI, "work-pool", "create", pool, "--type", "process"], home=home)
    out = server.run([PREFECT_CLI, "--no-prompt", "deploy", "--all"], home=project, **env)
    assert f"{flow_name}/{dep}" in out.stdout, out.stdout
    status, d = server.http("GET", f"/deployments/name/{flow_name}/{dep}")
    assert status == 200, d
    owned = get_ok(server, f"/automations/related-to/prefect.deployment.{d['id']}")
    assert len(owned) == 1, owned
    action = owned[0]["actions"][0]
    assert action["type"] == "run-deployment" and action["deployment_id"] == d["id"], action
    assert owned[0]["trigger"]["expect"] == ["compat.triggers.go"], owned

    time.sleep(3)  # as above: Prefect loads a new automation a moment after saving it
    now = datetime.now(timezone.utc).isoformat()
    status, out = server.http("POST", "/events", [{"id": str(uuid.uuid4()), "occurred": now, "event": "compat.triggers.go",
                                                  "resource": {"prefect.resource.id": "compat.triggers.1"},
                                                  "payload": {"who": "yaml"}}])
    assert status == 204, out
    runs = wait_for(lambda: post_ok(server, "/flow_runs/filter", {"deployments": {"id": {"any_": [d["id"]]}}}),
                    lambda r: len(r) >= 1, 60, "the run the trigger makes")
    assert [r["parameters"] for r in runs] == [{"who": "yaml"}], runs


def test_automation_with_a_broken_template_is_refused(server: Server):
    """A template that does not parse is refused when the automation is saved, not when it fires."""
    status, out = server.http("POST", "/automations/", {"name": "compat-broken-template", "trigger": {"posture": "Reactive"},
                                                        "actions": [{"type": "call-webhook", "block_document_id": str(uuid.uuid4()),
                                                                     "payload": "{{ event.id "}]})
    assert status == 422, (status, out)
    details = [d for d in out["exception_detail"] if d["loc"][-1] == "payload"]
    assert details and "'payload' is not a valid template" in details[0]["msg"], out


def _set_state(server: Server, run_id: str, state: str) -> None:
    status, out = server.http("POST", f"/flow_runs/{run_id}/set_state", {"state": {"type": state}})
    assert status in (200, 201) and out["status"] == "ACCEPT", (state, status, out)


def test_run_b_after_a_completes(server: Server):
    """A deployment trigger: when a run of A completes, B runs (the event the server emits for the
    state change, matched through its related deployment)."""
    prefix = "compat-a-then-b"
    flow = post_ok(server, "/flows/", {"name": f"{prefix}-flow"})
    a = post_ok(server, "/deployments/", {"name": f"{prefix}-a", "flow_id": flow["id"]})
    b = post_ok(server, "/deployments/", {"name": f"{prefix}-b", "flow_id": flow["id"]})
    post_ok(server, "/automations/", {
        "name": f"{prefix}-automation",
        "trigger": {"posture": "Reactive", "expect": ["prefect.flow-run.Completed"],
                    "match_related": {"prefect.resource.id": f"prefect.deployment.{a['id']}"}, "threshold": 1, "within": 0},
        "actions": [{"type": "run-deployment", "source": "selected", "deployment_id": b["id"],
                     "parameters": {"after": "{{ event.resource.id }}"}}],
    })
    time.sleep(3)  # Prefect loads a new automation a moment after saving it

    run = post_ok(server, f"/deployments/{a['id']}/create_flow_run", {})
    for state in ("PENDING", "RUNNING"):
        _set_state(server, run["id"], state)
    time.sleep(2)
    runs_of_b = {"deployments": {"id": {"any_": [b["id"]]}}}
    assert post_ok(server, "/flow_runs/filter", runs_of_b) == [], "B ran before A completed"
    _set_state(server, run["id"], "COMPLETED")
    runs = wait_for(lambda: post_ok(server, "/flow_runs/filter", runs_of_b), lambda r: len(r) >= 1, 60, "B's run")
    assert [r["parameters"] for r in runs] == [{"after": f"prefect.flow-run.{run['id']}"}], runs


def test_proactive_trigger_fires_on_absence(server: Server):
    """A proactive trigger: a run that enters Pending and is not Running within 10 s is cancelled;
    one that starts in time is left alone."""
    prefix = "compat-stuck"
    flow = post_ok(server, "/flows/", {"name": f"{prefix}-flow"})
    automation = post_ok(server, "/automations/", {
        "name": f"{prefix}-automation",
        "trigger": {"posture": "Proactive", "after": ["prefect.flow-run.Pending"], "expect": ["prefect.flow-run.Running"],
                    "match_related": {"prefect.resource.id": f"prefect.flow.{flow['id']}"},
                    "for_each": ["prefect.resource.id"], "threshold": 1, "within": 10},
        "actions": [{"type": "cancel-flow-run"}],
    })
    time.sleep(3)  # Prefect loads a new automation a moment after saving it
    stuck = post_ok(server, "/flow_runs/", {"flow_id": flow["id"], "name": f"{prefix}-stuck", "state": {"type": "SCHEDULED"}})
    quick = post_ok(server, "/flow_runs/", {"flow_id": flow["id"], "name": f"{prefix}-quick", "state": {"type": "SCHEDULED"}})
    for run in (stuck, quick):
        _set_state(server, run["id"], "PENDING")
    _set_state(server, quick["id"], "RUNNING")

    fr = wait_for(lambda: get_ok(server, f"/flow_runs/{stuck['id']}"), lambda r: r["state_type"] != "PENDING", 90,
                  "the stuck run cancelled")
    assert fr["state_type"] in ("CANCELLING", "CANCELLED"), fr
    assert get_ok(server, f"/flow_runs/{quick['id']}")["state_type"] == "RUNNING"
    triggered = wait_for(lambda: _events_named(server, "prefect.automation.triggered", automation["id"]),
                         lambda e: len(e) >= 1, 60, "the triggered event")
    assert len(triggered) == 1, triggered
    assert triggered[0]["resource"]["prefect.posture"] == "Proactive", triggered

"""Automations with the real client and CLI, on every backend: created, read, paused and resumed,
listed, inspected, related to the deployment they run, deleted. They are stored, not evaluated:
nothing here waits for one to fire.
"""

from __future__ import annotations

from pathlib import Path

from conftest import PREFECT_CLI, Server
from test_deployments import get_ok, post_ok


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

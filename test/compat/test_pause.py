"""Pause and resume with the real client, on every backend: a flow paused in process is resumed
through the API and finishes; a flow paused waiting for input refuses an input its schema does
not accept (it stays paused) and finishes with the input it accepts; a deployment's run that
suspends itself is rescheduled on resume and finishes.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import FLOWS, PREFECT_CLI, PYTHON, Server, parse_result
from test_deployments import (RUN_WAIT, TERMINAL, flow_run_id_from_cli, get_ok, serving, stop_process,
                              wait_deployment, wait_for, wait_run_state)


def paused_run(server: Server, name: str) -> dict:
    def read():
        status, runs = server.http("POST", "/flow_runs/filter", {"flow_runs": {"name": {"any_": [name]}}})
        assert status == 200, runs
        return runs[0] if runs else None
    return wait_for(read, lambda r: r is not None and r["state_type"] == "PAUSED", RUN_WAIT, f"{name} paused")


def run_paused(server: Server, home: Path, mode: str, name: str, resume) -> dict:
    """Start the flow, resume it with resume(run) once paused, and return its COMPAT_RESULT."""
    log_path = home / f"{name}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [PYTHON, str(FLOWS / "pause_flow.py"), mode, name], cwd=str(home), stdout=log,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=server.client_env(home),
            start_new_session=True,
        )
    try:
        resume(paused_run(server, name))
        proc.wait(timeout=RUN_WAIT)
        out = subprocess.CompletedProcess(proc.args, proc.returncode, log_path.read_text(errors="replace"), "")
        assert proc.returncode == 0, out.stdout[-6000:]
        result = parse_result(out)
        assert result is not None, out.stdout[-6000:]
        return result
    except BaseException as exc:
        if isinstance(exc, AssertionError):
            raise AssertionError(f"{exc}\n--- flow log\n{log_path.read_text(errors='replace')[-6000:]}") from exc
        raise
    finally:
        stop_process(proc)


def test_pause_and_resume(server: Server, home: Path):
    def resume(run: dict) -> None:
        status, out = server.http("POST", f"/flow_runs/{run['id']}/resume", {})
        assert status == 201 and out["status"] == "ACCEPT", out

    assert run_paused(server, home, "plain", "compat-pause-plain", resume) == {"result": "resumed"}


def test_pause_waiting_for_input(server: Server, home: Path):
    def resume(run: dict) -> None:
        # An input the saved schema refuses leaves the run paused.
        status, out = server.http("POST", f"/flow_runs/{run['id']}/resume", {"run_input": {"name": "ann", "n": "three"}})
        assert status == 200 and out["status"] == "REJECT", out
        assert "Validation failed for field 'n'" in out["details"]["reason"], out
        status, again = server.http("GET", f"/flow_runs/{run['id']}")
        assert again["state_type"] == "PAUSED", again
        status, out = server.http("POST", f"/flow_runs/{run['id']}/resume", {"run_input": {"name": "ann", "n": 3}})
        assert status == 201 and out["status"] == "ACCEPT", out
        # Not paused any more: a second resume is refused.
        status, out = server.http("POST", f"/flow_runs/{run['id']}/resume", {})
        assert out["status"] == "ABORT", out

    assert run_paused(server, home, "input", "compat-pause-input", resume) == {"result": "ann-3"}


def test_suspend_deployment_run_and_resume(server: Server, home: Path):
    """A served deployment's run suspends itself (its process exits); resumed, the server
    schedules it again, the runner runs it once more, and it finishes past the suspension."""
    flow_name, dep = "compat-suspend-flow", "compat-suspend"
    with serving(server, home, flow_name, dep, "--suspend", log_name="suspend-runner.log") as runner:
        wait_deployment(server, runner, flow_name, dep)
        out = server.run([PREFECT_CLI, "deployment", "run", f"{flow_name}/{dep}"], home=home)
        run_id = flow_run_id_from_cli(out.stdout)
        fr = wait_run_state(server, run_id, {"PAUSED"} | TERMINAL, RUN_WAIT)
        assert (fr["state_type"], fr["state_name"]) == ("PAUSED", "Suspended"), fr
        assert fr["state"]["state_details"]["pause_reschedule"] is True, fr

        status, res = server.http("POST", f"/flow_runs/{run_id}/resume", {})
        assert status == 201 and res["status"] == "ACCEPT", (status, res)
        fr = wait_run_state(server, run_id, TERMINAL, RUN_WAIT)
        assert fr["state_type"] == "COMPLETED", fr
        assert fr["run_count"] == 1, fr  # as Prefect counts it: resuming is not a rerun
        states = get_ok(server, f"/flow_run_states?flow_run_id={run_id}")
        names = [s["name"] for s in sorted(states, key=lambda s: s["timestamp"])]
        # Prefect 3.9.1's history, name for name: resumed, the run is scheduled again (Resuming).
        assert names == ["Scheduled", "Pending", "Submitting", "Running", "Suspended", "Resuming",
                         "Pending", "Submitting", "Running", "Completed"], names

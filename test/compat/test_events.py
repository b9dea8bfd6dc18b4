"""The reading side of events: `prefect events stream` (WebSocket /api/events/out),
POST /api/events/filter (+ /filter/next) and /api/events/count-by, with the real client.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path

from conftest import PREFECT_CLI, Server

WAIT = 30.0  # a bound on asynchronous delivery, not a speed check


def _poll(read, done, timeout: float = WAIT):
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.3)


def test_events_stream_shows_flow_run_events(server: Server, home: Path):
    # Events go to stdout: 3.9.1's --output-file is broken (it never awaits open_file).
    out = home / "stream.txt"
    out_f = open(out, "w")
    stream = subprocess.Popen(
        [PREFECT_CLI, "events", "stream", "--format", "text"],
        cwd=str(home), env=server.client_env(home), stdout=out_f, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, text=True,
    )
    try:
        flow_name = f"compat-events-stream-{uuid.uuid4().hex[:8]}"
        _, res = server.run_script("simple_flow.py", flow_name, home=home)
        run_id = res["value"]["flow_run_id"]
        resource = f"prefect.flow-run.{run_id}"

        def lines():
            return [ln for ln in out.read_text().splitlines() if ln.endswith(" " + resource)]

        got = _poll(lines, lambda ls: any(" prefect.flow-run.Completed " in ln for ln in ls))
        names = [ln.split(" ")[1] for ln in got]
        assert "prefect.flow-run.Running" in names, (names, stream.poll())
        assert "prefect.flow-run.Completed" in names, (names, stream.poll())
        assert names.index("prefect.flow-run.Running") < names.index("prefect.flow-run.Completed"), names
        assert len(names) == len(set(names)), f"an event was streamed twice: {names}"
        assert stream.poll() is None, "the stream ended on its own"
    finally:
        stream.terminate()
        try:
            stream.wait(timeout=15)
        except subprocess.TimeoutExpired:
            stream.kill()
            stream.wait()
        out_f.close()
    assert "Subscribing to event stream" in out.read_text()


def test_emitted_event_is_filtered_and_counted(server: Server, home: Path):
    name = f"compat.test.emitted-{uuid.uuid4().hex[:8]}"
    resource_id = f"compat.thing.{uuid.uuid4()}"
    _, res = server.run_script("emit_event.py", name, resource_id, home=home)
    event_id = res["id"]

    flt = {"event": {"name": [name]}, "resource": {"id": [resource_id]}}

    def read():
        status, body = server.http("POST", "/events/filter", {"filter": flt, "limit": 10})
        assert status == 200, body
        return body

    page = _poll(read, lambda b: b["total"] >= 1)
    assert page["total"] == 1, page
    assert page["next_page"] is None, page
    (ev,) = page["events"]
    assert ev["id"] == event_id, ev
    assert ev["event"] == name
    assert ev["resource"]["prefect.resource.id"] == resource_id
    assert ev["payload"] == {"answer": 42}
    assert ev["received"], ev
    assert any(r["prefect.resource.role"] == "compat-role" for r in ev["related"]), ev

    # Related-resource and label filters reach the same event.
    status, body = server.http("POST", "/events/filter", {"filter": {
        "event": {"prefix": ["compat.test."]},
        "related": {"resources_in_roles": [["compat.related.1", "compat-role"]]},
        "resource": {"labels": {"prefect.resource.name": "compat-*"}},
    }})
    assert status == 200, body
    assert event_id in [e["id"] for e in body["events"]], body

    status, counts = server.http("POST", "/events/count-by/event", {"filter": flt})
    assert status == 200, counts
    assert len(counts) == 1, counts
    c = counts[0]
    assert c["value"] == name and c["label"] == name and c["count"] == 1, c
    assert c["start_time"] and c["end_time"], c

    status, days = server.http("POST", "/events/count-by/day", {"filter": flt})
    assert status == 200, days
    assert sum(d["count"] for d in days) == 1, days
    assert days[-1]["count"] == 1, days[-1]


def test_events_filter_paging(server: Server, home: Path):
    status, first = server.http("POST", "/events/filter", {"limit": 1})
    assert status == 200, first
    assert first["total"] >= 2, first  # earlier tests left flow-run events
    assert len(first["events"]) == 1
    assert first["next_page"] and "/api/events/filter/next?page-token=" in first["next_page"], first
    path = first["next_page"].split("/api", 1)[1]
    status, second = server.http("GET", path)
    assert status == 200, second
    assert second["total"] == first["total"], second
    assert len(second["events"]) == 1
    assert second["events"][0]["id"] != first["events"][0]["id"]
    assert second["events"][0]["occurred"] <= first["events"][0]["occurred"], "newest first"

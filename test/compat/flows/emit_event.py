"""Emit one event with prefect.events.emit_event and wait until it is sent (test_events b).

usage: emit_event.py EVENT_NAME RESOURCE_ID
"""

import sys

from prefect.events import emit_event
from prefect.events.worker import EventsWorker

from _compat import emit


def main(name: str, resource_id: str) -> None:
    event = emit_event(
        event=name,
        resource={"prefect.resource.id": resource_id, "prefect.resource.name": "compat-thing"},
        related=[{"prefect.resource.id": "compat.related.1", "prefect.resource.role": "compat-role"}],
        payload={"answer": 42},
    )
    assert event is not None, "emit_event returned None: events are off"
    EventsWorker.drain_all()
    emit({"id": str(event.id)})


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

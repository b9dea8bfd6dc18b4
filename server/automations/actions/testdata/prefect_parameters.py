"""Prefect's own rendering of run-deployment parameters (RunDeployment.
render_parameters, from the pinned prefect in the venv) for each case, with
the triggering event, labels and workspace variables given on stdin:
{"event", "labels", "automation", "variables", "cases"}. Prints one
{"ok": parameters} or {"error": reason} per case, the reason worded as the
action words its failure."""

import asyncio
import json
import sys
import uuid
from contextlib import asynccontextmanager
from datetime import datetime, timezone

from prefect.server.events.actions import RunDeployment
from prefect.server.events.schemas.automations import Automation, TriggeredAction
from prefect.server.events.schemas.events import ReceivedEvent

request = json.load(sys.stdin)


class Variables:
    """The orchestration client, as far as parameters read it."""

    async def read_workspace_variables(self, names=None):
        return {
            k: v
            for k, v in request["variables"].items()
            if names is None or k in names
        }


@asynccontextmanager
async def client():
    yield Variables()


async def orchestration_client(self, triggered_action):
    return client()


RunDeployment.orchestration_client = orchestration_client


async def render(parameters):
    action = RunDeployment(
        source="selected", deployment_id=uuid.uuid4(), parameters=parameters
    )
    automation = Automation.model_validate(
        {**request["automation"], "actions": [action.model_dump(mode="json")]}
    )
    triggered = TriggeredAction(
        automation=automation,
        triggered=datetime.now(timezone.utc),
        triggering_labels=request["labels"],
        triggering_event=ReceivedEvent.model_validate(request["event"]),
        action=action,
    )
    try:
        return {"ok": await action.render_parameters(triggered)}
    except Exception as exc:
        return {"error": f"Unable to create flow run from deployment: {exc!r}"}


async def main():
    return [await render(case) for case in request["cases"]]


print(json.dumps(asyncio.run(main())))

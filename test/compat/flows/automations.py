"""Automations through `prefect.automations.Automation` (test_automations).

usage: automations.py PREFIX DEPLOYMENT_ID

Creates an automation that runs the deployment when a flow run fails, reads it back by name and
by id, disables and re-enables it, updates it, and creates a second one to be deleted through the
CLI.
"""

import sys
from uuid import UUID

from prefect.automations import Automation
from prefect.events.actions import DoNothing, RunDeployment
from prefect.events.schemas.automations import EventTrigger, Posture

from _compat import emit


def main(prefix: str, deployment_id: str) -> None:
    out: dict = {}
    created = Automation(
        name=f"{prefix}-rerun",
        description="runs the deployment again",
        trigger=EventTrigger(expect={"prefect.flow-run.Failed"}, posture=Posture.Reactive, threshold=2, within=60),
        actions=[RunDeployment(source="selected", deployment_id=UUID(deployment_id), parameters={"n": 1})],
    ).create()
    out["id"] = str(created.id)
    by_name = Automation.read(name=f"{prefix}-rerun")
    out["by_name"] = {"id": str(by_name.id), "description": by_name.description,
                      "threshold": by_name.trigger.threshold, "within": by_name.trigger.within.total_seconds(),
                      "expect": sorted(by_name.trigger.expect)}
    by_id = Automation.read(id=created.id)
    out["action"] = by_id.actions[0].model_dump(mode="json")
    by_id.disable()
    out["enabled_after_disable"] = Automation.read(id=created.id).enabled
    by_id.enable()
    out["enabled_after_enable"] = Automation.read(id=created.id).enabled
    # update() is a PUT of the whole automation as the client holds it.
    again = Automation.read(id=created.id)
    again.tags = ["compat"]
    again.update()
    updated = Automation.read(id=created.id)
    out["after_update"] = {"tags": updated.tags, "description": updated.description, "enabled": updated.enabled,
                           "threshold": updated.trigger.threshold}

    proactive = Automation(
        name=f"{prefix}-quiet",
        trigger=EventTrigger(expect={"heartbeat"}, posture=Posture.Proactive),
        actions=[DoNothing()],
    ).create()
    out["proactive_within"] = Automation.read(id=proactive.id).trigger.within.total_seconds()
    emit(out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

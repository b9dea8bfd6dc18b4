"""Prefect's own reading of each automation body on stdin (a JSON list):
its AutomationCreate model, from the pinned prefect in the venv. Printed as
a JSON list of {"ok": the model as JSON} or {"errors": [[loc, msg], ...]}."""

import json
import sys

from pydantic import ValidationError

from prefect.server.events.schemas.automations import AutomationCreate

answers = []
for body in json.load(sys.stdin):
    try:
        answers.append({"ok": AutomationCreate.model_validate(body).model_dump(mode="json")})
    except ValidationError as exc:
        answers.append(
            {"errors": [[".".join(str(p) for p in e["loc"]), e["msg"]] for e in exc.errors()]}
        )
print(json.dumps(answers))

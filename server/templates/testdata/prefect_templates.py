"""Prefect's own rendering and validation of user templates, from the pinned
prefect in the venv. Reads {"context": {name: [kind, object]}, "render": [...],
"validate": [...]} on stdin; the objects are read into Prefect's models as its
actions read them from the API. Prints {"render": [{"ok"} | {"error"}],
"validate": [null | {"line", "message"}]}."""

import json
import sys

from prefect.server.events.jinja_filters import all_filters
from prefect.server.events.schemas.automations import Automation
from prefect.server.events.schemas.events import ReceivedEvent
from prefect.server.events.schemas.labelling import LabelDiver
from prefect.server.schemas.core import ConcurrencyLimitV2, Flow, TaskRun, WorkPool
from prefect.server.schemas.responses import (
    DeploymentResponse,
    FlowRunResponse,
    WorkQueueWithStatus,
)
from prefect.server.utilities.user_templates import (
    TemplateRenderError,
    register_user_template_filters,
    render_user_template_sync,
    validate_user_template,
)

register_user_template_filters(all_filters)

models = {
    "flow_run": FlowRunResponse,
    "deployment": DeploymentResponse,
    "flow": Flow,
    "task_run": TaskRun,
    "work_pool": WorkPool,
    "work_queue": WorkQueueWithStatus,
    "concurrency_limit": ConcurrencyLimitV2,
    "automation": Automation,
    "event": ReceivedEvent,
}

request = json.load(sys.stdin)
context = {}
for name, (kind, obj) in request["context"].items():
    if kind == "labels":
        context[name] = LabelDiver(obj)
    elif kind == "none":
        context[name] = None
    else:
        context[name] = models[kind].model_validate(obj)

rendered = []
for template in request["render"]:
    try:
        rendered.append({"ok": render_user_template_sync(template, context)})
    except TemplateRenderError as e:
        rendered.append({"error": repr(e.error)})

validated = []
for template in request["validate"]:
    try:
        validate_user_template(template)
        validated.append(None)
    except Exception as e:
        validated.append({"line": e.lineno, "message": e.message})

print(json.dumps({"render": rendered, "validate": validated}))

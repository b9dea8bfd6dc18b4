"""Sends each case through Prefect's own block (from the pinned prefect in
the venv): a SlackWebhook or CustomWebhookNotificationBlock notified with
the subject and body, or a Webhook called with the payload. Reads {"target",
"cases": [{"kind", "data", "subject", "body", "payload"}]} on stdin; Slack's
host is sent to target. Prints one {"ok": true} or {"error": reason} per
case, worded as Prefect's actions word it."""

import asyncio
import json
import sys

import requests

from prefect.blocks.abstract import NotificationError
from prefect.blocks.notifications import CustomWebhookNotificationBlock, SlackWebhook
from prefect.blocks.webhook import Webhook

request = json.load(sys.stdin)
_send = requests.request


def to_target(method, url, **kwargs):
    return _send(method, url.replace("https://hooks.slack.com", request["target"]), **kwargs)


requests.request = to_target

kinds = {"slack": SlackWebhook, "custom": CustomWebhookNotificationBlock, "webhook": Webhook}


async def send(case):
    try:
        block = kinds[case["kind"]].model_validate(case["data"])
    except Exception as e:
        return {"error": f"The notification block was invalid: {e!r}"}
    if case["kind"] == "webhook":
        try:
            response = await block.call(payload=case["payload"])
        except Exception as e:
            return {"error": f"Webhook call failed: {e!r}"}
        return {"ok": True, "status_code": response.status_code}
    with block.raise_on_failure():
        try:
            await block.notify(subject=case["subject"], body=case["body"])
        except NotificationError:
            return {"error": "Notification failed"}
        except Exception as e:
            return {"exception": repr(e)}
    return {"ok": True}


async def main():
    return [await send(case) for case in request["cases"]]


print(json.dumps(asyncio.run(main())))

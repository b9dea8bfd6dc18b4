"""Save a Webhook block pointing at a local URL (test_automations).

usage: webhook_block.py NAME URL
"""

import sys

from prefect.blocks.webhook import Webhook

from _compat import emit


def main(name: str, url: str) -> None:
    block_id = Webhook(method="POST", url=url, headers={"X-Compat": "1"}, allow_private_urls=True).save(name, overwrite=True)
    emit({"id": str(block_id)})


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

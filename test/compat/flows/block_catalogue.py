"""The block catalogue a fresh server holds, as the real client sees it, and a save against it.

usage: block_catalogue.py PREFIX

For every block class the client has (prefect's notification, system, webhook and filesystem
blocks), the server must hold its type, which the client would not update, and its schema (the
client's checksum and version). Then a Secret and a Slack webhook are saved; the counts of
types and schemas before and after show whether the save registered anything anew.
"""

import json
import sys
from pathlib import Path

import prefect
import prefect.blocks.notifications  # noqa: F401  the blocks prefect's server registers
import prefect.blocks.webhook  # noqa: F401
import prefect.filesystems  # noqa: F401
from prefect.blocks.core import Block, _should_update_block_type
from prefect.blocks.notifications import SlackWebhook
from prefect.blocks.system import Secret
from prefect.client.orchestration import get_client
from prefect.exceptions import ObjectNotFound
from prefect.utilities.dispatch import get_registry_for_type

from _compat import emit


def counts(client) -> dict:
    return {"types": len(client.read_block_types()), "schemas": len(client.read_block_schemas())}


def main(prefix: str) -> None:
    registry = get_registry_for_type(Block) or {}
    missing, would_update, capabilities = [], [], {}
    with get_client(sync_client=True) as client:
        before = counts(client)
        for slug, cls in registry.items():
            try:
                server_type = client.read_block_type_by_slug(slug)
            except ObjectNotFound:
                missing.append(f"type {slug}")
                continue
            if _should_update_block_type(cls._to_block_type(), server_type):
                would_update.append(slug)
            checksum, version = cls._calculate_schema_checksum(), cls.get_block_schema_version()
            try:
                bs = client.read_block_schema_by_checksum(checksum, version=version)
            except ObjectNotFound:
                missing.append(f"schema {slug} {checksum} {version}")
                continue
            capabilities[slug] = sorted(bs.capabilities) == sorted(cls.get_block_capabilities())
        protected = {s: client.read_block_type_by_slug(s).is_protected for s in ("secret", "webhook", "local-file-system")}

    # The integration blocks prefect's server registers from its bundled data.
    data = Path(prefect.__file__).parent / "server" / "collection_blocks_data.json"
    collection_slugs = [slug for c in json.loads(data.read_text())["collections"].values() for slug in c["block_types"]]
    with get_client(sync_client=True) as client:
        listed = {t.slug for t in client.read_block_types()}

    Secret(value="s3cr3t").save(f"{prefix}-secret")
    SlackWebhook(url="https://hooks.slack.com/services/compat").save(f"{prefix}-slack")
    loaded = Secret.load(f"{prefix}-secret").get()
    with get_client(sync_client=True) as client:
        after = counts(client)

    emit({
        "registry": sorted(registry), "missing": missing, "would_update": would_update,
        "capabilities_match": capabilities, "protected": protected,
        "collections_missing": sorted(set(collection_slugs) - listed),
        "before": before, "after": after, "loaded": loaded,
    })


if __name__ == "__main__":
    main(sys.argv[1])

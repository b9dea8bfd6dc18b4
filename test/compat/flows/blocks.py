"""Blocks with the real client: Secret save/load, overwrite, nested blocks, templating.

usage: blocks.py PREFIX   (names of its own, so the script can share a server)
"""

import asyncio
import sys
from typing import Optional

from pydantic import SecretStr

from prefect.blocks.core import Block
from prefect.blocks.system import Secret
from prefect.client.orchestration import get_client
from prefect.utilities.templating import resolve_block_document_references

from _compat import emit


class CompatInner(Block):
    token: SecretStr
    count: int = 3


class CompatOuter(Block):
    inner: CompatInner
    label: str = "x"
    maybe: Optional[CompatInner] = None


async def resolve(template: dict) -> dict:
    async with get_client() as client:
        return await resolve_block_document_references(template, client=client)


def main(prefix: str) -> None:
    name = f"{prefix}-secret"
    Secret(value="s3cr3t").save(name)
    loaded = Secret.load(name).get()

    # Saving under a taken name fails unless overwriting.
    try:
        Secret(value="other").save(name)
        duplicate_error = None
    except ValueError as exc:
        duplicate_error = str(exc)
    Secret(value="r0tated").save(name, overwrite=True)
    rotated = Secret.load(name).get()

    # A JSON value, and what an API read without secrets shows.
    json_name = f"{prefix}-json"
    Secret(value={"user": "u", "password": "p"}).save(json_name)
    json_loaded = Secret.load(json_name).get()
    with get_client(sync_client=True) as client:
        hidden = client.read_block_document_by_name(name=name, block_type_slug="secret", include_secrets=False)
        listed = [d.name for d in client.read_block_documents()]
        schema = client.read_block_schema_by_checksum(Secret._calculate_schema_checksum(), version=Secret.get_block_schema_version())

    # Nested blocks: the inner one saved on its own (a reference), and inline.
    inner = CompatInner(token="tok", count=5)
    inner.save(f"{prefix}-inner")
    CompatOuter(inner=inner, label="outer", maybe=CompatInner(token="inline")).save(f"{prefix}-outer")
    outer = CompatOuter.load(f"{prefix}-outer")
    slug = CompatOuter.get_block_type_slug()
    generic = Block.load(f"{slug}/{prefix}-outer")

    # prefect.yaml templating: {{ prefect.blocks.<slug>.<name> }}
    resolved = asyncio.run(resolve({
        "secret": "{{ prefect.blocks.secret." + name + " }}",
        "label": "{{ prefect.blocks." + slug + "." + prefix + "-outer.label }}",
    }))

    emit({
        "loaded": loaded,
        "duplicate_error": duplicate_error,
        "rotated": rotated,
        "json_loaded": json_loaded,
        "hidden_value": hidden.data.get("value"),
        "listed": listed,
        "schema_checksum": schema.checksum,
        "outer": {
            "label": outer.label,
            "token": outer.inner.token.get_secret_value(),
            "count": outer.inner.count,
            "maybe_token": outer.maybe.token.get_secret_value() if outer.maybe else None,
            "generic_class": type(generic).__name__,
        },
        "resolved": resolved,
    })


if __name__ == "__main__":
    main(sys.argv[1])

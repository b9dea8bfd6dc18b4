"""Prints, as JSON, the block types and schemas the pinned prefect's server registers at start.

Run by hack/catalogue-assets.sh with the venv's python (the pinned prefect installed). The
server's block registration (prefect/server/models/block_registration.py) has three steps, and
the output keeps them apart, each a list of {"block_type": ..., "block_schema": ...} in the
order prefect registers them:

  protected    the system blocks it installs as protected, overriding what is stored
               (also what POST /block_types/install_system_block_types installs)
  registry     every Block class in the client's block registry once the server is loaded
  collections  the integration blocks of its collection_blocks_data.json

Everything comes from prefect itself: the classes' own block types and schemas (so their
checksums are the client's), normalised by prefect's own server models. Nothing here is
committed; the server reads the output from PREFECT_SERVER_CATALOGUE_DIRECTORY.
"""

import ast
import inspect
import json
import sys
import textwrap
import uuid

import prefect
import prefect.server.api.server  # noqa: F401  what `prefect server start` loads: the registry it sees
from prefect.blocks.core import Block
from prefect.server import schemas
from prefect.server.models import block_registration
from prefect.utilities.dispatch import get_registry_for_type

TYPE_KEYS = {"name", "slug", "logo_url", "documentation_url", "description", "code_example"}
SCHEMA_KEYS = {"fields", "checksum", "capabilities", "version"}


def protected_classes() -> list[type[Block]]:
    """The classes listed in _install_protected_system_blocks, read from its source.

    prefect keeps the list inside the function; reading it from there (instead of naming the
    classes here) means a prefect that changes it changes the output, and one that restructures
    the function fails here rather than silently."""
    fn = block_registration._install_protected_system_blocks
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    for node in ast.walk(tree):
        if isinstance(node, ast.List) and node.elts and all(isinstance(e, ast.Name) for e in node.elts):
            found = [getattr(block_registration, e.id, None) for e in node.elts]
            if all(inspect.isclass(c) and issubclass(c, Block) for c in found):
                return found
    sys.exit("block-catalogue.py: no list of Block classes in _install_protected_system_blocks")


def entry(block_type: dict, block_schema: dict) -> dict:
    # Prefect's server models fill the defaults (version, capabilities) as its registration does.
    bt = schemas.core.BlockType.model_validate(block_type).model_dump(mode="json", include=TYPE_KEYS)
    bs = schemas.core.BlockSchema.model_validate({**block_schema, "block_type_id": uuid.uuid4()})
    return {"block_type": bt, "block_schema": bs.model_dump(mode="json", include=SCHEMA_KEYS)}


def class_entry(cls: type[Block]) -> dict:
    out = entry(cls._to_block_type().model_dump(mode="json"), cls._to_block_schema().model_dump(mode="json"))
    # A class's capabilities are a frozenset, listed in an order that changes from one python
    # process to the next; sorted, the output is the same on every run.
    out["block_schema"]["capabilities"].sort()
    return out


def collection_entries() -> list[dict]:
    with open(block_registration.COLLECTIONS_BLOCKS_DATA_PATH) as f:
        data = json.load(f)
    out = []
    for collection in data["collections"].values():
        for block_type in collection["block_types"].values():
            block_type = dict(block_type)
            block_schema = block_type.pop("block_schema", None)
            if not block_schema:
                sys.exit(f"block-catalogue.py: no block schema for {block_type.get('slug')!r}")
            out.append(entry(block_type, block_schema))
    return out


def main() -> None:
    registry = get_registry_for_type(Block) or {}
    catalogue = {
        "prefect_version": prefect.__version__,
        "protected": [class_entry(c) for c in protected_classes()],
        "registry": [class_entry(c) for c in registry.values()],
        "collections": collection_entries(),
    }
    json.dump(catalogue, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

"""Writes block_goldens.json: block schema checksums and secret obfuscation as
the pinned Prefect client computes them, for the Go tests to match.

    ~/.cache/prefectgo/venv-3.9.1/bin/python server/schema/testdata/gen_block_goldens.py
"""

import json
from pathlib import Path
from typing import Optional, Union

from pydantic import SecretStr

from prefect.blocks.core import Block
from prefect.blocks.system import Secret
from prefect.utilities.collections import dict_to_flatdict, flatdict_to_dict
from prefect.utilities.names import obfuscate


class Inner(Block):
    _block_type_name = "Inner Thing"
    token: SecretStr
    count: int = 3
    ratio: float = 1.5


class Other(Block):
    x: str = "h\u00e9llo \u2603 \U0001F600"


class Outer(Block):
    inner: Inner
    either: Optional[Union[Inner, Other]] = None
    label: str = "x"
    password: SecretStr = SecretStr("p")
    tags: dict[str, SecretStr] = {}


checksums = []
for cls in (Secret, Inner, Other, Outer):
    raw = json.dumps(cls.model_json_schema())
    checksums.append({"name": cls.__name__, "fields": raw,
                      "checksum": cls._calculate_schema_checksum()})
# Hand-written fields: numbers in several spellings, nested secret_fields (a
# list hides them from remove_nested_keys), definitions of several kinds.
for i, raw in enumerate([
    '{"a": 1, "b": 1.0, "c": 1.50, "d": 1e5, "e": 1E-7, "f": -0.0, "g": 12345678901234567890, '
    '"h": 0.1, "i": 1e16, "j": 123456789012345.6, "k": 1e-4, "l": -2.5e-300, "m": 1e22, "n": -0}',
    '{"title": "T", "secret_fields": ["x"], "properties": {"p": {"secret_fields": [1]}}, '
    '"anyOf": [{"secret_fields": ["kept"]}], "s": "quote\\" back\\\\ nl\\n tab\\t ctl\\u0001 del\\u007f \\u00e9 \\ud83d\\ude00"}',
    '{"properties": {"a": {"$ref": "#/definitions/A"}, "b": {"$ref": "#/definitions/B"}}, '
    '"definitions": {"A": {"type": "object", "properties": {"c": {"$ref": "#/definitions/C"}}}, '
    '"B": {"block_type_slug": "b", "properties": {"d": {"$ref": "#/definitions/D"}}}, '
    '"C": {"type": "string"}, "D": {"type": "integer"}, "E": {"unused": true}, "F": {}}}',
    '{"properties": {"a": {"$ref": "#/definitions/Empty"}}, "definitions": {"Empty": {}}}',
    '{"properties": {"a": {"$ref": "#/definitions/A"}}, "definitions": {"A": {"block_type_slug": "a"}}}',
    '{"definitions": {}, "x": []}',
    '{}',
]):
    checksums.append({"name": f"handwritten-{i}", "fields": raw,
                      "checksum": Block._calculate_schema_checksum(json.loads(raw))})


def obfuscated(data, secret_fields):
    # The loop of prefect.server.schemas.core.BlockDocument.from_orm_model.
    flat_data = dict_to_flatdict(data)
    for secret_field in secret_fields:
        secret_key = tuple(secret_field.split("."))
        if flat_data.get(secret_key) is not None:
            flat_data[secret_key] = obfuscate(flat_data[secret_key])
        elif "*" in secret_key:
            wildcard_index = secret_key.index("*")
            for data_key in flat_data.keys():
                if secret_key[0:wildcard_index] == data_key[0:wildcard_index]:
                    flat_data[data_key] = obfuscate(flat_data[data_key])
    return flatdict_to_dict(flat_data)


obfuscation = []
for data, secret_fields in [
    ({"value": "s3cr3t"}, ["value", "value"]),
    ({"value": {"password": "s3cr3t", "username": "johndoe"}}, ["value"]),
    ({"value": None, "other": 1}, ["value"]),
    ({"inner": {"token": "t", "count": 3}, "password": 7, "label": "x"}, ["inner.token", "password", "missing"]),
    ({"tags": {"a": "1", "b": {"c": None, "d": []}}, "tagsx": "no"}, ["tags.*"]),
    ({"tags": {}, "deep": {"k": {"x": 1}}}, ["tags.*", "deep.*.x"]),
    ({"tags": "flat"}, ["tags.*"]),
    ({"a": {"*": "literal"}}, ["a.*"]),
]:
    obfuscation.append({"data": data, "secret_fields": secret_fields,
                        "want": obfuscated(data, secret_fields)})

out = Path(__file__).with_name("block_goldens.json")
out.write_text(json.dumps({"checksums": checksums, "obfuscation": obfuscation}, indent=1) + "\n")
print("wrote", out)

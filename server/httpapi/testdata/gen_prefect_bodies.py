"""Prints, as JSON: for every route of the pinned Prefect server that
takes a JSON body, whether FastAPI embeds several Body(...) parameters in it,
and the keys each object of the body declares and whether it forbids others
(pydantic's extra="forbid", additionalProperties: false in the OpenAPI
schema). TestBodyKeysMatchPrefect checks the Go request types against it.

    PREFECT_HOME=$(mktemp -d) ~/.cache/prefectgo/venv-3.9.1/bin/python server/httpapi/testdata/gen_prefect_bodies.py

The test runs it with the pinned prefect's Python (PREFECTGO_TEST_PYTHON, which
`make test-go` sets), so what it reads is never committed.

A node is {"x": forbids extra keys, "p": {key: node}} for an object,
{"i": node} for a list, and {} for anything free-form or scalar. Unions merge
their object alternatives; a reference back to an enclosing model is
{"ref": name}.
"""

import json
import sys

from prefect.server.api.server import create_api_app

spec = create_api_app().openapi()
models = spec["components"]["schemas"]


def node(schema, enclosing=()):
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in enclosing:
            return {"ref": name}
        return node(models[name], enclosing + (name,))
    for union in ("anyOf", "oneOf", "allOf"):
        if union in schema:
            alts = [node(a, enclosing) for a in schema[union]]
            objects = [a for a in alts if a and "p" in a]
            lists = [a for a in alts if a and "i" in a]
            if objects:
                keys = {}
                for o in objects:
                    for k, v in o["p"].items():
                        keys.setdefault(k, v)
                return {"x": all(o["x"] for o in objects), "p": keys}
            return lists[0] if lists else {}
    if schema.get("type") == "null":
        return None
    if schema.get("type") == "array" and "items" in schema:
        return {"i": node(schema["items"], enclosing) or {}}
    if "properties" in schema:
        return {
            "x": schema.get("additionalProperties") is False,
            "p": {k: node(v, enclosing) or {} for k, v in schema["properties"].items()},
        }
    return {}


lines = []
for path, ops in sorted(spec["paths"].items()):
    for method, op in sorted(ops.items()):
        body = op.get("requestBody", {}).get("content", {}).get("application/json")
        if not body:
            continue
        ref = body["schema"].get("$ref", "")
        entry = {"embedded": ref.rsplit("/", 1)[-1].startswith("Body_"), "body": node(body["schema"]) or {}}
        lines.append(json.dumps(f"{method.upper()} {path}") + ": " + json.dumps(entry, sort_keys=True))

sys.stdout.write("{\n" + ",\n".join(lines) + "\n}\n")

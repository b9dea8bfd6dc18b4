"""Variables through `prefect.variables.Variable` (test_deployments).

usage: variables.py PREFIX

Reads a variable the test set with the CLI (PREFIX-cli), then sets, overwrites, reads and
unsets variables of its own.
"""

import sys

from prefect.variables import Variable

from _compat import emit


def main(prefix: str) -> None:
    out: dict = {}
    out["from_cli"] = Variable.get(f"{prefix}-cli")
    out["missing"] = Variable.get(f"{prefix}-missing", default="fallback")

    name = f"{prefix}-py"
    created = Variable.set(name, {"answer": 42, "nested": [1, "two"]}, tags=["compat"])
    out["created"] = {"name": created.name, "value": created.value, "tags": list(created.tags)}
    out["read"] = Variable.get(name)

    try:
        Variable.set(name, "again")
        out["duplicate_error"] = None
    except ValueError as exc:
        out["duplicate_error"] = str(exc)

    updated = Variable.set(name, "overwritten", overwrite=True)
    out["updated"] = updated.value
    out["read_after_update"] = Variable.get(name)

    Variable.set(f"{prefix}-number", 7)
    out["number"] = Variable.get(f"{prefix}-number")

    out["unset"] = Variable.unset(name)
    out["read_after_unset"] = Variable.get(name)
    out["unset_missing"] = Variable.unset(name)
    emit(out)


if __name__ == "__main__":
    main(sys.argv[1])

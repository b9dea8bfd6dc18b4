"""Prefect's own answer to POST /ui/schemas/validate for each case on stdin
(a JSON list of {"schema", "values"}): its preprocess_schema, validate and
build_error_obj, from the pinned prefect in the venv. Printed as a JSON list."""

import json
import sys

from prefect.utilities.schema_tools.validation import (
    build_error_obj,
    preprocess_schema,
    validate,
)

answers = []
for case in json.load(sys.stdin):
    schema = preprocess_schema(case["schema"])
    answers.append(build_error_obj(validate(case["values"], schema, preprocess=False)))
print(json.dumps(answers))

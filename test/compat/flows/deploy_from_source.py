"""Create a work-pool deployment with the Python API, without a prefect.yaml (test_deployments).

usage: deploy_from_source.py PROJECT_DIR ENTRYPOINT DEPLOYMENT_NAME POOL [QUEUE]

`flow.from_source(<local dir>, <entrypoint>).deploy(...)` stores the local path as a
`set_working_directory` pull step, like `prefect deploy` does.
"""

import sys

from prefect import flow

from _compat import emit


def main(project: str, entrypoint: str, name: str, pool: str, queue: str | None) -> None:
    loaded = flow.from_source(source=project, entrypoint=entrypoint)
    deployment_id = loaded.deploy(
        name=name,
        work_pool_name=pool,
        work_queue_name=queue,
        build=False,
        push=False,
        print_next_steps=False,
    )
    emit({"deployment_id": str(deployment_id)})


if __name__ == "__main__":
    main(*sys.argv[1:5], sys.argv[5] if len(sys.argv) > 5 else None)

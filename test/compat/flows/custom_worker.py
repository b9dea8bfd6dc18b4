"""A worker of a type the server's catalogue does not list: it creates its pool and heartbeats.

usage: custom_worker.py POOL
"""

import asyncio
import sys

from prefect.client.orchestration import get_client
from prefect.workers.base import BaseJobConfiguration, BaseWorker, BaseWorkerResult

from _compat import emit


class CompatWorker(BaseWorker):
    type = "compat-custom"
    job_configuration = BaseJobConfiguration
    _description = "A worker type of the compat suite's own."

    async def run(self, flow_run, configuration, task_status=None):
        return BaseWorkerResult(identifier="compat", status_code=0)


async def main(pool: str) -> None:
    async with CompatWorker(work_pool_name=pool, name="compat-custom-worker") as worker:
        await worker.sync_with_backend()
    async with get_client() as client:
        wp = await client.read_work_pool(pool)
        workers = await client.read_workers_for_work_pool(pool)
    emit({
        "type": wp.type,
        "template_is_default": wp.base_job_template == CompatWorker.get_default_base_job_template(),
        "workers": [w.name for w in workers],
    })


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))

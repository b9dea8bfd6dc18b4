"""The real-client workload: N small flows of 3 tasks each, run one after the
other by the prefect package against PREFECT_API_URL. After each flow it
prints BENCH_FLOW {"flows": done, "seconds": ...}, timed from the first
flow's start (interpreter start and import excluded), so a run stopped by the
harness's time cap still reports what it did.

Flow-run heartbeats are off: with them on (every 180 s by default), each
flow's end joins the heartbeat thread, which sleeps in 1 s steps, so every
flow costs about a second on the client whatever the server."""

import json
import sys
import time

from prefect import flow, task
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings


@task
def add(x: int, y: int) -> int:
    return x + y


@flow
def small(n: int) -> int:
    return add(add(add(n, 1), 2), 3)


if __name__ == "__main__":
    count = int(sys.argv[1])
    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        start = time.perf_counter()
        for i in range(count):
            assert small(i) == i + 6
            done = {"flows": i + 1, "seconds": time.perf_counter() - start}
            print("BENCH_FLOW " + json.dumps(done), flush=True)

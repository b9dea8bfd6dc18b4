"""Serve one flow with `flow.serve()` until signalled (test_deployments).

usage: serve_flow.py FLOW_NAME DEPLOYMENT_NAME [--sleep SECONDS] [--interval SECONDS] [--cron EXPR]
                    [--suspend]

The flow sleeps for --sleep seconds (0 by default) and returns its parameters. With --suspend it
first suspends itself (its process exits; resumed, the run is scheduled again and runs past it). Scheduling is
the server's job: with --interval or --cron the deployment gets a schedule, and the runner only
executes what the server's scheduler creates. Run with PREFECT_RUNNER_POLL_FREQUENCY=1 so
runs are picked up quickly.
"""

import argparse
import time

from prefect import flow
from prefect.flow_runs import suspend_flow_run


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("flow_name")
    p.add_argument("deployment_name")
    p.add_argument("--sleep", type=float, default=0.0)
    p.add_argument("--interval", type=float, default=None)
    p.add_argument("--cron", default=None)
    p.add_argument("--suspend", action="store_true")
    args = p.parse_args()

    @flow(name=args.flow_name)
    def served(sleep: float = args.sleep) -> dict:
        if args.suspend:
            suspend_flow_run(timeout=300)
        if sleep:
            time.sleep(sleep)
        return {"slept": sleep}

    kw = {}
    if args.interval is not None:
        kw["interval"] = args.interval
    if args.cron is not None:
        kw["cron"] = args.cron
    served.serve(name=args.deployment_name, print_starting_message=True, **kw)


if __name__ == "__main__":
    main()

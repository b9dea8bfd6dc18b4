"""A flow that pauses in process until the test resumes it (test_pause).

usage: pause_flow.py plain|input NAME

plain: `pause_flow_run()`, then returns "resumed". input: `pause_flow_run(wait_for_input=...)`,
then returns what the resume sent. Prints the flow run's id first (PAUSE_FLOW_RUN <id>) so the
test can find it, and COMPAT_RESULT with the flow's return value at the end.
"""

import sys

from prefect import flow, pause_flow_run
from prefect.context import get_run_context
from prefect.input import RunInput

from _compat import emit


class Answer(RunInput):
    name: str
    n: int


@flow
def pausing(mode: str) -> str:
    print("PAUSE_FLOW_RUN " + str(get_run_context().flow_run.id), flush=True)
    if mode == "input":
        answer = pause_flow_run(wait_for_input=Answer, timeout=120, poll_interval=1)
        return f"{answer.name}-{answer.n}"
    pause_flow_run(timeout=120, poll_interval=1)
    return "resumed"


if __name__ == "__main__":
    emit({"result": pausing.with_options(flow_run_name=sys.argv[2])(sys.argv[1])})

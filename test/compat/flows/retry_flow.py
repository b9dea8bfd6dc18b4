"""A flow with retries=2 that fails twice, then completes (test c)."""

from prefect import flow, runtime

from _compat import emit, read_flow_run, read_states

attempts = {"n": 0}


@flow(name="compat-flow-retries", retries=2, retry_delay_seconds=0)
def flaky() -> str:
    attempts["n"] += 1
    attempts["flow_run_id"] = str(runtime.flow_run.id)
    if attempts["n"] < 3:
        raise ValueError(f"planned failure {attempts['n']}")
    return "third time lucky"


if __name__ == "__main__":
    value = flaky()
    fr_id = attempts["flow_run_id"]
    emit({
        "value": value,
        "attempts": attempts["n"],
        "flow_run": read_flow_run(fr_id),
        "states": read_states(fr_id),
    })

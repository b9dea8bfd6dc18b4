"""A flow that raises (test b): the caller sees the exception, the run ends FAILED."""

from prefect import flow, runtime

from _compat import emit, read_flow_run

seen = {}


class CompatBoom(RuntimeError):
    pass


@flow(name="compat-failing")
def failing() -> None:
    seen["flow_run_id"] = str(runtime.flow_run.id)
    raise CompatBoom("boom from compat-failing")


if __name__ == "__main__":
    try:
        failing()
    except CompatBoom as exc:
        caught = {"type": type(exc).__name__, "message": str(exc)}
    else:
        caught = None
    emit({"caught": caught, "flow_run": read_flow_run(seen["flow_run_id"])})

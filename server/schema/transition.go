package schema

// FlowRunTransition is a state proposed for an existing flow run, as the
// runs service takes it (server/runs is the one place that changes a run's
// state). It is not a wire type: the API builds it from a SetStateRequest,
// the background services build their own.
type FlowRunTransition struct {
	State StateCreate
	// Force skips the core rules, as set_state's force=true does.
	Force bool
	// ClientVersion is the client's version from its User-Agent, nil when
	// unknown; some rules depend on it.
	ClientVersion *[3]int
	// MarkLate proposes Late through Prefect's MarkLateRunsPolicy (State is
	// then ignored): only a run still Scheduled and not yet Late moves, and
	// it keeps its scheduled time.
	MarkLate bool
	// Skip, when set, is asked about the run as read inside the write
	// transaction; true leaves the run as it is (it moved on meanwhile).
	Skip func(run FlowRun) bool
	// Resume resumes a paused run (State is then ignored): Running, or
	// Scheduled "Resuming" for a pause that gave the run back to its
	// deployment; a run not paused is left as it is (ABORT).
	Resume bool
	// RunInput is stored with the state, when one is written: the input a
	// resume brought to a run that paused waiting for one.
	RunInput *FlowRunInput
}

// TaskRunTransition is a state proposed for an existing task run.
type TaskRunTransition struct {
	State StateCreate
	Force bool
	// Skip, when set, is asked about the task run as read inside the write
	// transaction; true leaves it as it is.
	Skip func(run TaskRun) bool
}

// TransitionResult is what a proposed transition came to: set_state's
// response body, and whether a new state was written (201 rather than 200).
type TransitionResult struct {
	OrchestrationResult
	Written bool
}

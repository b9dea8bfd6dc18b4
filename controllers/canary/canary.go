// Package canary takes one flow run through a Prefect server's API the way
// a flow does (created, Running, a log line, an event, Completed), reads it
// back and deletes it: proof that runs work, which a health probe is not.
// It knows nothing of Kubernetes; the PrefectServer reconciler decides when
// to run it and reports the Result.
package canary

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/controllers/prefectapi"
)

// FlowName is the flow every canary run belongs to. The flow stays on the
// server (one row); its runs are deleted.
const FlowName = "prefectgo-canary"

// Step names one call of the canary; a failed Result names the step, which
// becomes the RunsHealthy reason.
type Step string

// The steps, in order.
const (
	StepCreateFlow    Step = "CreateFlow"
	StepCreateFlowRun Step = "CreateFlowRun"
	StepSetRunning    Step = "SetRunning"
	StepWriteLog      Step = "WriteLog"
	StepEmitEvent     Step = "EmitEvent"
	StepSetCompleted  Step = "SetCompleted"
	StepReadBack      Step = "ReadBack"
	StepDeleteFlowRun Step = "DeleteFlowRun"
)

// Reasons of a Result besides its failing step.
const (
	// ReasonPassed: every step succeeded.
	ReasonPassed = "CanaryPassed"
	// ReasonUnauthorized: the server refused the credentials, at any step.
	ReasonUnauthorized = "Unauthorized"
)

// Result is the outcome of one canary.
type Result struct {
	// Failed is the step that failed; empty when the canary passed.
	Failed Step
	// Err is why it failed. It carries the server's answer, never the
	// credentials.
	Err error
	// Duration is how long the steps took.
	Duration time.Duration
}

// Passed says every step succeeded.
func (r Result) Passed() bool { return r.Failed == "" }

// Reason is the RunsHealthy reason: CanaryPassed, Unauthorized, or the step.
func (r Result) Reason() string {
	switch {
	case r.Passed():
		return ReasonPassed
	case prefectapi.IsUnauthorized(r.Err):
		return ReasonUnauthorized
	}
	return string(r.Failed)
}

// Message says what happened, in one line.
func (r Result) Message() string {
	if r.Passed() {
		return "a flow run of " + FlowName + " went from Pending through Running to Completed, " +
			"with a log line and an event, was read back Completed and deleted"
	}
	return fmt.Sprintf("the canary failed at step %s: %v", r.Failed, r.Err)
}

// Run runs the steps in order, all within timeout, and stops at the first
// that fails. A run left behind by a failed step is deleted on a best-effort
// basis, within timeout again.
func Run(ctx context.Context, api *prefectapi.Client, timeout time.Duration) Result {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var runID string
	failed, err := steps(ctx, api, &runID)
	res := Result{Failed: failed, Err: err, Duration: time.Since(start)}
	if !res.Passed() && runID != "" && failed != StepDeleteFlowRun {
		cleanup, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		defer cancel()
		_ = api.DeleteFlowRun(cleanup, runID)
	}
	return res
}

// steps does the work of Run; runID is set once the run exists.
func steps(ctx context.Context, api *prefectapi.Client, runID *string) (Step, error) {
	flow, err := api.CreateFlow(ctx, FlowName)
	if err != nil {
		return StepCreateFlow, err
	}
	run, err := api.CreateFlowRun(ctx, prefectapi.FlowRunCreate{
		FlowID: flow.ID, Name: "canary-" + uuid.NewString()[:8], Tags: []string{FlowName},
		State: &prefectapi.State{Type: "PENDING", Name: "Pending"},
	})
	if err != nil {
		return StepCreateFlowRun, err
	}
	*runID = run.ID

	if err := setState(ctx, api, run.ID, prefectapi.State{Type: "RUNNING", Name: "Running"}); err != nil {
		return StepSetRunning, err
	}
	now := time.Now().UTC()
	err = api.CreateLogs(ctx, []prefectapi.Log{{
		Name: "prefectgo.canary", Level: 20, Timestamp: now, FlowRunID: run.ID,
		Message: "canary flow run of the prefectgo operator",
	}})
	if err != nil {
		return StepWriteLog, err
	}
	err = api.EmitEvents(ctx, []prefectapi.Event{{
		ID: uuid.NewString(), Occurred: now, Event: "prefectgo.canary.running",
		Resource: map[string]string{"prefect.resource.id": "prefect.flow-run." + run.ID, "prefect.resource.name": run.Name},
		Related: []map[string]string{{
			"prefect.resource.id": "prefect.flow." + flow.ID, "prefect.resource.role": "flow", "prefect.resource.name": FlowName,
		}},
	}})
	if err != nil {
		return StepEmitEvent, err
	}
	if err := setState(ctx, api, run.ID, prefectapi.State{Type: "COMPLETED", Name: "Completed"}); err != nil {
		return StepSetCompleted, err
	}

	got, err := api.ReadFlowRun(ctx, run.ID)
	if err == nil && got.StateType != "COMPLETED" {
		err = fmt.Errorf("flow run %s reads back as %q, not COMPLETED", run.ID, got.StateType)
	}
	if err != nil {
		return StepReadBack, err
	}
	if err := api.DeleteFlowRun(ctx, run.ID); err != nil {
		return StepDeleteFlowRun, err
	}
	return "", nil
}

// setState proposes a state and requires the rules to accept it.
func setState(ctx context.Context, api *prefectapi.Client, id string, s prefectapi.State) error {
	res, err := api.SetFlowRunState(ctx, id, s)
	if err != nil {
		return err
	}
	if res.Status != "ACCEPT" {
		reason := res.Details.Reason
		if reason == "" {
			reason = "no reason given"
		}
		return errors.New("the server answered " + res.Status + " to " + s.Type + ": " + reason)
	}
	return nil
}

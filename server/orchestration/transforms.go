package orchestration

import (
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

// runView points at the bookkeeping fields flow and task runs share, so the
// common transforms are written once.
type runView struct {
	stateType              **schema.StateType
	stateName              **string
	stateID                **uuid.UUID
	state                  **schema.State
	startTime              **time.Time
	endTime                **time.Time
	totalRunTime           *float64
	expectedStartTime      **time.Time
	nextScheduledStartTime **time.Time
}

func flowRunView(r *schema.FlowRun) runView {
	return runView{&r.StateType, &r.StateName, &r.StateID, &r.State, &r.StartTime, &r.EndTime,
		&r.TotalRunTime, &r.ExpectedStartTime, &r.NextScheduledStartTime}
}

func taskRunView(r *schema.TaskRun) runView {
	return runView{&r.StateType, &r.StateName, &r.StateID, &r.State, &r.StartTime, &r.EndTime,
		&r.TotalRunTime, &r.ExpectedStartTime, &r.NextScheduledStartTime}
}

// commonTransforms is Prefect's COMMON_GLOBAL_TRANSFORMS, bar
// UpdateStateDetails which needs the run's kind. p is the state about to be
// written and in the run's current state (nil for a new run).
func commonTransforms(v runView, in, p *schema.State) {
	// SetRunStateType, SetRunStateName, SetRunStateTimestamp (the timestamp
	// lives on Run.State) and the run's pointer to its new state.
	*v.stateType = ptr(p.Type)
	*v.stateName = ptr(p.Name)
	*v.stateID = ptr(p.ID)
	*v.state = ptr(*p)

	// SetStartTime: the first time the run enters RUNNING.
	if p.Type == schema.StateRunning && *v.startTime == nil {
		*v.startTime = ptr(p.Timestamp)
	}

	// SetEndTime: set on entering a final state (with the start time, for
	// runs that fail before they start), cleared when forced out of one.
	if in != nil && in.Type.Terminal() && !p.Type.Terminal() {
		*v.endTime = nil
	}
	if p.Type.Terminal() && *v.endTime == nil {
		if *v.startTime == nil {
			*v.startTime = ptr(p.Timestamp)
		}
		*v.endTime = ptr(p.Timestamp)
	}

	// IncrementRunTime: time spent in the RUNNING state being left.
	if in != nil && in.Type == schema.StateRunning {
		*v.totalRunTime += p.Timestamp.Sub(in.Timestamp).Seconds()
	}

	// SetExpectedStartTime: the first state's scheduled time, or its
	// timestamp.
	if *v.expectedStartTime == nil {
		if p.Type == schema.StateScheduled {
			*v.expectedStartTime = p.StateDetails.ScheduledTime
		} else {
			*v.expectedStartTime = ptr(p.Timestamp)
		}
	}

	// SetNextScheduledStartTime: tracks the scheduled time while Scheduled.
	if in != nil && in.Type == schema.StateScheduled {
		*v.nextScheduledStartTime = nil
	}
	if p.Type == schema.StateScheduled {
		*v.nextScheduledStartTime = p.StateDetails.ScheduledTime
	}
}

// globalFlowTransforms is Prefect's GlobalFlowPolicy for the state about to
// be written. EnsureFlowRunStateTimestampIsUnique is the store's (it needs
// the state table); UpdateSubflowParentTask is the HTTP layer's, after
// commit.
func globalFlowTransforms(c *flowTx) {
	p := c.proposed
	// UpdateStateDetails.
	p.StateDetails.FlowRunID = ptr(c.run.ID)
	// UpdateSubflowStateDetails: a subflow's states point at the task run
	// that stands for it in the parent flow.
	if c.run.ParentTaskRunID != nil {
		p.StateDetails.TaskRunID = c.run.ParentTaskRunID
	}
	pol := &c.run.EmpiricalPolicy
	// IncrementFlowRunCount: a resumed pause is the same attempt.
	if p.Type == schema.StateRunning && !pol.Resuming {
		c.run.RunCount++
	}
	// RemoveResumingIndicator.
	if p.Type == schema.StateRunning || p.Type.Terminal() {
		pol.Resuming = false
	}
	// Last, so that Run.State carries the final details.
	commonTransforms(flowRunView(&c.run), c.initial, p)
}

// globalTaskTransforms is Prefect's GlobalTaskPolicy for the state about to
// be written.
func globalTaskTransforms(c *taskTx) {
	p := c.proposed
	// UpdateStateDetails.
	p.StateDetails.FlowRunID = c.run.FlowRunID
	p.StateDetails.TaskRunID = ptr(c.run.ID)
	// IncrementTaskRunCount.
	if p.Type == schema.StateRunning {
		c.run.RunCount++
	}
	commonTransforms(taskRunView(&c.run), c.initial, p)
}

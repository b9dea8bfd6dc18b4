package schedules

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

// Window says which runs of a deployment's schedules to make, with the
// semantics of Prefect's models/deployments.py _generate_scheduled_flow_runs:
// dates on or after Start, at most MaxRuns of them per schedule and none
// after End, stopping once there are MinRuns and one at or after
// Start+MinTime.
type Window struct {
	Start, End time.Time
	MinTime    time.Duration
	MinRuns    int
	MaxRuns    int
	// ScheduleCaps lets a schedule's max_scheduled_runs replace MaxRuns (the
	// scheduler service honours it; a request's max_runs does not yield).
	ScheduleCaps bool
}

// Skipped is a schedule no runs were made for, and why.
type Skipped struct {
	ScheduleID uuid.UUID
	Err        error
}

// DeploymentRuns makes the runs of d's active schedules in w, each with its
// proposed Scheduled state and an idempotency key
// "scheduled {deployment_id} {schedule_id} {date}", so inserting them twice
// inserts them once. They are not inserted here. A schedule that does not
// compile, or whose dates cannot be computed within its bounded work, is
// skipped and reported, so one pathological schedule never costs the others.
func DeploymentRuns(ctx context.Context, d schema.Deployment, w Window, now time.Time) ([]schema.FlowRun, []Skipped, error) {
	var runs []schema.FlowRun
	var skipped []Skipped
	for _, sc := range d.Schedules {
		if !sc.Active {
			continue
		}
		compiled, err := Compile(sc.Schedule, "schedule")
		if err != nil {
			skipped = append(skipped, Skipped{sc.ID, fmt.Errorf("the schedule does not compile: %w", err)})
			continue
		}
		n := w.MaxRuns
		if w.ScheduleCaps && sc.MaxScheduledRuns != nil {
			n = *sc.MaxScheduledRuns
		}
		all, err := compiled.Dates(ctx, w.Start, w.End, max(n, 1))
		if err != nil {
			if ctx.Err() != nil {
				return nil, nil, ctx.Err()
			}
			skipped = append(skipped, Skipped{sc.ID, fmt.Errorf("the schedule's dates cannot be computed: %w", err)})
			continue
		}
		var dates []time.Time
		for _, dt := range all {
			dates = append(dates, dt)
			if len(dates) >= w.MinRuns && !dt.Before(w.Start.Add(w.MinTime)) {
				break
			}
		}
		runs = append(runs, scheduledRuns(d, sc, compiled, dates, now)...)
	}
	return runs, skipped, nil
}

// scheduledRuns builds the runs of one schedule, each with its proposed
// Scheduled state (the runs service gives them the bookkeeping of a new run).
func scheduledRuns(d schema.Deployment, sc schema.DeploymentSchedule, compiled Schedule, dates []time.Time, now time.Time) []schema.FlowRun {
	if len(dates) == 0 {
		return nil
	}
	params := schema.MergeObjects(d.Parameters, sc.Parameters)
	tags := append([]string{"auto-scheduled"}, d.Tags...)
	labels := schema.MergeObjects(d.Labels,
		schema.LabelsOf("prefect.flow.id", d.FlowID.String(), "prefect.deployment.id", d.ID.String()))
	display := compiled.ClassName()
	if sc.Slug != nil && *sc.Slug != "" {
		display = *sc.Slug
	}
	kind := "SCHEDULE"
	message := "Flow run scheduled"
	schedID := sc.ID
	depID := d.ID
	out := make([]schema.FlowRun, 0, len(dates))
	for _, date := range dates {
		key := fmt.Sprintf("scheduled %s %s %s", d.ID, sc.ID, compiled.FormatDate(date))
		run := schema.FlowRun{
			ID: uuid.Must(uuid.NewV7()), Name: schema.GenerateSlug(), FlowID: d.FlowID, DeploymentID: &depID,
			DeploymentVersion: d.Version, WorkQueueID: d.WorkQueueID, WorkQueueName: d.WorkQueueName,
			WorkPoolID: d.WorkPoolID, WorkPoolName: d.WorkPoolName, Parameters: params,
			InfrastructureDocumentID: d.InfrastructureDocumentID, IdempotencyKey: &key, Tags: tags, Labels: labels,
			AutoScheduled: true, Context: json.RawMessage(`{}`), JobVariables: json.RawMessage(`{}`),
			EmpiricalPolicy: schema.FlowRunPolicy{PauseKeys: []string{}},
			CreatedBy:       &schema.CreatedBy{ID: &schedID, Type: &kind, DisplayValue: &display},
		}
		at := date.UTC()
		proposal := schema.StateCreate{Type: schema.StateScheduled, Message: &message,
			StateDetails: schema.StateDetails{ScheduledTime: &at}}
		initial := proposal.ToState(now)
		run.State = &initial
		out = append(out, run)
	}
	return out
}

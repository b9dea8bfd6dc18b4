package controllers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/intstr"

	"prefectgo.dev/prefectgo/api/v1alpha1"
	"prefectgo.dev/prefectgo/controllers/prefectapi"
)

// What a PrefectDeployment asks of the server, and how that compares with
// what the server has: pure functions, so that a pass which finds nothing
// to change writes nothing (every write to a deployment or its schedules
// makes the server delete the runs they scheduled).

// emptySchema is the parameter schema of a spec that gives none: any
// parameters conform to it.
var emptySchema = json.RawMessage(`{"type":"object","properties":{}}`)

// FlowName is the deployment's flow: spec.flowName, or the resource's name.
func FlowName(d *v1alpha1.PrefectDeployment) string {
	if d.Spec.FlowName != "" {
		return d.Spec.FlowName
	}
	return d.Name
}

// DeploymentName is the deployment's name: spec.name, or the resource's name.
func DeploymentName(d *v1alpha1.PrefectDeployment) string {
	if d.Spec.Name != "" {
		return d.Spec.Name
	}
	return d.Name
}

// deploymentWrite is what the spec sets of the deployment itself; unset
// fields are sent empty, so the server clears them.
func deploymentWrite(d *v1alpha1.PrefectDeployment) prefectapi.DeploymentWrite {
	s := d.Spec
	w := prefectapi.DeploymentWrite{
		Description:            nonEmpty(s.Description),
		Version:                nonEmpty(s.Version),
		Entrypoint:             nonEmpty(s.Entrypoint),
		Paused:                 s.Paused,
		Parameters:             rawOr(s.Parameters, json.RawMessage(`{}`)),
		ParameterOpenAPISchema: rawOr(s.ParameterOpenAPISchema, emptySchema),
		EnforceParameterSchema: s.EnforceParameterSchema == nil || *s.EnforceParameterSchema,
		JobVariables:           rawOr(s.JobVariables, json.RawMessage(`{}`)),
		PullSteps:              json.RawMessage(`[]`),
		Tags:                   append([]string{}, s.Tags...),
		WorkPoolName:           nonEmpty(s.WorkPool),
		WorkQueueName:          nonEmpty(s.WorkQueue),
		ConcurrencyLimit:       s.ConcurrencyLimit,
	}
	if len(s.PullSteps) > 0 {
		steps := make([]json.RawMessage, len(s.PullSteps))
		for i, st := range s.PullSteps {
			steps[i] = st.Raw
		}
		w.PullSteps, _ = json.Marshal(steps)
	}
	// A pool without a queue means its default queue; named, it compares.
	if w.WorkPoolName != nil && w.WorkQueueName == nil {
		w.WorkQueueName = new(defaultQueue)
	}
	if o := s.ConcurrencyOptions; o != nil {
		w.ConcurrencyOptions = &prefectapi.ConcurrencyOptions{CollisionStrategy: o.CollisionStrategy}
		if w.ConcurrencyOptions.CollisionStrategy == "" {
			w.ConcurrencyOptions.CollisionStrategy = "ENQUEUE"
		}
	}
	return w
}

// deploymentDrift names the fields of the deployment on the server that
// differ from what the spec sets.
func deploymentDrift(have prefectapi.Deployment, want prefectapi.DeploymentWrite) []string {
	var out []string
	check := func(name string, same bool) {
		if !same {
			out = append(out, name)
		}
	}
	check("description", equalPtr(emptyNil(have.Description), want.Description))
	check("version", equalPtr(emptyNil(have.Version), want.Version))
	check("entrypoint", equalPtr(emptyNil(have.Entrypoint), want.Entrypoint))
	check("paused", have.Paused == want.Paused)
	check("parameters", jsonEqual(have.Parameters, want.Parameters, `{}`))
	check("parameterOpenAPISchema", jsonEqual(have.ParameterOpenAPISchema, want.ParameterOpenAPISchema, `{}`))
	check("enforceParameterSchema", have.EnforceParameterSchema == want.EnforceParameterSchema)
	check("jobVariables", jsonEqual(have.JobVariables, want.JobVariables, `{}`))
	check("pullSteps", jsonEqual(have.PullSteps, want.PullSteps, `[]`))
	check("tags", slices.Equal(have.Tags, want.Tags) || len(have.Tags) == 0 && len(want.Tags) == 0)
	check("workPool", equalPtr(emptyNil(have.WorkPoolName), want.WorkPoolName))
	check("workQueue", equalPtr(emptyNil(have.WorkQueueName), want.WorkQueueName))
	check("concurrencyLimit", equalPtr(have.Limit(), want.ConcurrencyLimit))
	check("concurrencyOptions", strategy(have.ConcurrencyOptions) == strategy(want.ConcurrencyOptions))
	return out
}

func strategy(o *prefectapi.ConcurrencyOptions) string {
	if o == nil {
		return ""
	}
	return o.CollisionStrategy
}

// scheduleWrites are the spec's schedules as the server takes them.
func scheduleWrites(d *v1alpha1.PrefectDeployment) ([]prefectapi.ScheduleWrite, error) {
	out := make([]prefectapi.ScheduleWrite, 0, len(d.Spec.Schedules))
	for _, s := range d.Spec.Schedules {
		w := prefectapi.ScheduleWrite{Slug: s.Slug, Active: s.Active == nil || *s.Active,
			MaxScheduledRuns: s.MaxScheduledRuns, Parameters: rawOr(s.Parameters, json.RawMessage(`{}`)),
			Schedule: prefectapi.Schedule{Cron: s.Cron, DayOr: s.DayOr, RRule: s.RRule, Timezone: nonEmpty(s.Timezone)}}
		if s.Interval != nil {
			secs, err := intervalSeconds(*s.Interval)
			if err != nil {
				return nil, fmt.Errorf("schedule %s: %w", s.Slug, err)
			}
			w.Schedule.Interval = &secs
			if s.AnchorDate != nil {
				w.Schedule.AnchorDate = new(s.AnchorDate.UTC())
			}
		}
		out = append(out, w)
	}
	return out, nil
}

// intervalSeconds reads an interval: seconds, or a duration such as 1h30m.
func intervalSeconds(v intstr.IntOrString) (float64, error) {
	if v.Type == intstr.Int {
		if v.IntVal <= 0 {
			return 0, fmt.Errorf("interval %d is not a positive number of seconds", v.IntVal)
		}
		return float64(v.IntVal), nil
	}
	d, err := time.ParseDuration(v.StrVal)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("interval %q is not a positive duration such as 1h30m", v.StrVal)
	}
	return d.Seconds(), nil
}

// scheduleUpdate is a schedule changed in place.
type scheduleUpdate struct {
	id string
	w  prefectapi.ScheduleWrite
}

// schedulePlan is what it takes to make the server's schedules the spec's,
// matched by slug: each schedule that differs is updated in place (so it
// keeps its id), a new slug is created, a schedule the spec does not have
// is deleted. Schedules that match are not touched, nor their runs.
type schedulePlan struct {
	update []scheduleUpdate
	create []prefectapi.ScheduleWrite
	remove []string // schedule ids
}

func (p schedulePlan) empty() bool { return len(p.update)+len(p.create)+len(p.remove) == 0 }

// slugs names the schedules the plan touches, for messages.
func (p schedulePlan) slugs(have []prefectapi.DeploymentSchedule) []string {
	var out []string
	for _, u := range p.update {
		out = append(out, u.w.Slug)
	}
	for _, c := range p.create {
		out = append(out, c.Slug)
	}
	for _, id := range p.remove {
		for _, h := range have {
			if h.ID == id {
				out = append(out, deref(h.Slug, "(no slug)"))
			}
		}
	}
	return out
}

func planSchedules(have []prefectapi.DeploymentSchedule, want []prefectapi.ScheduleWrite) schedulePlan {
	bySlug := map[string]prefectapi.DeploymentSchedule{}
	for _, h := range have {
		if h.Slug != nil {
			bySlug[*h.Slug] = h
		}
	}
	var p schedulePlan
	kept := map[string]bool{}
	for _, w := range want {
		h, ok := bySlug[w.Slug]
		if !ok {
			p.create = append(p.create, w)
			continue
		}
		kept[h.ID] = true
		if !scheduleMatches(h, w) {
			// An interval schedule the spec gives no anchor keeps the
			// server's: sent without one, the server would take now.
			if w.Schedule.Interval != nil && w.Schedule.AnchorDate == nil {
				w.Schedule.AnchorDate = h.Schedule.AnchorDate
			}
			p.update = append(p.update, scheduleUpdate{id: h.ID, w: w})
		}
	}
	for _, h := range have {
		if !kept[h.ID] {
			p.remove = append(p.remove, h.ID)
		}
	}
	return p
}

// scheduleMatches says whether the server's schedule is what the spec
// asks, reading both with Prefect's defaults: day_or true, the zone UTC,
// parameters {}. What the spec leaves to the server (an interval's
// anchor date, max_scheduled_runs) is not compared.
func scheduleMatches(have prefectapi.DeploymentSchedule, want prefectapi.ScheduleWrite) bool {
	if have.Active != want.Active || !jsonEqual(have.Parameters, want.Parameters, `{}`) {
		return false
	}
	if want.MaxScheduledRuns != nil && !equalPtr(have.MaxScheduledRuns, want.MaxScheduledRuns) {
		return false
	}
	h, s := have.Schedule, want.Schedule
	if h.Cron != s.Cron || h.RRule != s.RRule || (h.Interval == nil) != (s.Interval == nil) ||
		deref(h.Timezone, "UTC") != deref(s.Timezone, "UTC") {
		return false
	}
	if s.Cron != "" && deref(h.DayOr, true) != deref(s.DayOr, true) {
		return false
	}
	if s.Interval != nil {
		if math.Abs(*h.Interval-*s.Interval) > 1e-6 {
			return false
		}
		if s.AnchorDate != nil && (h.AnchorDate == nil || !h.AnchorDate.Equal(*s.AnchorDate)) {
			return false
		}
	}
	return true
}

// jsonEqual compares two JSON values as values; empty (absent or null)
// stands for the JSON text empty.
func jsonEqual(a, b json.RawMessage, empty string) bool {
	norm := func(raw json.RawMessage) any {
		if t := bytes.TrimSpace(raw); len(t) == 0 || string(t) == "null" {
			raw = json.RawMessage(empty)
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return string(raw)
		}
		return v
	}
	return equality.Semantic.DeepEqual(norm(a), norm(b))
}

func rawOr(v *apiextensionsv1.JSON, or json.RawMessage) json.RawMessage {
	if v == nil || len(v.Raw) == 0 {
		return or
	}
	return v.Raw
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func deref[T any](p *T, or T) T {
	if p == nil {
		return or
	}
	return *p
}

package controllers

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"prefectgo.dev/prefectgo/api/v1alpha1"
	"prefectgo.dev/prefectgo/controllers/prefectapi"
)

// The comparisons decide whether a pass writes, and every write deletes
// scheduled runs: what the server answers for an unchanged spec, with its
// defaults filled in, must compare equal, and any field changed must not.

func TestDeploymentDriftReadsServerDefaults(t *testing.T) {
	d := &v1alpha1.PrefectDeployment{ObjectMeta: metav1.ObjectMeta{Name: "etl"}}
	d.Spec.WorkPool = "pool"
	want := deploymentWrite(d)
	require.Equal(t, "default", *want.WorkQueueName, "a pool without a queue names its default queue")
	// The deployment as a server answers for that spec: nulls for the empty
	// values, the limit in global_concurrency_limit as Prefect puts it.
	have := prefectapi.Deployment{Description: new(""), Parameters: json.RawMessage(`{}`),
		ParameterOpenAPISchema: json.RawMessage(`{"properties":{},"type":"object"}`), EnforceParameterSchema: true,
		JobVariables: json.RawMessage(`null`), PullSteps: json.RawMessage(`null`), WorkPoolName: new("pool"), WorkQueueName: new("default")}
	require.Empty(t, deploymentDrift(have, want))

	d.Spec.ConcurrencyLimit = new(int32(2))
	d.Spec.ConcurrencyOptions = &v1alpha1.ConcurrencyOptions{}
	d.Spec.Tags = []string{"a"}
	d.Spec.PullSteps = []apiextensionsv1.JSON{{Raw: []byte(`{"step":{"x":1}}`)}}
	want = deploymentWrite(d)
	require.ElementsMatch(t, []string{"concurrencyLimit", "concurrencyOptions", "tags", "pullSteps"}, deploymentDrift(have, want))
	have.GlobalConcurrencyLimit = &struct {
		Limit int32 `json:"limit"`
	}{2}
	have.ConcurrencyOptions = &prefectapi.ConcurrencyOptions{CollisionStrategy: "ENQUEUE"}
	have.Tags = []string{"a"}
	have.PullSteps = json.RawMessage(`[{"step": {"x": 1}}]`)
	require.Empty(t, deploymentDrift(have, want))
}

func TestScheduleMatchesServerDefaults(t *testing.T) {
	d := &v1alpha1.PrefectDeployment{}
	d.Spec.Schedules = []v1alpha1.DeploymentSchedule{
		{Slug: "cron", Cron: "0 * * * *"},
		{Slug: "interval", Interval: new(intstr.FromString("1h30m"))},
		{Slug: "rrule", RRule: "FREQ=DAILY", Timezone: "Europe/Paris", Active: new(false), MaxScheduledRuns: new(int32(3)),
			Parameters: &apiextensionsv1.JSON{Raw: []byte(`{"n":1}`)}},
	}
	want, err := scheduleWrites(d)
	require.NoError(t, err)
	require.InDelta(t, 5400, *want[1].Schedule.Interval, 0)
	anchor := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// As the server answers them: day_or and zones filled in, an anchor
	// it chose, no max_scheduled_runs where the spec gives none.
	have := []prefectapi.DeploymentSchedule{
		{ID: "1", Slug: new("cron"), Active: true, Parameters: json.RawMessage(`{}`),
			Schedule: prefectapi.Schedule{Cron: "0 * * * *", DayOr: new(true)}},
		{ID: "2", Slug: new("interval"), Active: true, Parameters: json.RawMessage(`{}`), MaxScheduledRuns: new(int32(9)),
			Schedule: prefectapi.Schedule{Interval: new(5400.0), AnchorDate: &anchor, Timezone: new("UTC")}},
		{ID: "3", Slug: new("rrule"), Active: false, Parameters: json.RawMessage(`{"n": 1}`), MaxScheduledRuns: new(int32(3)),
			Schedule: prefectapi.Schedule{RRule: "FREQ=DAILY", Timezone: new("Europe/Paris")}},
	}
	require.True(t, planSchedules(have, want).empty(), "an unchanged spec plans nothing")

	// A changed cron is updated in place; an interval update keeps the
	// server's anchor; a new slug is created; an unknown one (or one
	// without a slug) is deleted.
	d.Spec.Schedules[0].Cron = "30 * * * *"
	d.Spec.Schedules[1].Active = new(false)
	d.Spec.Schedules[2].Slug = "rrule-2"
	want, err = scheduleWrites(d)
	require.NoError(t, err)
	have = append(have, prefectapi.DeploymentSchedule{ID: "4", Active: true, Schedule: prefectapi.Schedule{Cron: "@daily"}})
	p := planSchedules(have, want)
	require.Len(t, p.update, 2)
	require.Equal(t, "1", p.update[0].id)
	require.Equal(t, "30 * * * *", p.update[0].w.Schedule.Cron)
	require.Equal(t, "2", p.update[1].id)
	require.Equal(t, anchor, *p.update[1].w.Schedule.AnchorDate)
	require.Len(t, p.create, 1)
	require.Equal(t, "rrule-2", p.create[0].Slug)
	require.Equal(t, []string{"3", "4"}, p.remove)

	_, err = scheduleWrites(&v1alpha1.PrefectDeployment{Spec: v1alpha1.PrefectDeploymentSpec{
		Schedules: []v1alpha1.DeploymentSchedule{{Slug: "x", Interval: new(intstr.FromString("soon"))}}}})
	require.ErrorContains(t, err, "not a positive duration")
}

package server

import (
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/settings"
	"prefectgo.dev/prefectgo/server/store"
	"prefectgo.dev/prefectgo/server/store/backend"
	"prefectgo.dev/prefectgo/server/store/storetest"
)

// forEachDatabase runs test on a fresh SQLite file and a fresh PostgreSQL
// database (when PREFECTGO_TEST_POSTGRES_URL is set), with settings that
// point at it, so the one-shot commands can open it themselves.
func forEachDatabase(t *testing.T, test func(t *testing.T, s settings.Settings, st store.Store)) {
	t.Helper()
	open := func(t *testing.T, url string) {
		s := settings.Defaults()
		s.Database.ConnectionURL = url
		s.Database.MigrateOnStart = true
		st, err := backend.Open(context.Background(), DatabaseConfig(s))
		require.NoError(t, err)
		t.Cleanup(func() { _ = st.Close() })
		test(t, s, st)
	}
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		open(t, "sqlite+aiosqlite:///"+filepath.Join(t.TempDir(), "prefect.db"))
	})
	t.Run("postgresql", func(t *testing.T) {
		t.Parallel()
		open(t, storetest.NewPostgresDatabase(t))
	})
}

func autoRuns(t *testing.T, st store.Store, deploymentID uuid.UUID) []schema.FlowRun {
	t.Helper()
	runs, err := st.FilterFlowRuns(context.Background(), schema.Query{
		FlowRuns: &schema.FlowRunFilter{DeploymentID: &schema.IDFilter{Any: []uuid.UUID{deploymentID}}}})
	require.NoError(t, err)
	var auto []schema.FlowRun
	for _, r := range runs {
		if r.AutoScheduled {
			auto = append(auto, r)
		}
	}
	return auto
}

// runsBySchedule groups a deployment's runs by the schedule that made them
// and checks that no schedule has two runs at the same time.
func runsBySchedule(t *testing.T, runs []schema.FlowRun) map[uuid.UUID][]schema.FlowRun {
	t.Helper()
	out := map[uuid.UUID][]schema.FlowRun{}
	seen := map[string]bool{}
	for _, r := range runs {
		require.NotNil(t, r.CreatedBy, "run %s", r.ID)
		sched := *r.CreatedBy.ID
		key := sched.String() + " " + r.NextScheduledStartTime.UTC().Format(time.RFC3339Nano)
		require.False(t, seen[key], "two runs of schedule %s at %s", sched, r.NextScheduledStartTime)
		seen[key] = true
		out[sched] = append(out[sched], r)
	}
	return out
}

// Many passes at once, in goroutines and as the one-shot command on its own
// connections, leave exactly one run per schedule and time; a paused
// deployment and an inactive schedule get none.
func TestSchedulerPassesAtOnceMakeEachRunOnce(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, s settings.Settings, st store.Store) {
		ctx := context.Background()
		f := storetest.Flow(t, st, "etl")
		d := storetest.Deployment(t, st, map[string]any{
			"name": "active", "flow_id": f.ID, "tags": []string{"nightly"}, "parameters": map[string]any{"x": 1, "y": "d"},
			"version": "v7", "work_queue_name": "default",
			"schedules": []any{
				map[string]any{"schedule": map[string]any{"interval": 600, "anchor_date": "2024-01-01T00:00:00Z"}, "parameters": map[string]any{"y": "s"}},
				map[string]any{"schedule": map[string]any{"cron": "*/7 * * * *", "timezone": "Europe/Berlin"}, "slug": "every-seven"},
				map[string]any{"schedule": map[string]any{"rrule": "FREQ=HOURLY;BYMINUTE=5,35"}, "active": false},
			},
		})
		paused := storetest.Deployment(t, st, map[string]any{
			"name": "paused", "flow_id": f.ID, "paused": true,
			"schedules": []any{map[string]any{"schedule": map[string]any{"interval": 60}}},
		})

		sc := scheduler(s, st, newRuns(s, st, nil, nil, nil, nil), nil)
		var wg sync.WaitGroup
		errs := make(chan error, 13)
		for range 10 {
			wg.Go(func() {
				_, err := sc.Pass(ctx, false)
				errs <- err
			})
		}
		for range 3 {
			wg.Go(func() { errs <- Schedule(ctx, s, io.Discard) })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}

		require.Empty(t, autoRuns(t, st, paused.ID), "a paused deployment gets no runs")
		byID := map[string]uuid.UUID{}
		for _, sch := range d.Schedules {
			byID[sch.Schedule.Kind()] = sch.ID
		}
		runs := runsBySchedule(t, autoRuns(t, st, d.ID))
		require.Len(t, runs, 2, "the inactive schedule makes nothing")
		// Defaults: at least 3 runs, reaching an hour ahead.
		require.GreaterOrEqual(t, len(runs[byID["interval"]]), 6)
		require.GreaterOrEqual(t, len(runs[byID["cron"]]), 3)

		r := runs[byID["interval"]][0]
		require.True(t, r.AutoScheduled)
		require.Equal(t, []string{"auto-scheduled", "nightly"}, r.Tags)
		require.JSONEq(t, `{"x": 1, "y": "s"}`, string(r.Parameters))
		require.Equal(t, "v7", *r.DeploymentVersion)
		require.Equal(t, "default", *r.WorkQueueName)
		require.Equal(t, "SCHEDULE", *r.CreatedBy.Type)
		require.Equal(t, "IntervalSchedule", *r.CreatedBy.DisplayValue)
		require.Equal(t, "every-seven", *runs[byID["cron"]][0].CreatedBy.DisplayValue)
		require.True(t, strings.HasPrefix(*r.IdempotencyKey, "scheduled "+d.ID.String()+" "+byID["interval"].String()+" "))
		require.NotNil(t, r.State)
		require.Equal(t, schema.StateScheduled, r.State.Type)
		require.Equal(t, "Scheduled", r.State.Name)
		require.Equal(t, "Flow run scheduled", *r.State.Message)
		require.True(t, r.State.StateDetails.ScheduledTime.Equal(*r.NextScheduledStartTime))
		require.True(t, r.ExpectedStartTime.Equal(*r.NextScheduledStartTime))
		var labels map[string]string
		require.NoError(t, json.Unmarshal(r.Labels, &labels))
		require.Equal(t, d.ID.String(), labels["prefect.deployment.id"])
		for _, run := range runs[byID["interval"]] {
			require.Zero(t, run.NextScheduledStartTime.Sub(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))%(10*time.Minute))
		}
		states, err := st.ReadFlowRunStates(ctx, r.ID)
		require.NoError(t, err)
		require.Len(t, states, 1, "one state per run, however many passes inserted it")

		// Another pass with enough runs in place creates nothing.
		res, err := sc.Pass(ctx, false)
		require.NoError(t, err)
		require.Zero(t, res.Runs)
	})
}

// Changing a schedule replaces its future auto-scheduled runs and leaves
// the other schedule's alone; deleting one removes only its own.
func TestSchedulerScheduleChangesReplaceOnlyTheirOwnRuns(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, s settings.Settings, st store.Store) {
		ctx := context.Background()
		f := storetest.Flow(t, st, "etl")
		d := storetest.Deployment(t, st, map[string]any{
			"name": "two", "flow_id": f.ID,
			"schedules": []any{
				map[string]any{"schedule": map[string]any{"interval": 900, "anchor_date": "2024-01-01T00:00:00Z"}},
				map[string]any{"schedule": map[string]any{"cron": "*/20 * * * *"}},
			},
		})
		var intervalID, cronID uuid.UUID
		for _, sch := range d.Schedules {
			if sch.Schedule.Kind() == "interval" {
				intervalID = sch.ID
			} else {
				cronID = sch.ID
			}
		}
		sc := scheduler(s, st, newRuns(s, st, nil, nil, nil, nil), nil)
		_, err := sc.RunOnce(ctx)
		require.NoError(t, err)
		before := runsBySchedule(t, autoRuns(t, st, d.ID))
		cronRuns := map[uuid.UUID]bool{}
		for _, r := range before[cronID] {
			cronRuns[r.ID] = true
		}
		require.NotEmpty(t, before[intervalID])
		require.NotEmpty(t, cronRuns)

		// A run made by hand stays whatever happens to the schedules.
		manual, _, err := storetest.Writes(st).CreateFlowRun(ctx, manualRun(d, time.Now().Add(time.Hour)))
		require.NoError(t, err)

		// Change the interval schedule: its runs go, the cron's stay.
		var u schema.DeploymentScheduleUpdate
		require.NoError(t, json.Unmarshal([]byte(`{"schedule": {"interval": 1200, "anchor_date": "2024-01-01T00:05:00Z"}}`), &u))
		require.NoError(t, u.Validate())
		require.NoError(t, st.UpdateDeploymentSchedule(ctx, d.ID, intervalID, u))
		mid := runsBySchedule(t, autoRuns(t, st, d.ID))
		require.Empty(t, mid[intervalID])
		require.Len(t, mid[cronID], len(cronRuns))
		for _, r := range mid[cronID] {
			require.True(t, cronRuns[r.ID], "the cron schedule's runs are untouched")
		}

		// The next pass makes the changed schedule's new runs only.
		res, err := sc.RunRecent(ctx)
		require.NoError(t, err)
		require.Positive(t, res)
		after := runsBySchedule(t, autoRuns(t, st, d.ID))
		require.NotEmpty(t, after[intervalID])
		for _, r := range after[intervalID] {
			require.Zero(t, r.NextScheduledStartTime.Sub(time.Date(2024, 1, 1, 0, 5, 0, 0, time.UTC))%(20*time.Minute), "the new schedule's dates")
		}
		for _, r := range after[cronID] {
			require.True(t, cronRuns[r.ID], "no new cron runs: the old ones are still there")
		}

		// Delete the cron schedule: only its runs go.
		require.NoError(t, st.DeleteDeploymentSchedule(ctx, d.ID, cronID))
		final := runsBySchedule(t, autoRuns(t, st, d.ID))
		require.Empty(t, final[cronID])
		require.Len(t, final[intervalID], len(after[intervalID]))
		_, err = st.ReadFlowRun(ctx, manual.ID)
		require.NoError(t, err, "the run made by hand is still there")
	})
}

// manualRun is a Scheduled run of the deployment made through the API, not
// by the scheduler.
func manualRun(d schema.Deployment, at time.Time) schema.FlowRun {
	now := time.Now().UTC()
	at = at.UTC()
	state := schema.StateCreate{Type: schema.StateScheduled, StateDetails: schema.StateDetails{ScheduledTime: &at}}.ToState(now)
	manual := "manual"
	return schema.FlowRun{ID: uuid.Must(uuid.NewV7()), Name: "by-hand", FlowID: d.FlowID, DeploymentID: &d.ID,
		Parameters: json.RawMessage(`{}`), Context: json.RawMessage(`{}`), Labels: json.RawMessage(`{}`),
		JobVariables: json.RawMessage(`{}`), Tags: []string{}, State: &state, NextScheduledStartTime: &at,
		StateType: &state.Type, StateName: &manual}
}

// The recent-deployments pass visits only deployments changed within its
// window, and a full pass with nothing to do visits nothing.
func TestSchedulerRecentPassWindow(t *testing.T) {
	t.Parallel()
	forEachDatabase(t, func(t *testing.T, s settings.Settings, st store.Store) {
		ctx := context.Background()
		f := storetest.Flow(t, st, "etl")
		// One run, then nothing: always short of min_runs.
		once := "DTSTART:" + time.Now().UTC().Add(48*time.Hour).Format("20060102T150405") + "\nRRULE:FREQ=DAILY;COUNT=1"
		storetest.Deployment(t, st, map[string]any{"name": "d", "flow_id": f.ID,
			"schedules": []any{map[string]any{"schedule": map[string]any{"rrule": once}}}})
		sc := scheduler(s, st, newRuns(s, st, nil, nil, nil, nil), nil)
		sc.Now = func() time.Time { return time.Now().Add(time.Hour) }
		res, err := sc.Pass(ctx, true)
		require.NoError(t, err)
		require.Zero(t, res.Deployments, "changed an hour before the pass: not recent")

		sc.Now = nil
		res, err = sc.Pass(ctx, true)
		require.NoError(t, err)
		require.Equal(t, 1, res.Deployments)
		require.Equal(t, 1, res.Runs)

		var out strings.Builder
		require.NoError(t, Schedule(ctx, s, &out))
		require.Equal(t, "scheduler: 1 deployments, 0 runs created\n", out.String(),
			"still short of min_runs, so visited again, but nothing new to make")
	})
}

package services_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/internal/testlog"
	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/services"
	"prefectgo.dev/prefectgo/server/store"
	"prefectgo.dev/prefectgo/server/store/storetest"
)

// newScheduler is a scheduler reading st, inserting through the runs
// service over runs.
func newScheduler(st services.SchedulerStore, runs store.Store, log *testlog.Buffer) services.Scheduler {
	return services.Scheduler{Store: st, Runs: newRuns(runs, nil), DeploymentBatchSize: 2, InsertBatchSize: 50, MinRuns: 3, MaxRuns: 10,
		MinScheduledTime: time.Hour, MaxScheduledTime: 100 * 24 * time.Hour, RecentWindow: time.Minute,
		Log: slog.New(slog.NewTextHandler(log, nil))}
}

// pass runs one full pass, failing clearly (instead of hanging the test
// binary) when it does not come back.
func pass(t *testing.T, ctx context.Context, sc services.Scheduler) (services.SchedulerResult, error) {
	t.Helper()
	type result struct {
		res services.SchedulerResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := sc.Pass(ctx, false)
		done <- result{res, err}
	}()
	select {
	case r := <-done:
		return r.res, r.err
	case <-time.After(3 * time.Minute):
		t.Fatal("a scheduler pass did not return: one schedule's work is unbounded")
	}
	return services.SchedulerResult{}, nil
}

func scheduleRuns(t *testing.T, st store.Store, deploymentID uuid.UUID) map[uuid.UUID][]time.Time {
	t.Helper()
	runs, err := st.FilterFlowRuns(context.Background(), schema.Query{
		FlowRuns: &schema.FlowRunFilter{DeploymentID: &schema.IDFilter{Any: []uuid.UUID{deploymentID}}}})
	require.NoError(t, err)
	out := map[uuid.UUID][]time.Time{}
	for _, r := range runs {
		out[*r.CreatedBy.ID] = append(out[*r.CreatedBy.ID], r.NextScheduledStartTime.UTC())
	}
	return out
}

// One deployment with pathological schedules, among good ones, neither
// stalls the pass nor stops the good ones getting their runs; its schedules
// that have dates get them, and the one needing too much work is skipped
// with a log line.
func TestSchedulerPassWithPathologicalSchedules(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, open storetest.Opener) {
		st := open(t)
		f := storetest.Flow(t, st, "f-"+uuid.NewString())
		good := func(name string) schema.Deployment {
			return storetest.Deployment(t, st, map[string]any{"name": name, "flow_id": f.ID, "schedules": []any{
				map[string]any{"schedule": map[string]any{"interval": 600, "anchor_date": "2024-01-01T00:00:00Z"}}}})
		}
		first := good("first")
		bad := storetest.Deployment(t, st, map[string]any{"name": "bad", "flow_id": f.ID, "schedules": []any{
			map[string]any{"schedule": map[string]any{"interval": 3600, "anchor_date": "9999-12-31T23:59:59Z"}},
			map[string]any{"schedule": map[string]any{"interval": 0.000001, "anchor_date": "0001-01-01T00:00:00Z"}},
			map[string]any{"schedule": map[string]any{"cron": "0 0 31 2 *"}},
			map[string]any{"schedule": map[string]any{"rrule": "FREQ=MINUTELY;INTERVAL=120;BYHOUR=1"}},
			map[string]any{"schedule": map[string]any{"rrule": "DTSTART:00010102T000000\nRRULE:FREQ=SECONDLY;COUNT=1000000000000"}},
		}})
		last := good("last")

		log := &testlog.Buffer{}
		res, err := pass(t, context.Background(), newScheduler(st, st, log))
		require.NoError(t, err)
		require.Equal(t, 3, res.Deployments)

		for _, d := range []schema.Deployment{first, last} {
			runs := scheduleRuns(t, st, d.ID)[d.Schedules[0].ID]
			require.GreaterOrEqual(t, len(runs), 6, "a good deployment gets its runs")
		}
		runs := scheduleRuns(t, st, bad.ID)
		hourly := runs[bad.Schedules[0].ID]
		require.GreaterOrEqual(t, len(hourly), 3)
		for _, at := range hourly {
			require.Equal(t, 59*time.Minute+59*time.Second, at.Sub(at.Truncate(time.Hour)), "on the grid of an anchor in 9999")
		}
		require.NotEmpty(t, runs[bad.Schedules[1].ID], "a microsecond grid from year 1 has dates")
		for _, sc := range bad.Schedules[2:] {
			require.Empty(t, runs[sc.ID], "%s never fires in the window", sc.Schedule.Kind())
		}
		require.Contains(t, log.String(), "schedule needs too much work")
		require.Contains(t, log.String(), bad.Schedules[4].ID.String())
	})
}

// cancelling reads deployments from a real store and cancels the pass's
// context on the second read, as SIGTERM would in the middle of a pass.
type cancelling struct {
	store.Store
	cancel context.CancelFunc
	mu     sync.Mutex
	reads  int
}

func (c *cancelling) ReadDeployment(ctx context.Context, id uuid.UUID) (schema.Deployment, error) {
	c.mu.Lock()
	c.reads++
	if c.reads == 2 {
		c.cancel()
	}
	c.mu.Unlock()
	return c.Store.ReadDeployment(ctx, id)
}

// A cancelled context ends a pass: at once when it is cancelled before, and
// at the next deployment (or inside a schedule's computation) when it is
// cancelled during the pass.
func TestSchedulerPassEndsWithItsContext(t *testing.T) {
	t.Parallel()
	storetest.ForEach(t, func(t *testing.T, open storetest.Opener) {
		st := open(t)
		f := storetest.Flow(t, st, "f-"+uuid.NewString())
		var ids []uuid.UUID
		for i := range 5 {
			d := storetest.Deployment(t, st, map[string]any{"name": "d" + string(rune('a'+i)), "flow_id": f.ID, "schedules": []any{
				map[string]any{"schedule": map[string]any{"rrule": "DTSTART:00010102T000000\nRRULE:FREQ=SECONDLY;COUNT=1000000000000"}},
				map[string]any{"schedule": map[string]any{"interval": 600}}}})
			ids = append(ids, d.ID)
		}

		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		res, err := pass(t, ctx, newScheduler(st, st, &testlog.Buffer{}))
		require.ErrorIs(t, err, context.Canceled)
		require.Zero(t, res.Runs)

		ctx, cancel = context.WithCancel(context.Background())
		defer cancel()
		c := &cancelling{Store: st, cancel: cancel}
		res, err = pass(t, ctx, newScheduler(c, st, &testlog.Buffer{}))
		require.ErrorIs(t, err, context.Canceled)
		require.Zero(t, res.Runs)
		require.Equal(t, 2, c.reads, "the pass stopped at the deployment it was cancelled in")
		for _, id := range ids {
			require.Empty(t, scheduleRuns(t, st, id))
		}
	})
}

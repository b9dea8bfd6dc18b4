package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/store"
)

func newQueue(t *testing.T, s store.Store, pool, name string, priority *int) schema.WorkQueue {
	t.Helper()
	in := schema.WorkQueueCreate{Name: name, Priority: priority}
	require.NoError(t, in.Validate())
	q, err := s.CreateWorkQueue(context.Background(), pool, in)
	require.NoError(t, err)
	return q
}

// scheduledRun creates a SCHEDULED run of flowID in queue q at `at`.
func scheduledRun(t *testing.T, s store.Store, flowID uuid.UUID, q *schema.WorkQueue, at time.Time, mutate ...func(*schema.FlowRun)) schema.FlowRun {
	t.Helper()
	run := newRun(flowID)
	if q != nil {
		run.WorkQueueID, run.WorkQueueName, run.WorkPoolID, run.WorkPoolName = &q.ID, &q.Name, q.WorkPoolID, q.WorkPoolName
	}
	for _, m := range mutate {
		m(&run)
	}
	scheduled := schema.StateCreate{Type: schema.StateScheduled, StateDetails: schema.StateDetails{ScheduledTime: &at}}
	return FlowRun(t, s, run, scheduled, time.Now().UTC().Truncate(time.Microsecond))
}

// setRunState forces a run into a state.
func setRunState(t *testing.T, s store.Store, id uuid.UUID, typ schema.StateType) {
	t.Helper()
	ForceFlowRunState(t, s, id, schema.StateCreate{Type: typ}, time.Now().UTC().Truncate(time.Microsecond))
}

func requireNotFoundDetail(t *testing.T, err error, detail string) {
	t.Helper()
	var nf *schema.NotFoundError
	require.True(t, errors.As(err, &nf), "want a NotFoundError, got %v", err)
	require.Equal(t, detail, nf.Detail)
	require.ErrorIs(t, err, schema.ErrNotFound)
}

func TestWorkPools(t *testing.T) {
	t.Parallel()
	ForEach(t, func(t *testing.T, open Opener) {
		s := open(t)
		ctx := context.Background()

		p := WorkPool(t, s, "pool-a", func(c *schema.WorkPoolCreate) {
			c.BaseJobTemplate = json.RawMessage(`{"job_configuration":{"command":"{{ command }}"},"variables":{"properties":{"command":{"type":"string"}}}}`)
		})
		require.Equal(t, "process", p.Type)
		require.Equal(t, schema.StatusNotReady, *p.Status)
		require.NotNil(t, p.DefaultQueueID)
		require.Nil(t, p.ActiveSlots)
		require.JSONEq(t, `{"command":"{{ command }}"}`, string(mustField(t, p.BaseJobTemplate, "job_configuration")))

		def, err := s.ReadWorkQueue(ctx, *p.DefaultQueueID)
		require.NoError(t, err)
		require.Equal(t, "default", def.Name)
		require.Equal(t, 1, def.Priority)
		require.Equal(t, "pool-a", *def.WorkPoolName)

		_, err = s.CreateWorkPool(ctx, schema.WorkPoolCreate{Name: "pool-a", Type: "process"})
		var conflict *schema.ConflictError
		require.ErrorAs(t, err, &conflict)
		require.Equal(t, "A work pool with this name already exists.", conflict.Msg)

		paused := WorkPool(t, s, "pool-b", func(c *schema.WorkPoolCreate) { c.IsPaused = true; c.Type = "docker"; c.ConcurrencyLimit = ptr(2) })
		require.Equal(t, schema.StatusPaused, *paused.Status)
		require.Equal(t, 0, *paused.ActiveSlots)

		agent := WorkPool(t, s, "agents", func(c *schema.WorkPoolCreate) { c.Type = schema.AgentPoolType })
		require.Nil(t, agent.Status, "the agent pool has no status")

		pools, err := s.FilterWorkPools(ctx, schema.WorkPoolQuery{})
		require.NoError(t, err)
		require.Equal(t, []string{"agents", "pool-a", "pool-b"}, poolNames(pools))
		pools, err = s.FilterWorkPools(ctx, schema.WorkPoolQuery{WorkPools: &schema.WorkPoolFilter{Type: &schema.TextFilter{Any: []string{"docker"}}}})
		require.NoError(t, err)
		require.Equal(t, []string{"pool-b"}, poolNames(pools))
		n, err := s.CountWorkPools(ctx, schema.WorkPoolQuery{WorkPools: &schema.WorkPoolFilter{Name: &schema.TextFilter{Like: ptr("POOL")}}})
		require.NoError(t, err)
		require.Equal(t, 2, n)

		// Updates change what they set; a null limit removes it.
		require.NoError(t, s.UpdateWorkPool(ctx, "pool-b", schema.WorkPoolUpdate{Description: schema.Some("docs")}))
		got, err := s.ReadWorkPoolByName(ctx, "pool-b")
		require.NoError(t, err)
		require.Equal(t, "docs", *got.Description)
		require.Equal(t, 2, *got.ConcurrencyLimit)
		require.NoError(t, s.UpdateWorkPool(ctx, "pool-b", schema.WorkPoolUpdate{ConcurrencyLimit: schema.Optional[int]{Set: true}}))
		got, err = s.ReadWorkPoolByName(ctx, "pool-b")
		require.NoError(t, err)
		require.Nil(t, got.ConcurrencyLimit)
		require.Nil(t, got.ActiveSlots)

		// Unpausing without an online worker: NOT_READY.
		require.NoError(t, s.UpdateWorkPool(ctx, "pool-b", schema.WorkPoolUpdate{IsPaused: schema.Some(false)}))
		got, err = s.ReadWorkPoolByName(ctx, "pool-b")
		require.NoError(t, err)
		require.False(t, got.IsPaused)
		require.Equal(t, schema.StatusNotReady, *got.Status)

		err = s.UpdateWorkPool(ctx, "missing", schema.WorkPoolUpdate{})
		requireNotFoundDetail(t, err, `Work pool "missing" not found.`)
		_, err = s.ReadWorkPoolByName(ctx, "missing")
		requireNotFoundDetail(t, err, `Work pool "missing" not found.`)

		// Deleting a pool takes its queues and detaches its runs.
		f := Flow(t, s, "pool-flow")
		run := scheduledRun(t, s, f.ID, &def, time.Now().Add(time.Hour))
		require.NoError(t, s.DeleteWorkPool(ctx, "pool-a"))
		_, err = s.ReadWorkQueue(ctx, def.ID)
		require.ErrorIs(t, err, schema.ErrNotFound)
		r, err := s.ReadFlowRun(ctx, run.ID)
		require.NoError(t, err)
		require.Nil(t, r.WorkQueueID)
		require.Nil(t, r.WorkPoolID)
		requireNotFoundDetail(t, s.DeleteWorkPool(ctx, "pool-a"), `Work pool "pool-a" not found.`)
	})
}

func mustField(t *testing.T, raw json.RawMessage, key string) json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &m))
	return m[key]
}

func poolNames(pools []schema.WorkPool) []string {
	out := []string{}
	for _, p := range pools {
		out = append(out, p.Name)
	}
	return out
}

func queuePriorities(t *testing.T, s store.Store, pool string) map[string]int {
	t.Helper()
	qs, err := s.FilterWorkQueues(context.Background(), pool, schema.WorkQueueQuery{})
	require.NoError(t, err)
	out := map[string]int{}
	for _, q := range qs {
		out[q.Name] = q.Priority
	}
	return out
}

func TestWorkQueues(t *testing.T) {
	t.Parallel()
	ForEach(t, func(t *testing.T, open Opener) {
		s := open(t)
		ctx := context.Background()
		p := WorkPool(t, s, "queues")

		b := newQueue(t, s, "queues", "b", nil)
		require.Equal(t, 2, b.Priority, "the first free priority")
		require.Equal(t, schema.StatusNotReady, *b.Status)
		require.Equal(t, "", *b.Description)
		// A queue placed at priority 1 moves the others down.
		a := newQueue(t, s, "queues", "a", ptr(1))
		require.Equal(t, 1, a.Priority)
		require.Equal(t, map[string]int{"a": 1, "default": 2, "b": 3}, queuePriorities(t, s, "queues"))
		// A gap is filled first.
		c := newQueue(t, s, "queues", "c", ptr(10))
		require.Equal(t, 10, c.Priority)
		d := newQueue(t, s, "queues", "d", nil)
		require.Equal(t, 4, d.Priority)

		_, err := s.CreateWorkQueue(ctx, "queues", schema.WorkQueueCreate{Name: "a"})
		var conflict *schema.ConflictError
		require.ErrorAs(t, err, &conflict)
		_, err = s.CreateWorkQueue(ctx, "nope", schema.WorkQueueCreate{Name: "a"})
		requireNotFoundDetail(t, err, `Work pool "nope" not found.`)

		qs, err := s.FilterWorkQueues(ctx, "queues", schema.WorkQueueQuery{})
		require.NoError(t, err)
		names := []string{}
		for _, q := range qs {
			names = append(names, q.Name)
		}
		require.Equal(t, []string{"a", "default", "b", "d", "c"}, names, "by priority")
		qs, err = s.FilterWorkQueues(ctx, "queues", schema.WorkQueueQuery{WorkQueues: &schema.WorkQueueFilter{Name: &schema.TextFilter{StartsWith: []string{"d"}}}})
		require.NoError(t, err)
		require.Len(t, qs, 2)

		// Moving a queue to a taken priority shifts the ones in the way.
		require.NoError(t, s.UpdateWorkQueue(ctx, c.ID, schema.WorkQueueUpdate{Priority: ptr(2)}))
		require.Equal(t, map[string]int{"a": 1, "c": 2, "default": 3, "b": 4, "d": 5}, queuePriorities(t, s, "queues"))

		// Pausing and unpausing set the status.
		require.NoError(t, s.UpdateWorkQueue(ctx, b.ID, schema.WorkQueueUpdate{IsPaused: ptr(true), ConcurrencyLimit: schema.Some(3)}))
		got, err := s.ReadWorkQueueByName(ctx, "queues", "b")
		require.NoError(t, err)
		require.True(t, got.IsPaused)
		require.Equal(t, schema.StatusPaused, *got.Status)
		require.Equal(t, 3, *got.ConcurrencyLimit)
		require.Equal(t, 0, *got.ActiveSlots)
		require.NoError(t, s.MarkWorkQueuesPolled(ctx, []uuid.UUID{b.ID}))
		got, err = s.ReadWorkQueue(ctx, b.ID)
		require.NoError(t, err)
		require.Equal(t, schema.StatusPaused, *got.Status, "a poll does not unpause")
		require.NotNil(t, got.LastPolled)
		require.NoError(t, s.UpdateWorkQueue(ctx, b.ID, schema.WorkQueueUpdate{IsPaused: ptr(false)}))
		got, err = s.ReadWorkQueue(ctx, b.ID)
		require.NoError(t, err)
		require.Equal(t, schema.StatusReady, *got.Status, "unpaused and polled within a minute")

		_, err = s.ReadWorkQueueByName(ctx, "queues", "zzz")
		requireNotFoundDetail(t, err, "Work pool queue 'queues/zzz' not found.")

		ensured, err := s.EnsureWorkQueue(ctx, "queues", "new-one")
		require.NoError(t, err)
		again, err := s.EnsureWorkQueue(ctx, "queues", "new-one")
		require.NoError(t, err)
		require.Equal(t, ensured.ID, again.ID)

		var conflictErr *schema.ConflictError
		require.ErrorAs(t, s.DeleteWorkQueue(ctx, *p.DefaultQueueID), &conflictErr)
		require.NoError(t, s.DeleteWorkQueue(ctx, d.ID))
		require.ErrorIs(t, s.DeleteWorkQueue(ctx, d.ID), schema.ErrNotFound)

		// The legacy lookup by name alone.
		legacy, err := s.ReadWorkQueueByName(ctx, "", "new-one")
		require.NoError(t, err)
		require.Equal(t, ensured.ID, legacy.ID)
	})
}

func TestWorkers(t *testing.T) {
	t.Parallel()
	ForEach(t, func(t *testing.T, open Opener) {
		s := open(t)
		ctx := context.Background()
		WorkPool(t, s, "workers")
		WorkPool(t, s, "paused", func(c *schema.WorkPoolCreate) { c.IsPaused = true })

		require.NoError(t, s.WorkerHeartbeat(ctx, "workers", "w1", ptr(15)))
		require.NoError(t, s.WorkerHeartbeat(ctx, "workers", "w1", nil))
		require.NoError(t, s.WorkerHeartbeat(ctx, "workers", "w2", nil))
		p, err := s.ReadWorkPoolByName(ctx, "workers")
		require.NoError(t, err)
		require.Equal(t, schema.StatusReady, *p.Status, "a heartbeat readies the pool")

		ws, err := s.FilterWorkers(ctx, "workers", schema.WorkerQuery{})
		require.NoError(t, err)
		require.Len(t, ws, 2)
		require.Equal(t, "w2", ws[0].Name, "latest heartbeat first")
		require.Equal(t, 15, *ws[1].HeartbeatIntervalSeconds, "a heartbeat without an interval keeps the last one")
		require.Equal(t, schema.WorkerOnline, ws[0].Status)
		require.True(t, ws[0].Online(time.Now()))
		require.False(t, ws[0].Online(time.Now().Add(91*time.Second)))

		ws, err = s.FilterWorkers(ctx, "workers", schema.WorkerQuery{Workers: &schema.WorkerFilter{Status: &schema.WorkerStatusFilter{Any: []string{schema.WorkerOffline}}}})
		require.NoError(t, err)
		require.Empty(t, ws)

		require.NoError(t, s.WorkerHeartbeat(ctx, "paused", "w", nil))
		p, err = s.ReadWorkPoolByName(ctx, "paused")
		require.NoError(t, err)
		require.Equal(t, schema.StatusPaused, *p.Status, "a paused pool stays paused")
		require.NoError(t, s.UpdateWorkPool(ctx, "paused", schema.WorkPoolUpdate{IsPaused: schema.Some(false)}))
		p, err = s.ReadWorkPoolByName(ctx, "paused")
		require.NoError(t, err)
		require.Equal(t, schema.StatusReady, *p.Status, "unpaused with an online worker")

		requireNotFoundDetail(t, s.WorkerHeartbeat(ctx, "missing", "w", nil), `Work pool "missing" not found.`)
		require.NoError(t, s.DeleteWorker(ctx, "workers", "w1"))
		requireNotFoundDetail(t, s.DeleteWorker(ctx, "workers", "w1"), "Worker not found.")
	})
}

func runIDs(runs []schema.WorkerFlowRun) []uuid.UUID {
	out := []uuid.UUID{}
	for _, r := range runs {
		out = append(out, r.FlowRun.ID)
	}
	return out
}

func TestGetScheduledFlowRuns(t *testing.T) {
	t.Parallel()
	ForEach(t, func(t *testing.T, open Opener) {
		s := open(t)
		ctx := context.Background()
		p := WorkPool(t, s, "poll")
		high := newQueue(t, s, "poll", "high", ptr(1))
		low, err := s.ReadWorkQueue(ctx, *p.DefaultQueueID) // priority 2 now
		require.NoError(t, err)
		require.Equal(t, 2, low.Priority)
		f := Flow(t, s, "polled")
		now := time.Now().UTC()

		l1 := scheduledRun(t, s, f.ID, &low, now.Add(-2*time.Minute))
		h2 := scheduledRun(t, s, f.ID, &high, now.Add(-time.Minute))
		h1 := scheduledRun(t, s, f.ID, &high, now.Add(-3*time.Minute))
		later := scheduledRun(t, s, f.ID, &high, now.Add(time.Hour))
		retrying := scheduledRun(t, s, f.ID, &high, now.Add(-time.Minute), func(r *schema.FlowRun) { r.EmpiricalPolicy.RetryType = ptr("in_process") })
		_ = retrying
		other := Flow(t, s, "elsewhere")
		scheduledRun(t, s, other.ID, nil, now.Add(-time.Minute)) // in no queue

		before := now.Add(10 * time.Second)
		q := schema.ScheduledRunsQuery{WorkPoolID: p.ID, ScheduledBefore: &before, Limit: 10}
		got, err := s.GetScheduledFlowRuns(ctx, q)
		require.NoError(t, err)
		require.Equal(t, []uuid.UUID{h1.ID, h2.ID, l1.ID}, runIDs(got), "by queue priority, then scheduled time; in-process retries left out")
		require.Equal(t, high.ID, got[0].WorkQueueID)
		require.Equal(t, p.ID, got[0].WorkPoolID)
		require.Equal(t, "SCHEDULED", string(got[0].FlowRun.State.Type))

		q.Limit = 2
		got, err = s.GetScheduledFlowRuns(ctx, q)
		require.NoError(t, err)
		require.Equal(t, []uuid.UUID{h1.ID, h2.ID}, runIDs(got))
		q.Limit = 10

		after := now.Add(30 * time.Minute)
		got, err = s.GetScheduledFlowRuns(ctx, schema.ScheduledRunsQuery{WorkPoolID: p.ID, ScheduledAfter: &after, Limit: 10})
		require.NoError(t, err)
		require.Equal(t, []uuid.UUID{later.ID}, runIDs(got))

		got, err = s.GetScheduledFlowRuns(ctx, schema.ScheduledRunsQuery{WorkPoolID: p.ID, WorkQueueIDs: []uuid.UUID{low.ID}, ScheduledBefore: &before, Limit: 10})
		require.NoError(t, err)
		require.Equal(t, []uuid.UUID{l1.ID}, runIDs(got))

		// A queue limit counts the queue's PENDING, RUNNING and CANCELLING runs.
		require.NoError(t, s.UpdateWorkQueue(ctx, high.ID, schema.WorkQueueUpdate{ConcurrencyLimit: schema.Some(2)}))
		busy := scheduledRun(t, s, f.ID, &high, now.Add(-time.Hour))
		setRunState(t, s, busy.ID, schema.StatePending)
		got, err = s.GetScheduledFlowRuns(ctx, q)
		require.NoError(t, err)
		require.Equal(t, []uuid.UUID{h1.ID, l1.ID}, runIDs(got))
		setRunState(t, s, busy.ID, schema.StateRunning)
		setRunState(t, s, busy.ID, schema.StateCancelling)
		got, err = s.GetScheduledFlowRuns(ctx, q)
		require.NoError(t, err)
		require.Equal(t, []uuid.UUID{h1.ID, l1.ID}, runIDs(got), "a cancelling run still holds its slot")

		// A pool limit counts every queue's runs.
		require.NoError(t, s.UpdateWorkPool(ctx, "poll", schema.WorkPoolUpdate{ConcurrencyLimit: schema.Some(2)}))
		got, err = s.GetScheduledFlowRuns(ctx, q)
		require.NoError(t, err)
		require.Equal(t, []uuid.UUID{h1.ID}, runIDs(got))
		pool, err := s.ReadWorkPool(ctx, p.ID)
		require.NoError(t, err)
		require.Equal(t, 1, *pool.ActiveSlots)
		setRunState(t, s, busy.ID, schema.StateCancelled)
		require.NoError(t, s.UpdateWorkPool(ctx, "poll", schema.WorkPoolUpdate{ConcurrencyLimit: schema.Optional[int]{Set: true}}))
		require.NoError(t, s.UpdateWorkQueue(ctx, high.ID, schema.WorkQueueUpdate{ConcurrencyLimit: schema.Optional[int]{Set: true}}))

		// Paused queues and pools give nothing.
		require.NoError(t, s.UpdateWorkQueue(ctx, high.ID, schema.WorkQueueUpdate{IsPaused: ptr(true)}))
		got, err = s.GetScheduledFlowRuns(ctx, q)
		require.NoError(t, err)
		require.Equal(t, []uuid.UUID{l1.ID}, runIDs(got))
		require.NoError(t, s.UpdateWorkPool(ctx, "poll", schema.WorkPoolUpdate{IsPaused: schema.Some(true)}))
		got, err = s.GetScheduledFlowRuns(ctx, q)
		require.NoError(t, err)
		require.Empty(t, got)
	})
}

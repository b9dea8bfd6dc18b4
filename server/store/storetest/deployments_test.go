package storetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/store"
)

// decodeDeployment builds a DeploymentCreate as the API decodes it, so only
// the keys in body count as sent.
func decodeDeployment(t *testing.T, body string) schema.DeploymentCreate {
	t.Helper()
	var d schema.DeploymentCreate
	require.NoError(t, json.Unmarshal([]byte(body), &d))
	require.NoError(t, d.Validate())
	return d
}

func decodeDeploymentUpdate(t *testing.T, body string) schema.DeploymentUpdate {
	t.Helper()
	var u schema.DeploymentUpdate
	require.NoError(t, json.Unmarshal([]byte(body), &u))
	require.NoError(t, u.Validate())
	return u
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// autoRun is a run the scheduler would insert for a schedule.
func autoRun(t *testing.T, s store.Store, d schema.Deployment, scheduleID uuid.UUID, at time.Time) schema.FlowRun {
	t.Helper()
	return scheduledRun(t, s, d.FlowID, nil, at, func(r *schema.FlowRun) {
		r.DeploymentID = &d.ID
		r.AutoScheduled = true
		r.IdempotencyKey = ptr("scheduled " + d.ID.String() + " " + scheduleID.String() + " " + at.Format(time.RFC3339))
		r.CreatedBy = &schema.CreatedBy{ID: &scheduleID, Type: ptr("SCHEDULE")}
	})
}

func exists(t *testing.T, s store.Store, id uuid.UUID) bool {
	t.Helper()
	_, err := s.ReadFlowRun(context.Background(), id)
	if err != nil {
		require.ErrorIs(t, err, schema.ErrNotFound)
		return false
	}
	return true
}

func TestDeploymentUpsert(t *testing.T) {
	t.Parallel()
	ForEach(t, func(t *testing.T, open Opener) {
		s := open(t)
		ctx := context.Background()
		f := Flow(t, s, "etl")
		WorkPool(t, s, "k8s")

		body := map[string]any{
			"name": "nightly", "flow_id": f.ID, "work_pool_name": "k8s", "work_queue_name": "critical",
			"tags": []string{"a"}, "parameters": map[string]any{"x": 1}, "job_variables": map[string]any{"image": "v1"},
			"description": "first", "entrypoint": "flows.py:etl", "concurrency_limit": 3,
			"concurrency_options": map[string]any{"collision_strategy": "CANCEL_NEW"},
			"schedules": []any{
				map[string]any{"schedule": map[string]any{"interval": 3600, "anchor_date": "2024-01-01T00:00:00Z", "timezone": "Europe/Paris"}},
				map[string]any{"schedule": map[string]any{"cron": "0 9 * * *"}, "active": false, "slug": "morning"},
			},
		}
		d, created, err := s.UpsertDeployment(ctx, decodeDeployment(t, jsonOf(t, body)))
		require.NoError(t, err)
		require.True(t, created)
		require.Equal(t, "nightly", d.Name)
		require.Equal(t, "k8s", *d.WorkPoolName)
		require.Equal(t, "critical", *d.WorkQueueName, "a missing queue of the pool is created")
		require.NotNil(t, d.WorkQueueID)
		require.Equal(t, schema.DeploymentNotReady, d.Status)
		require.True(t, d.EnforceParameterSchema, "Prefect's default")
		require.JSONEq(t, `{"type":"object","properties":{}}`, string(d.ParameterOpenAPISchema))
		require.Equal(t, 3, *d.ConcurrencyLimit)
		require.Equal(t, "CANCEL_NEW", d.ConcurrencyOptions.CollisionStrategy)
		require.Len(t, d.Schedules, 2)
		interval, cron := d.Schedules[0], d.Schedules[1]
		require.Equal(t, schema.ScheduleInterval, interval.Schedule.Kind())
		require.Equal(t, time.Hour, interval.Schedule.Interval)
		require.JSONEq(t, `{"interval":3600,"anchor_date":"2024-01-01T00:00:00Z","timezone":"Europe/Paris"}`, jsonOf(t, interval.Schedule))
		require.True(t, interval.Active)
		require.JSONEq(t, `{"cron":"0 9 * * *","timezone":null,"day_or":true}`, jsonOf(t, cron.Schedule))
		require.False(t, cron.Active)
		require.Equal(t, "morning", *cron.Slug)

		q, err := s.ReadWorkQueueByName(ctx, "k8s", "critical")
		require.NoError(t, err)
		require.Equal(t, q.ID, *d.WorkQueueID)

		// Runs: a future auto-scheduled one goes on upsert; past, manual and
		// running ones stay.
		future := autoRun(t, s, d, interval.ID, time.Now().Add(time.Hour))
		past := autoRun(t, s, d, interval.ID, time.Now().Add(-time.Hour))
		manual := scheduledRun(t, s, f.ID, nil, time.Now().Add(time.Hour), func(r *schema.FlowRun) { r.DeploymentID = &d.ID })
		running := autoRun(t, s, d, interval.ID, time.Now().Add(2*time.Hour))
		setRunState(t, s, running.ID, schema.StatePending)

		again, created, err := s.UpsertDeployment(ctx, decodeDeployment(t, jsonOf(t, map[string]any{
			"name": "nightly", "flow_id": f.ID, "description": "second",
			"schedules": []any{map[string]any{"schedule": map[string]any{"rrule": "FREQ=DAILY"}}},
		})))
		require.NoError(t, err)
		require.False(t, created)
		require.Equal(t, d.ID, again.ID)
		require.Equal(t, "second", *again.Description)
		require.Equal(t, "flows.py:etl", *again.Entrypoint, "fields not sent are kept")
		require.Equal(t, []string{"a"}, again.Tags)
		require.JSONEq(t, `{"image":"v1"}`, string(again.JobVariables))
		require.Equal(t, "critical", *again.WorkQueueName)
		require.Len(t, again.Schedules, 1, "schedules are replaced")
		require.JSONEq(t, `{"rrule":"FREQ=DAILY","timezone":"UTC"}`, jsonOf(t, again.Schedules[0].Schedule))
		require.False(t, exists(t, s, future.ID))
		require.True(t, exists(t, s, past.ID))
		require.True(t, exists(t, s, manual.ID))
		require.True(t, exists(t, s, running.ID))

		// A missing pool is named.
		_, _, err = s.UpsertDeployment(ctx, decodeDeployment(t, jsonOf(t, map[string]any{"name": "other", "flow_id": f.ID, "work_pool_name": "nope"})))
		requireNotFoundDetail(t, err, `Work pool "nope" not found.`)
		// A pool alone means its default queue.
		other, _, err := s.UpsertDeployment(ctx, decodeDeployment(t, jsonOf(t, map[string]any{"name": "other", "flow_id": f.ID, "work_pool_name": "k8s"})))
		require.NoError(t, err)
		require.Equal(t, "default", *other.WorkQueueName)
		// A queue alone lands in the default agent pool.
		legacy, _, err := s.UpsertDeployment(ctx, decodeDeployment(t, jsonOf(t, map[string]any{"name": "legacy", "flow_id": f.ID, "work_queue_name": "old"})))
		require.NoError(t, err)
		require.Equal(t, "old", *legacy.WorkQueueName)
		require.Equal(t, schema.DefaultAgentPoolName, *legacy.WorkPoolName)
		// No pool: a served deployment.
		served, _, err := s.UpsertDeployment(ctx, decodeDeployment(t, jsonOf(t, map[string]any{"name": "served", "flow_id": f.ID, "work_queue_name": nil})))
		require.NoError(t, err)
		require.Nil(t, served.WorkQueueID)
		require.Nil(t, served.WorkPoolName)

		byName, err := s.ReadDeploymentByName(ctx, "etl", "nightly")
		require.NoError(t, err)
		require.Equal(t, d.ID, byName.ID)
		_, err = s.ReadDeploymentByName(ctx, "etl", "missing")
		require.ErrorIs(t, err, schema.ErrNotFound)

		// Duplicate slugs conflict.
		_, _, err = s.UpsertDeployment(ctx, decodeDeployment(t, jsonOf(t, map[string]any{"name": "dup", "flow_id": f.ID, "schedules": []any{
			map[string]any{"schedule": map[string]any{"interval": 60}, "slug": "s"},
			map[string]any{"schedule": map[string]any{"interval": 60}, "slug": "s"},
		}})))
		var conflict *schema.ConflictError
		require.ErrorAs(t, err, &conflict)
		_, err = s.ReadDeploymentByName(ctx, "etl", "dup")
		require.ErrorIs(t, err, schema.ErrNotFound, "nothing of a failed upsert stays")
	})
}

func TestDeploymentUpdates(t *testing.T) {
	t.Parallel()
	ForEach(t, func(t *testing.T, open Opener) {
		s := open(t)
		ctx := context.Background()
		f := Flow(t, s, "updates")
		WorkPool(t, s, "pool")
		d := Deployment(t, s, map[string]any{"name": "dep", "flow_id": f.ID,
			"schedules": []any{
				map[string]any{"schedule": map[string]any{"interval": 60}, "slug": "one"},
				map[string]any{"schedule": map[string]any{"interval": 120}, "slug": "two"},
			}})
		one, two := d.Schedules[0], d.Schedules[1]
		require.Equal(t, "one", *one.Slug)

		// Schedule routes: changing one schedule drops only its future runs.
		r1 := autoRun(t, s, d, one.ID, time.Now().Add(time.Hour))
		r2 := autoRun(t, s, d, two.ID, time.Now().Add(time.Hour))
		r1past := autoRun(t, s, d, one.ID, time.Now().Add(-time.Hour))
		require.NoError(t, s.UpdateDeploymentSchedule(ctx, d.ID, one.ID, schema.DeploymentScheduleUpdate{Active: ptr(false)}))
		require.False(t, exists(t, s, r1.ID))
		require.True(t, exists(t, s, r2.ID))
		require.True(t, exists(t, s, r1past.ID))
		scheds, err := s.ReadDeploymentSchedules(ctx, d.ID)
		require.NoError(t, err)
		require.Len(t, scheds, 2)
		require.Equal(t, one.ID, scheds[0].ID, "most recently updated first")
		require.False(t, scheds[0].Active)
		requireNotFoundDetail(t, s.UpdateDeploymentSchedule(ctx, d.ID, uuid.New(), schema.DeploymentScheduleUpdate{}), "Schedule not found.")
		requireNotFoundDetail(t, s.DeleteDeploymentSchedule(ctx, uuid.New(), one.ID), "Deployment not found.")

		require.NoError(t, s.DeleteDeploymentSchedule(ctx, d.ID, two.ID))
		require.False(t, exists(t, s, r2.ID))
		created, err := s.CreateDeploymentSchedules(ctx, d.ID, []schema.DeploymentScheduleCreate{{Schedule: mustSchedule(t, `{"cron":"*/5 * * * *","timezone":"UTC"}`), Slug: ptr("three")}})
		require.NoError(t, err)
		require.Len(t, created, 1)
		_, err = s.CreateDeploymentSchedules(ctx, d.ID, []schema.DeploymentScheduleCreate{{Schedule: mustSchedule(t, `{"interval":5}`), Slug: ptr("three")}})
		var conflict *schema.ConflictError
		require.ErrorAs(t, err, &conflict)
		require.Equal(t, "Schedule slugs must be unique within a deployment.", conflict.Msg)

		// PATCH with slugs everywhere updates by slug (and renames).
		require.NoError(t, s.UpdateDeployment(ctx, d.ID, decodeDeploymentUpdate(t, `{"schedules":[
			{"slug":"three","schedule":{"interval":30}},
			{"slug":"uno","replaces":"one","active":true},
			{"slug":"four","schedule":{"interval":40}}]}`)))
		got, err := s.ReadDeployment(ctx, d.ID)
		require.NoError(t, err)
		bySlug := map[string]schema.DeploymentSchedule{}
		for _, sc := range got.Schedules {
			bySlug[*sc.Slug] = sc
		}
		require.Len(t, bySlug, 3)
		require.Equal(t, created[0].ID, bySlug["three"].ID)
		require.Equal(t, 30*time.Second, bySlug["three"].Schedule.Interval)
		require.Equal(t, one.ID, bySlug["uno"].ID)
		require.True(t, bySlug["uno"].Active)
		require.Equal(t, 40*time.Second, bySlug["four"].Schedule.Interval)

		// Without slugs they are replaced.
		require.NoError(t, s.UpdateDeployment(ctx, d.ID, decodeDeploymentUpdate(t, `{"schedules":[{"schedule":{"interval":10}}], "paused": true,
			"work_pool_name": "pool", "parameters": {"y": 2}}`)))
		got, err = s.ReadDeployment(ctx, d.ID)
		require.NoError(t, err)
		require.Len(t, got.Schedules, 1)
		require.True(t, got.Paused)
		require.Equal(t, "pool", *got.WorkPoolName)
		require.Equal(t, "default", *got.WorkQueueName)
		require.JSONEq(t, `{"y":2}`, string(got.Parameters))

		// An explicit null pool takes it off pools; fields not sent stay.
		require.NoError(t, s.UpdateDeployment(ctx, d.ID, decodeDeploymentUpdate(t, `{"work_pool_name": null}`)))
		got, err = s.ReadDeployment(ctx, d.ID)
		require.NoError(t, err)
		require.Nil(t, got.WorkQueueID)
		require.True(t, got.Paused)
		require.Len(t, got.Schedules, 1)
		require.ErrorIs(t, s.UpdateDeployment(ctx, uuid.New(), schema.DeploymentUpdate{}), schema.ErrNotFound)

		// Pausing deletes the auto-scheduled runs; deleting deletes every
		// scheduled run that never ran.
		require.NoError(t, s.SetDeploymentPaused(ctx, d.ID, false))
		auto := autoRun(t, s, got, got.Schedules[0].ID, time.Now().Add(-time.Minute))
		manual := scheduledRun(t, s, f.ID, nil, time.Now().Add(time.Hour), func(r *schema.FlowRun) { r.DeploymentID = &d.ID })
		done := scheduledRun(t, s, f.ID, nil, time.Now(), func(r *schema.FlowRun) { r.DeploymentID = &d.ID })
		setRunState(t, s, done.ID, schema.StateCompleted)
		require.NoError(t, s.SetDeploymentPaused(ctx, d.ID, true))
		require.False(t, exists(t, s, auto.ID))
		require.True(t, exists(t, s, manual.ID))
		require.NoError(t, s.DeleteDeployment(ctx, d.ID))
		require.False(t, exists(t, s, manual.ID))
		require.True(t, exists(t, s, done.ID))
		_, err = s.ReadDeployment(ctx, d.ID)
		require.ErrorIs(t, err, schema.ErrNotFound)
		require.ErrorIs(t, s.DeleteDeployment(ctx, d.ID), schema.ErrNotFound)
		require.ErrorIs(t, s.SetDeploymentPaused(ctx, d.ID, true), schema.ErrNotFound)
	})
}

func mustSchedule(t *testing.T, raw string) schema.Schedule {
	t.Helper()
	var sc schema.Schedule
	require.NoError(t, json.Unmarshal([]byte(raw), &sc))
	require.NoError(t, sc.Normalize("schedule", time.Now()))
	return sc
}

func TestDeploymentFilters(t *testing.T) {
	t.Parallel()
	ForEach(t, func(t *testing.T, open Opener) {
		s := open(t)
		ctx := context.Background()
		etl := Flow(t, s, "etl-flow")
		ml := Flow(t, s, "ml-flow")
		WorkPool(t, s, "gpu")
		a := Deployment(t, s, map[string]any{"name": "alpha", "flow_id": etl.ID, "tags": []string{"x"}})
		b := Deployment(t, s, map[string]any{"name": "beta", "flow_id": ml.ID, "work_pool_name": "gpu", "paused": true})

		names := func(q schema.DeploymentQuery) []string {
			ds, err := s.FilterDeployments(ctx, q)
			require.NoError(t, err)
			out := []string{}
			for _, d := range ds {
				out = append(out, d.Name)
			}
			if q.Limit == nil {
				n, err := s.CountDeployments(ctx, q)
				require.NoError(t, err)
				require.Equal(t, len(out), n)
			}
			return out
		}
		require.Equal(t, []string{"alpha", "beta"}, names(schema.DeploymentQuery{}))
		require.Equal(t, []string{"beta", "alpha"}, names(schema.DeploymentQuery{Sort: "NAME_DESC"}))
		require.Equal(t, []string{"beta"}, names(schema.DeploymentQuery{Deployments: &schema.DeploymentFilter{FlowOrDeploymentName: &schema.LikeFilter{Like: ptr("ML")}}}))
		require.Equal(t, []string{"beta"}, names(schema.DeploymentQuery{Deployments: &schema.DeploymentFilter{Paused: &schema.BoolFilter{Eq: ptr(true)}}}))
		require.Equal(t, []string{"alpha"}, names(schema.DeploymentQuery{Deployments: &schema.DeploymentFilter{Tags: &schema.TagsFilter{All: []string{"x"}}}}))
		require.Equal(t, []string{"alpha"}, names(schema.DeploymentQuery{Flows: &schema.FlowFilter{Name: &schema.TextFilter{Any: []string{"etl-flow"}}}}))
		require.Equal(t, []string{"beta"}, names(schema.DeploymentQuery{WorkPools: &schema.WorkPoolFilter{Name: &schema.TextFilter{Any: []string{"gpu"}}}}))
		require.Equal(t, []string{"beta"}, names(schema.DeploymentQuery{WorkPoolQueues: &schema.WorkQueueFilter{Name: &schema.TextFilter{Any: []string{"default"}}}}))
		require.Equal(t, []string{"alpha"}, names(schema.DeploymentQuery{Page: schema.Page{Limit: ptr(1)}}))
		require.Equal(t, []string{"beta"}, names(schema.DeploymentQuery{Page: schema.Page{Limit: ptr(1), Offset: 1}})[:1])

		runA := scheduledRun(t, s, etl.ID, nil, time.Now(), func(r *schema.FlowRun) { r.DeploymentID = &a.ID })
		q, err := s.ReadWorkQueueByName(ctx, "gpu", "default")
		require.NoError(t, err)
		runB := scheduledRun(t, s, ml.ID, &q, time.Now(), func(r *schema.FlowRun) { r.DeploymentID = &b.ID })
		require.Equal(t, []string{"alpha"}, names(schema.DeploymentQuery{FlowRuns: &schema.FlowRunFilter{ID: &schema.IDFilter{Any: []uuid.UUID{runA.ID}}}}))

		// Flow runs by their deployment, pool and queue.
		runIDsOf := func(q schema.Query) []uuid.UUID {
			runs, err := s.FilterFlowRuns(ctx, q)
			require.NoError(t, err)
			out := []uuid.UUID{}
			for _, r := range runs {
				out = append(out, r.ID)
			}
			return out
		}
		require.Equal(t, []uuid.UUID{runA.ID}, runIDsOf(schema.Query{Deployments: &schema.DeploymentFilter{Name: &schema.TextFilter{Any: []string{"alpha"}}}}))
		require.Equal(t, []uuid.UUID{runB.ID}, runIDsOf(schema.Query{WorkPools: &schema.WorkPoolFilter{Name: &schema.TextFilter{Any: []string{"gpu"}}}}))
		require.Equal(t, []uuid.UUID{runB.ID}, runIDsOf(schema.Query{WorkPoolQueues: &schema.WorkQueueFilter{ID: &schema.IDFilter{Any: []uuid.UUID{q.ID}}}}))
		n, err := s.CountFlowRuns(ctx, schema.Query{Deployments: &schema.DeploymentFilter{ID: &schema.IDFilter{Any: []uuid.UUID{a.ID, b.ID}}}})
		require.NoError(t, err)
		require.Equal(t, 2, n)

		// A poll of the queue readies its deployments; a runner's poll the
		// deployments it names. Neither touches updated.
		require.NoError(t, s.MarkWorkQueuesPolled(ctx, []uuid.UUID{q.ID}))
		gotB, err := s.ReadDeployment(ctx, b.ID)
		require.NoError(t, err)
		require.Equal(t, schema.DeploymentReady, gotB.Status)
		require.NotNil(t, gotB.LastPolled)
		require.Equal(t, b.Updated, gotB.Updated)
		require.NoError(t, s.MarkDeploymentsReady(ctx, []uuid.UUID{a.ID}))
		gotA, err := s.ReadDeployment(ctx, a.ID)
		require.NoError(t, err)
		require.Equal(t, schema.DeploymentReady, gotA.Status)
		require.Equal(t, a.Updated, gotA.Updated)
	})
}

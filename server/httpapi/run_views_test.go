package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/store/storetest"
)

// TestPaginateRuns pages flows, flow runs and task runs under the same
// filters and sorts as their /filter routes.
func TestPaginateRuns(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		var runIDs []string
		for _, name := range []string{"pa", "pb", "pc"} {
			flowID := s.createFlow(t, name)
			r := s.do(t, http.MethodPost, "/flow_runs/", map[string]any{"flow_id": flowID, "name": "run-" + name, "tags": []string{"pg"}})
			requireStatus(t, http.StatusCreated, r)
			runIDs = append(runIDs, r.Object(t)["id"].(string))
		}
		for i, key := range []string{"t1", "t2", "t3"} {
			requireStatus(t, http.StatusCreated, s.do(t, http.MethodPost, "/task_runs/", map[string]any{
				"flow_run_id": runIDs[0], "task_key": key, "dynamic_key": "0", "name": "task-" + key, "tags": []string{[]string{"x", "y", "x"}[i]},
			}))
		}

		names := func(page map[string]any) []string {
			var out []string
			for _, r := range page["results"].([]any) {
				out = append(out, r.(map[string]any)["name"].(string))
			}
			return out
		}
		requirePage := func(r reply, count, limit, pages, page int, want ...string) {
			t.Helper()
			requireStatus(t, http.StatusOK, r)
			got := r.Object(t)
			require.Equal(t, []any{float64(count), float64(limit), float64(pages), float64(page)}, []any{got["count"], got["limit"], got["pages"], got["page"]})
			require.Equal(t, want, names(got))
		}

		// Flows sort by name by default; the second page of two holds the last.
		requirePage(s.do(t, http.MethodPost, "/flows/paginate", map[string]any{"page": 2, "limit": 2}), 3, 2, 2, 2, "pc")
		requirePage(s.do(t, http.MethodPost, "/flows/paginate", map[string]any{"sort": "NAME_DESC", "limit": 2}), 3, 2, 2, 1, "pc", "pb")
		// An offset is not a key of /paginate: it does not move the page.
		requirePage(s.do(t, http.MethodPost, "/flows/paginate", map[string]any{"offset": 2, "flows": map[string]any{"name": map[string]any{"any_": []string{"pa", "pb"}}}}),
			2, 200, 1, 1, "pa", "pb")
		requirePage(s.do(t, http.MethodPost, "/flow_runs/paginate", map[string]any{"sort": "NAME_ASC", "page": 1, "limit": 2,
			"flows": map[string]any{"name": map[string]any{"any_": []string{"pb", "pc"}}}}), 2, 2, 1, 1, "run-pb", "run-pc")
		requirePage(s.do(t, http.MethodPost, "/flow_runs/paginate", map[string]any{"page": 9}), 3, 200, 1, 9)
		requirePage(s.do(t, http.MethodPost, "/task_runs/paginate", map[string]any{"sort": "NAME_DESC", "limit": 1, "page": 2,
			"task_runs": map[string]any{"tags": map[string]any{"all_": []string{"x"}}}}), 2, 1, 2, 2, "task-t1")
		requirePage(s.do(t, http.MethodPost, "/task_runs/paginate", map[string]any{"limit": 0}), 3, 0, 0, 1)

		for _, path := range []string{"/flows/paginate", "/flow_runs/paginate", "/task_runs/paginate"} {
			requireValidationError(t, s.do(t, http.MethodPost, path, map[string]any{"page": 0}), "body", "page")
			requireValidationError(t, s.do(t, http.MethodPost, path, map[string]any{"page": "two"}), "body", "page")
			requireValidationError(t, s.do(t, http.MethodPost, path, map[string]any{"flows": map[string]any{"nope": 1}}), "body", "flows", "nope")
			requireDetail(t, http.StatusUnprocessableEntity, "Invalid limit: must be less than or equal to 200.",
				s.do(t, http.MethodPost, path, map[string]any{"limit": 201}))
		}
	})
}

// TestUIRunViews covers the UI's views of runs: the scatter, lateness, task
// run counts (by flow run, by state, by dashboard bucket) and the task run
// with its flow run's name.
func TestUIRunViews(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		flowID := s.createFlow(t, "views")
		now := time.Now().UTC()
		scheduled := func(name string, at time.Time) string {
			r := s.do(t, http.MethodPost, "/flow_runs/", map[string]any{"flow_id": flowID, "name": name,
				"state": map[string]any{"type": "SCHEDULED", "state_details": map[string]any{"scheduled_time": at.Format(time.RFC3339Nano)}}})
			requireStatus(t, http.StatusCreated, r)
			return r.Object(t)["id"].(string)
		}
		late := scheduled("late", now.Add(-time.Hour))
		early := scheduled("early", now.Add(time.Hour))

		// Scatter: newest expected start first; the late run is an hour late.
		r := s.do(t, http.MethodPost, "/ui/flow_runs/history", map[string]any{})
		requireStatus(t, http.StatusOK, r)
		points := r.List(t)
		require.Len(t, points, 2)
		first, second := points[0].(map[string]any), points[1].(map[string]any)
		require.Equal(t, early, first["id"])
		require.Equal(t, "SCHEDULED", first["state_type"])
		require.InDelta(t, 0, first["lateness"], 0)
		require.Equal(t, late, second["id"])
		require.InDelta(t, 3600, second["lateness"], 30)
		require.InDelta(t, 0, second["duration"], 0)
		requireValidationError(t, s.do(t, http.MethodPost, "/ui/flow_runs/history", map[string]any{"limit": 1001}), "body", "limit")

		// Lateness: the average of an hour and nothing; null when none match.
		r = s.do(t, http.MethodPost, "/flow_runs/lateness", map[string]any{})
		requireStatus(t, http.StatusOK, r)
		require.InDelta(t, 1800, r.JSON(t), 15)
		r = s.do(t, http.MethodPost, "/flow_runs/lateness", map[string]any{"flows": map[string]any{"name": map[string]any{"any_": []string{"none"}}}})
		requireStatus(t, http.StatusOK, r)
		require.Nil(t, r.JSON(t))

		// Task runs of the late run: one completed, one failed, one pending,
		// and one that stands for a subflow.
		task := func(key string, states ...string) string {
			r := s.do(t, http.MethodPost, "/task_runs/", map[string]any{"flow_run_id": late, "task_key": key, "dynamic_key": "0", "name": "task-" + key})
			requireStatus(t, http.StatusCreated, r)
			id := r.Object(t)["id"].(string)
			for _, st := range states {
				requireStatus(t, http.StatusCreated, s.do(t, http.MethodPost, "/task_runs/"+id+"/set_state", map[string]any{"state": map[string]any{"type": st}, "force": true}))
			}
			return id
		}
		done := task("done", "RUNNING", "COMPLETED")
		task("bad", "RUNNING", "FAILED")
		task("waiting")
		parent := task("subflow")
		requireStatus(t, http.StatusCreated, s.do(t, http.MethodPost, "/flow_runs/", map[string]any{"flow_id": flowID, "parent_task_run_id": parent}))

		missing := uuid.NewString()
		r = s.do(t, http.MethodPost, "/ui/flow_runs/count-task-runs", map[string]any{"flow_run_ids": []string{late, missing, late, early}})
		requireStatus(t, http.StatusOK, r)
		require.JSONEq(t, `{"`+late+`": 3, "`+missing+`": 0, "`+early+`": 0}`, string(r.Body))
		require.Less(t, strings.Index(string(r.Body), late), strings.Index(string(r.Body), missing), "keys keep the order asked")
		requireValidationError(t, s.do(t, http.MethodPost, "/ui/flow_runs/count-task-runs", map[string]any{}), "body", "flow_run_ids")
		requireStatus(t, http.StatusUnprocessableEntity, s.do(t, http.MethodPost, "/ui/flow_runs/count-task-runs", map[string]any{"flow_run_ids": []string{"not-a-uuid"}}))
		tooMany := make([]string, 201)
		for i := range tooMany {
			tooMany[i] = missing
		}
		requireValidationError(t, s.do(t, http.MethodPost, "/ui/flow_runs/count-task-runs", map[string]any{"flow_run_ids": tooMany}), "body", "flow_run_ids")

		r = s.do(t, http.MethodPost, "/ui/task_runs/count", map[string]any{"flow_runs": map[string]any{"id": map[string]any{"any_": []string{late}}}})
		requireStatus(t, http.StatusOK, r)
		require.JSONEq(t, `{"COMPLETED":1,"PENDING":2,"RUNNING":0,"FAILED":1,"CANCELLED":0,"CRASHED":0,"PAUSED":0,"CANCELLING":0,"SCHEDULED":0}`, string(r.Body))

		// Dashboard: 20 buckets; only the finished runs count, whatever the
		// state filter says.
		window := map[string]any{"start_time": map[string]any{"after_": now.Add(-10 * time.Minute).Format(time.RFC3339Nano)},
			"state": map[string]any{"type": map[string]any{"any_": []string{"PENDING"}}}}
		r = s.do(t, http.MethodPost, "/ui/task_runs/dashboard/counts", map[string]any{"task_runs": window})
		requireStatus(t, http.StatusOK, r)
		buckets := r.List(t)
		require.Len(t, buckets, 20)
		var completed, failed float64
		for _, b := range buckets {
			completed += b.(map[string]any)["completed"].(float64)
			failed += b.(map[string]any)["failed"].(float64)
		}
		require.Equal(t, []float64{1, 1}, []float64{completed, failed})
		require.Equal(t, map[string]any{"completed": 0.0, "failed": 0.0}, buckets[0])
		requireValidationError(t, s.do(t, http.MethodPost, "/ui/task_runs/dashboard/counts", map[string]any{}), "body", "task_runs")
		requireDetail(t, http.StatusUnprocessableEntity, "task_runs.start_time.after_ is required",
			s.do(t, http.MethodPost, "/ui/task_runs/dashboard/counts", map[string]any{"task_runs": map[string]any{}}))

		r = s.do(t, http.MethodGet, "/ui/task_runs/"+done, nil)
		requireStatus(t, http.StatusOK, r)
		require.Equal(t, "late", r.Object(t)["flow_run_name"])
		require.Equal(t, "task-done", r.Object(t)["name"])
		requireDetail(t, http.StatusNotFound, "Task not found", s.do(t, http.MethodGet, "/ui/task_runs/"+missing, nil))
	})
}

// TestRunHistory: the flow- and task-run state charts count runs by the
// interval of their expected start time and by state, with empty intervals
// kept, estimates summed, filters applied and at most 500 intervals.
func TestRunHistory(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		flowID := s.createFlow(t, "hist")
		base := time.Now().UTC().Truncate(time.Hour).Add(-3 * time.Hour)
		run := func(name string, at time.Time, states ...string) string {
			r := s.do(t, http.MethodPost, "/flow_runs/", map[string]any{"flow_id": flowID, "name": name,
				"state": map[string]any{"type": "SCHEDULED", "state_details": map[string]any{"scheduled_time": at.Format(time.RFC3339Nano)}}})
			requireStatus(t, http.StatusCreated, r)
			id := r.Object(t)["id"].(string)
			for _, st := range states {
				requireStatus(t, http.StatusCreated, s.do(t, http.MethodPost, "/flow_runs/"+id+"/set_state", map[string]any{"state": map[string]any{"type": st}, "force": true}))
			}
			return id
		}
		waiting := run("waiting", base.Add(10*time.Minute))
		run("done", base.Add(70*time.Minute), "RUNNING", "COMPLETED")
		run("broken", base.Add(80*time.Minute), "RUNNING", "FAILED")
		run("edge", base.Add(2*time.Hour), "RUNNING") // the first instant of the third interval
		run("outside", base.Add(3*time.Hour))         // past the end

		history := func(path string, body map[string]any) []map[string]any {
			t.Helper()
			r := s.do(t, http.MethodPost, path, body)
			requireStatus(t, http.StatusOK, r)
			var out []map[string]any
			for _, v := range r.List(t) {
				out = append(out, v.(map[string]any))
			}
			return out
		}
		states := func(interval map[string]any) map[string]map[string]any {
			out := map[string]map[string]any{}
			for _, v := range interval["states"].([]any) {
				st := v.(map[string]any)
				out[st["state_name"].(string)] = st
			}
			return out
		}
		body := map[string]any{"history_start": base.Format(time.RFC3339), "history_end": base.Add(3 * time.Hour).Format(time.RFC3339),
			"history_interval_seconds": 3600}
		got := history("/flow_runs/history", body)
		require.Len(t, got, 3)
		require.Equal(t, base.Add(time.Hour).Format(time.RFC3339), mustTime(t, got[0]["interval_end"]).Format(time.RFC3339))
		first, second, third := states(got[0]), states(got[1]), states(got[2])
		require.Len(t, first, 1)
		require.Equal(t, "SCHEDULED", first["Scheduled"]["state_type"])
		require.EqualValues(t, 1, first["Scheduled"]["count_runs"])
		// Not started and past its time: late by now less 10 minutes.
		lateBy := time.Since(base.Add(10 * time.Minute)).Seconds()
		require.InDelta(t, lateBy, first["Scheduled"]["sum_estimated_lateness"], 60)
		require.Len(t, second, 2)
		require.EqualValues(t, 1, second["Completed"]["count_runs"])
		require.EqualValues(t, 1, second["Failed"]["count_runs"])
		require.Len(t, third, 1)
		require.Equal(t, "RUNNING", third["Running"]["state_type"])

		// Filters apply; an interval without runs is there with no states.
		body["flow_runs"] = map[string]any{"id": map[string]any{"any_": []string{waiting}}}
		got = history("/flow_runs/history", body)
		require.Len(t, got, 3)
		require.Len(t, got[1]["states"], 0)
		delete(body, "flow_runs")

		// A range that is not a whole number of intervals gets one more; at
		// most 500; an end before the start gets none.
		require.Len(t, history("/flow_runs/history", map[string]any{"history_start": base.Format(time.RFC3339),
			"history_end": base.Add(90 * time.Minute).Format(time.RFC3339), "history_interval_seconds": 3600}), 2)
		require.Len(t, history("/flow_runs/history", map[string]any{"history_start": base.Format(time.RFC3339),
			"history_end": base.Add(time.Hour).Format(time.RFC3339), "history_interval_seconds": 1}), 500)
		require.Len(t, history("/task_runs/history", map[string]any{"history_start": base.Format(time.RFC3339),
			"history_end": base.Add(-time.Hour).Format(time.RFC3339), "history_interval_seconds": 60}), 0)

		// Task runs, by their own expected start time.
		r := s.do(t, http.MethodPost, "/task_runs/", map[string]any{"flow_run_id": waiting, "task_key": "k", "dynamic_key": "0", "name": "t",
			"state": map[string]any{"type": "COMPLETED"}})
		requireStatus(t, http.StatusCreated, r)
		now := time.Now().UTC()
		got = history("/task_runs/history", map[string]any{"history_start": now.Add(-time.Hour).Format(time.RFC3339),
			"history_end": now.Add(time.Hour).Format(time.RFC3339), "history_interval_seconds": 7200,
			"flows": map[string]any{"name": map[string]any{"any_": []string{"hist"}}}})
		require.Len(t, got, 1)
		require.EqualValues(t, 1, states(got[0])["Completed"]["count_runs"])

		// Bad input: Prefect's 422s.
		requireValidationError(t, s.do(t, http.MethodPost, "/flow_runs/history", map[string]any{"history_end": base, "history_interval_seconds": 60}),
			"body", "history_start")
		r = s.do(t, http.MethodPost, "/task_runs/history", map[string]any{"history_start": base, "history_end": base, "history_interval_seconds": 0.5})
		requireStatus(t, http.StatusUnprocessableEntity, r)
		require.Equal(t, "History interval must not be less than 1 second.", r.Object(t)["detail"])
	})
}

func mustTime(t *testing.T, v any) time.Time {
	t.Helper()
	s, _ := v.(string)
	at, err := time.Parse(time.RFC3339Nano, s)
	require.NoError(t, err)
	return at.UTC()
}

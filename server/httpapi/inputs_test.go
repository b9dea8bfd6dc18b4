package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/store/storetest"
)

// Datetimes at the edges of what pydantic accepts (years 1 to 9999) must be
// stored and read back by every endpoint showing them; ones whose UTC
// instant falls outside are a 422 at the field, never a stored row that
// breaks later reads.
func TestDateTimeBounds(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		flowID := s.createFlow(t, "bounds")
		const maxTS = "9999-12-31T23:59:59.999999Z"

		// Before the fix a second state at the last microsecond was moved
		// to year 10000: a 201 with an empty body, then 500 on every read.
		r := s.do(t, http.MethodPost, "/flow_runs/", map[string]any{"flow_id": flowID,
			"state": map[string]any{"type": "SCHEDULED", "timestamp": maxTS}})
		requireStatus(t, http.StatusCreated, r)
		id := r.Object(t)["id"].(string)
		r = s.do(t, http.MethodPost, "/flow_runs/"+id+"/set_state", map[string]any{
			"state": map[string]any{"type": "PENDING", "timestamp": maxTS}})
		requireValidationError(t, r, "body", "state", "timestamp")
		r = s.do(t, http.MethodGet, "/flow_runs/"+id, nil)
		requireStatus(t, http.StatusOK, r)
		require.Equal(t, maxTS, stateOf(t, r.Object(t))["timestamp"])
		requireStatus(t, http.StatusOK, s.do(t, http.MethodGet, "/flow_run_states/?flow_run_id="+id, nil))
		r = s.do(t, http.MethodPost, "/flow_runs/filter", map[string]any{})
		requireStatus(t, http.StatusOK, r)
		require.Len(t, r.List(t), 1)

		// The first instant round-trips too, and pydantic's other spellings
		// (naive, with a space, a Unix timestamp) are read as Prefect reads them.
		for in, want := range map[string]string{
			"0001-01-01T00:00:00Z":       "0001-01-01T00:00:00Z",
			"0001-01-01T14:00:00+14:00":  "0001-01-01T00:00:00Z",
			"9999-12-31T09:59:59-14:00":  "9999-12-31T23:59:59Z",
			"2026-01-02 03:04:05.123456": "2026-01-02T03:04:05.123456Z",
			"1700000000":                 "2023-11-14T22:13:20Z",
		} {
			r := s.do(t, http.MethodPost, "/flow_runs/", map[string]any{"flow_id": flowID,
				"state": map[string]any{"type": "SCHEDULED", "timestamp": in}})
			requireStatus(t, http.StatusCreated, r)
			r = s.do(t, http.MethodGet, "/flow_runs/"+r.Object(t)["id"].(string), nil)
			requireStatus(t, http.StatusOK, r)
			require.Equal(t, want, stateOf(t, r.Object(t))["timestamp"], in)
			require.Equal(t, want, r.Object(t)["expected_start_time"], in)
		}

		for _, bad := range []string{
			"9999-12-31T23:00:00-14:00", // year 10000 in UTC
			"0001-01-01T00:00:00+14:00", // year 0 in UTC
			"0000-06-01T00:00:00Z",
			"10000-01-01T00:00:00Z",
		} {
			state := func(details map[string]any, ts any) map[string]any {
				st := map[string]any{"type": "SCHEDULED", "state_details": details}
				if ts != nil {
					st["timestamp"] = ts
				}
				return st
			}
			requireValidationError(t, s.do(t, http.MethodPost, "/flow_runs/", map[string]any{"flow_id": flowID,
				"state": state(map[string]any{}, bad)}), "body", "state", "timestamp")
			requireValidationError(t, s.do(t, http.MethodPost, "/flow_runs/", map[string]any{"flow_id": flowID,
				"state": state(map[string]any{"scheduled_time": bad}, nil)}), "body", "state", "state_details", "scheduled_time")
			requireValidationError(t, s.do(t, http.MethodPost, "/flow_runs/filter", map[string]any{
				"flow_runs": map[string]any{"expected_start_time": map[string]any{"before_": bad}}}),
				"body", "flow_runs", "expected_start_time", "before_")
			requireValidationError(t, s.do(t, http.MethodPost, "/logs/", []any{map[string]any{
				"name": "l", "level": 20, "message": "m", "timestamp": bad, "flow_run_id": id}}), "body", "0", "timestamp")
			requireValidationError(t, s.do(t, http.MethodPost, "/deployments/", map[string]any{
				"name": "d", "flow_id": flowID, "schedules": []any{map[string]any{"schedule": map[string]any{
					"interval": 60, "anchor_date": bad}}}}), "body", "schedules", "0", "schedule", "anchor_date")
			ev := newEvent("bounds")
			ev["occurred"] = bad
			r := s.do(t, http.MethodPost, "/events", []any{ev})
			requireValidationError(t, r, "body")
			require.Contains(t, string(r.Body), "occurred")
		}
		r = s.do(t, http.MethodPost, "/flow_runs/filter", map[string]any{})
		requireStatus(t, http.StatusOK, r)
		require.Len(t, r.List(t), 6, "a refused body stored nothing")
	})
}

// PATCH with {"description": null} clears a queue's description (the column
// is NOT NULL, where Prefect answers a 409) instead of failing with a 500.
func TestWorkQueueNullDescription(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		r := s.do(t, http.MethodPost, "/work_queues/", map[string]any{"name": "q", "description": "about q"})
		requireStatus(t, http.StatusCreated, r)
		id := r.Object(t)["id"].(string)
		requireStatus(t, http.StatusNoContent, s.do(t, http.MethodPatch, "/work_queues/"+id, map[string]any{"description": nil}))
		r = s.do(t, http.MethodGet, "/work_queues/"+id, nil)
		requireStatus(t, http.StatusOK, r)
		require.Equal(t, "", r.Object(t)["description"])
	})
}

// Labels nested past MaxLabelsDepth (1000 levels, what SQLite's JSON
// functions take) are a 422, on create and on PATCH .../labels, where they
// were a 500 on SQLite.
func TestFlowRunLabelsDepth(t *testing.T) {
	nested := func(depth int) string { // an object of depth levels
		return `{"a":` + strings.Repeat("[", depth-1) + strings.Repeat("]", depth-1) + `}`
	}
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		run := s.createFlowRun(t)
		id := run["id"].(string)
		requireStatus(t, http.StatusNoContent, s.do(t, http.MethodPatch, "/flow_runs/"+id+"/labels", nested(1000)))
		requireValidationError(t, s.do(t, http.MethodPatch, "/flow_runs/"+id+"/labels", nested(1001)), "body")
		requireValidationError(t, s.do(t, http.MethodPatch, "/flow_runs/"+id+"/labels", nested(5000)), "body")
		requireStatus(t, http.StatusNoContent, s.do(t, http.MethodPatch, "/flow_runs/"+id+"/labels", `{"b": 1}`))
		r := s.do(t, http.MethodGet, "/flow_runs/"+id, nil)
		requireStatus(t, http.StatusOK, r)
		require.Equal(t, float64(1), r.Object(t)["labels"].(map[string]any)["b"])

		// A run created with labels nested deeper would break the next merge.
		body := `{"flow_id":"` + run["flow_id"].(string) + `","labels":` + nested(1001) + `}`
		requireValidationError(t, s.do(t, http.MethodPost, "/flow_runs/", body), "body", "labels")
	})
}

// count-by/time checks that every span fits years 1..9999 (Prefect fails
// with a 500 past them; this server overflowed time.Duration and answered
// 200 with an empty body), and counts spans far from the 2024 pivot.
func TestCountByTimeSpanBounds(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		r := s.do(t, http.MethodPost, "/events/count-by/time", map[string]any{"filter": map[string]any{},
			"time_unit": "week", "time_interval": 1e6})
		requireStatus(t, http.StatusUnprocessableEntity, r)
		require.Contains(t, r.Object(t)["detail"], "outside the years 1 to 9999")
		r = s.do(t, http.MethodPost, "/events/count-by/time", map[string]any{"filter": map[string]any{},
			"time_unit": "week", "time_interval": 1e300})
		requireStatus(t, http.StatusUnprocessableEntity, r)

		// 500 spans of 10 ms, 2023 years before the pivot: the span index
		// times its length overflowed time.Duration.
		r = s.do(t, http.MethodPost, "/events/count-by/time", map[string]any{
			"filter":    map[string]any{"occurred": map[string]any{"since": "0001-01-01T00:00:00Z", "until": "0001-01-01T00:00:05Z"}},
			"time_unit": "second", "time_interval": 0.01})
		requireStatus(t, http.StatusOK, r)
		spans := r.List(t)
		require.Len(t, spans, 500)
		first, last := spans[0].(map[string]any), spans[499].(map[string]any)
		require.Equal(t, "0001-01-01T00:00:00Z", first["start_time"])
		require.Equal(t, "0001-01-01T00:00:00.009999Z", first["end_time"])
		require.Equal(t, "0001-01-01T00:00:04.999999Z", last["end_time"])

		// A range whose first span would start before year 1: 5-hour spans
		// from the pivot put a boundary at 0000-12-31T20:00:00Z.
		r = s.do(t, http.MethodPost, "/events/count-by/time", map[string]any{
			"filter":    map[string]any{"occurred": map[string]any{"since": "0001-01-01T00:00:00Z", "until": "0001-01-02T00:00:00Z"}},
			"time_unit": "hour", "time_interval": 5})
		requireStatus(t, http.StatusUnprocessableEntity, r)
	})
}

package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/store/storetest"
)

func TestFlowUpsert(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)

		first := s.do(t, http.MethodPost, "/flows/", map[string]any{"name": "upsert-me", "tags": []string{"a"}})
		requireStatus(t, http.StatusCreated, first)
		created := first.Object(t)
		require.Equal(t, "upsert-me", created["name"])
		require.Equal(t, []any{"a"}, created["tags"])

		second := s.do(t, http.MethodPost, "/flows/", map[string]any{"name": "upsert-me"})
		requireStatus(t, http.StatusOK, second)
		require.Equal(t, created["id"], second.Object(t)["id"])

		other := s.do(t, http.MethodPost, "/flows/", map[string]any{"name": "another"})
		requireStatus(t, http.StatusCreated, other)
		require.NotEqual(t, created["id"], other.Object(t)["id"])

		r := s.do(t, http.MethodGet, "/flows/"+created["id"].(string), nil)
		requireStatus(t, http.StatusOK, r)
		require.Equal(t, "upsert-me", r.Object(t)["name"])
	})
}

func TestFlowRunIdempotencyKey(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		flowID := s.createFlow(t, "idempotent")
		run := map[string]any{"flow_id": flowID, "idempotency_key": "key-1", "name": "first-name"}

		first := s.do(t, http.MethodPost, "/flow_runs/", run)
		requireStatus(t, http.StatusCreated, first)
		created := first.Object(t)
		require.Equal(t, "PENDING", stateOf(t, created)["type"])

		run["name"] = "second-name"
		second := s.do(t, http.MethodPost, "/flow_runs", run)
		requireStatus(t, http.StatusOK, second)
		again := second.Object(t)
		require.Equal(t, created["id"], again["id"])
		require.Equal(t, "first-name", again["name"], "the existing run is returned unchanged")

		// Another key, or no key, makes a new run.
		run["idempotency_key"] = "key-2"
		requireStatus(t, http.StatusCreated, s.do(t, http.MethodPost, "/flow_runs/", run))
		delete(run, "idempotency_key")
		requireStatus(t, http.StatusCreated, s.do(t, http.MethodPost, "/flow_runs/", run))
		requireStatus(t, http.StatusCreated, s.do(t, http.MethodPost, "/flow_runs/", run))

		r := s.do(t, http.MethodPost, "/flow_runs/count", nil)
		requireStatus(t, http.StatusOK, r)
		require.Equal(t, float64(4), r.JSON(t))
	})
}

func TestSetFlowRunState(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		run := s.createFlowRun(t)
		id := run["id"].(string)
		pending := stateOf(t, run)
		require.Equal(t, "PENDING", pending["type"])

		transition := uuid.NewString()
		proposal := map[string]any{"state": map[string]any{
			"type": "RUNNING", "state_details": map[string]any{"transition_id": transition},
		}}

		r := s.do(t, http.MethodPost, "/flow_runs/"+id+"/set_state", proposal)
		requireStatus(t, http.StatusCreated, r)
		res := r.Object(t)
		require.Equal(t, "ACCEPT", res["status"])
		require.Equal(t, "accept_details", res["details"].(map[string]any)["type"])
		running := stateOf(t, res)
		require.Equal(t, "RUNNING", running["type"])
		require.Equal(t, "Running", running["name"])

		// The same transition again: rejected, nothing written, the current
		// state returned.
		r = s.do(t, http.MethodPost, "/flow_runs/"+id+"/set_state/", proposal)
		requireStatus(t, http.StatusOK, r)
		res = r.Object(t)
		require.Equal(t, "REJECT", res["status"])
		require.Equal(t, "reject_details", res["details"].(map[string]any)["type"])
		require.Equal(t, running["id"], stateOf(t, res)["id"])

		r = s.do(t, http.MethodGet, "/flow_run_states?flow_run_id="+id, nil)
		requireStatus(t, http.StatusOK, r)
		require.Len(t, r.List(t), 2, "PENDING and RUNNING only")

		// An invalid state type: 422, and the run does not move.
		r = s.do(t, http.MethodPost, "/flow_runs/"+id+"/set_state", map[string]any{"state": map[string]any{"type": "SPRINTING"}})
		requireValidationError(t, r, "body", "state", "type")
		r = s.do(t, http.MethodPost, "/flow_runs/"+id+"/set_state", map[string]any{"state": map[string]any{}})
		requireValidationError(t, r, "body", "state", "type")
		r = s.do(t, http.MethodPost, "/flow_runs/"+id+"/set_state", map[string]any{"state": "RUNNING"})
		requireValidationError(t, r, "body", "state")

		r = s.do(t, http.MethodGet, "/flow_runs/"+id, nil)
		requireStatus(t, http.StatusOK, r)
		now := r.Object(t)
		require.Equal(t, running["id"], stateOf(t, now)["id"])
		require.Equal(t, "RUNNING", now["state_type"])
		r = s.do(t, http.MethodGet, "/flow_run_states?flow_run_id="+id, nil)
		requireStatus(t, http.StatusOK, r)
		require.Len(t, r.List(t), 2)

		// A new transition to a terminal state is written.
		r = s.do(t, http.MethodPost, "/flow_runs/"+id+"/set_state", map[string]any{"state": map[string]any{"type": "COMPLETED"}})
		requireStatus(t, http.StatusCreated, r)
		require.Equal(t, "ACCEPT", r.Object(t)["status"])
	})
}

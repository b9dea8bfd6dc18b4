package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/store/storetest"
)

// TestFlowRunInputs: a run's inputs by key (the value as text), filtered by
// prefix, the 409 of a taken key, the 404s and the key's alphabet; and a
// resume of a run that is not paused, an ABORT that changes nothing.
func TestFlowRunInputs(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		run := s.createFlowRun(t)["id"].(string)
		base := "/flow_runs/" + run + "/input"
		for _, key := range []string{"answer-1", "answer-2", "other"} {
			requireStatus(t, http.StatusCreated, s.do(t, http.MethodPost, base, map[string]any{"key": key, "value": `{"n": 1}`, "sender": "test"}))
		}
		requireDetail(t, http.StatusConflict, "A flow run input with this key already exists.",
			s.do(t, http.MethodPost, base, map[string]any{"key": "other", "value": "again"}))
		requireDetail(t, http.StatusNotFound, "Flow run not found",
			s.do(t, http.MethodPost, "/flow_runs/"+uuid.NewString()+"/input", map[string]any{"key": "k", "value": "v"}))
		requireValidationError(t, s.do(t, http.MethodPost, base, map[string]any{"key": "Not_OK", "value": "v"}), "body", "key")
		requireValidationError(t, s.do(t, http.MethodPost, base, map[string]any{"key": "k"}), "body", "value")

		r := s.do(t, http.MethodGet, base+"/answer-1", nil)
		requireStatus(t, http.StatusOK, r)
		require.Equal(t, `{"n": 1}`, string(r.Body))
		require.Contains(t, r.Header.Get("Content-Type"), "text/plain")

		r = s.do(t, http.MethodPost, base+"/filter", map[string]any{"prefix": "answer", "limit": 5, "exclude_keys": []string{"answer-1"}})
		requireStatus(t, http.StatusOK, r)
		got := r.List(t)
		require.Len(t, got, 1)
		require.Equal(t, "answer-2", got[0].(map[string]any)["key"])
		require.Equal(t, "test", got[0].(map[string]any)["sender"])
		r = s.do(t, http.MethodPost, base+"/filter", map[string]any{"prefix": "answer"})
		requireStatus(t, http.StatusOK, r)
		require.Len(t, r.List(t), 1, "the limit is 1 by default")
		requireValidationError(t, s.do(t, http.MethodPost, base+"/filter", map[string]any{}), "body", "prefix")

		requireStatus(t, http.StatusNoContent, s.do(t, http.MethodDelete, base+"/answer-1", nil))
		requireDetail(t, http.StatusNotFound, "Flow run input not found", s.do(t, http.MethodDelete, base+"/answer-1", nil))
		requireDetail(t, http.StatusNotFound, "Flow run input not found", s.do(t, http.MethodGet, base+"/answer-1", nil))

		// Not paused: the resume is an ABORT and the run keeps its state.
		r = s.do(t, http.MethodPost, "/flow_runs/"+run+"/resume", nil)
		requireStatus(t, http.StatusOK, r)
		require.Equal(t, "ABORT", r.Object(t)["status"])
		require.Equal(t, "Cannot resume a flow run that is not paused.", r.Object(t)["details"].(map[string]any)["reason"])
		requireDetail(t, http.StatusNotFound, "Flow run not found", s.do(t, http.MethodPost, "/flow_runs/"+uuid.NewString()+"/resume", nil))
	})
}

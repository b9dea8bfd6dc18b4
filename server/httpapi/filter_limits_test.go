package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/store/storetest"
)

// Filters past the backends' limits are answered (200) or refused with a
// 422 that names the limit, never a 500.
func TestFilterLimitsOverHTTP(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		run := s.createFlowRun(t)
		ids := make([]string, 70_000)
		for i := range ids {
			ids[i] = uuid.NewString()
		}
		ids = append(ids, run["id"].(string))

		r := s.do(t, http.MethodPost, "/flow_runs/filter", map[string]any{"flow_runs": map[string]any{"id": map[string]any{"any_": ids}}})
		requireStatus(t, http.StatusOK, r)
		require.Len(t, r.List(t), 1)
		r = s.do(t, http.MethodPost, "/flows/filter", map[string]any{"flows": map[string]any{"name": map[string]any{"startswith_": ids[:2_000]}}})
		requireStatus(t, http.StatusOK, r)
		r = s.do(t, http.MethodPost, "/flows/filter", map[string]any{"flows": map[string]any{"name": map[string]any{"like_": strings.Repeat("x", 60_000)}}})
		requireStatus(t, http.StatusOK, r)
		r = s.do(t, http.MethodPost, "/events/filter", map[string]any{"filter": map[string]any{"id": map[string]any{"id": ids}}})
		requireStatus(t, http.StatusOK, r)

		body := requireValidationError(t, s.do(t, http.MethodPost, "/flows/filter",
			map[string]any{"flows": map[string]any{"name": map[string]any{"like_": "%" + strings.Repeat("x", 60_000)}}}), "body", "like_")
		require.Contains(t, mustJSON(t, body["exception_detail"]), "limited to 49998 bytes")
		requireValidationError(t, s.do(t, http.MethodPost, "/flows/filter",
			map[string]any{"flows": map[string]any{"name": map[string]any{"any_": []string{"a\x00"}}}}), "body")
	})
}

package httpapi_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/schema"
	"prefectgo.dev/prefectgo/server/settings"
	"prefectgo.dev/prefectgo/server/store/storetest"
)

func TestRequestValidation(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)

		t.Run("malformed JSON", func(t *testing.T) {
			r := s.do(t, http.MethodPost, "/flows/", `{"name":`)
			body := requireValidationError(t, r)
			detail := body["exception_detail"].([]any)[0].(map[string]any)
			require.Equal(t, "json_invalid", detail["type"])
			require.Equal(t, "body", detail["loc"].([]any)[0])
			// The body is echoed back, as Prefect does.
			require.Equal(t, `{"name":`, body["request_body"])
		})

		t.Run("wrong type", func(t *testing.T) {
			r := s.do(t, http.MethodPost, "/flows/", `{"name": 5}`)
			body := requireValidationError(t, r, "body", "name")
			require.JSONEq(t, `{"name": 5}`, mustJSON(t, body["request_body"]))
		})

		t.Run("wrong type in a nested field", func(t *testing.T) {
			r := s.do(t, http.MethodPost, "/flows/filter", `{"flows": {"name": {"any_": "not-a-list"}}}`)
			requireValidationError(t, r, "body", "flows", "name", "any_")
		})

		t.Run("missing required field", func(t *testing.T) {
			requireValidationError(t, s.do(t, http.MethodPost, "/flows/", `{}`), "body", "name")
			// An absent body is not {}: FastAPI requires a model body.
			requireValidationError(t, s.do(t, http.MethodPost, "/flows/", nil), "body")
			requireValidationError(t, s.do(t, http.MethodPost, "/flow_runs/", `{}`), "body", "flow_id")
		})

		t.Run("a run's dictionaries must be objects", func(t *testing.T) {
			flowID := uuid.NewString()
			for _, field := range []string{"parameters", "job_variables"} {
				body := map[string]any{"flow_id": flowID, field: []int{1}}
				requireValidationError(t, s.do(t, http.MethodPost, "/flow_runs/", body), "body", field)
			}
		})

		t.Run("a JSON value that is not an object", func(t *testing.T) {
			requireValidationError(t, s.do(t, http.MethodPost, "/flows/", `[1, 2]`))
			requireValidationError(t, s.do(t, http.MethodPost, "/flows/", `"flow"`))
		})

		t.Run("nothing was stored", func(t *testing.T) {
			n, err := s.Store.CountFlows(t.Context(), schema.Query{})
			require.NoError(t, err)
			require.Zero(t, n)
		})
	})
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		missing := uuid.NewString()
		running := map[string]any{"state": map[string]any{"type": "RUNNING"}}

		requireDetail(t, http.StatusNotFound, "Flow run not found", s.do(t, http.MethodGet, "/flow_runs/"+missing, nil))
		requireDetail(t, http.StatusNotFound, "Task run not found", s.do(t, http.MethodGet, "/task_runs/"+missing, nil))
		requireDetail(t, http.StatusNotFound, "Flow not found", s.do(t, http.MethodGet, "/flows/"+missing, nil))
		requireDetail(t, http.StatusNotFound, "Flow not found", s.do(t, http.MethodGet, "/flows/name/no-such-flow", nil))
		requireDetail(t, http.StatusNotFound, "Flow run not found",
			s.do(t, http.MethodPost, "/flow_runs/"+missing+"/set_state", running))
		requireDetail(t, http.StatusNotFound, "Task run not found",
			s.do(t, http.MethodPost, "/task_runs/"+missing+"/set_state", running))
		requireDetail(t, http.StatusNotFound, "Flow run not found", s.do(t, http.MethodDelete, "/flow_runs/"+missing, nil))
		requireDetail(t, http.StatusNotFound, "Flow run not found",
			s.do(t, http.MethodPatch, "/flow_runs/"+missing, map[string]any{"name": "x"}))

		// A path that is no route at all.
		requireDetail(t, http.StatusNotFound, "Not Found", s.do(t, http.MethodGet, "/no-such-route", nil))

		// A path id that is not a UUID.
		for _, path := range []string{"/flow_runs/not-a-uuid", "/task_runs/not-a-uuid", "/flows/not-a-uuid"} {
			r := s.do(t, http.MethodGet, path, nil)
			body := requireValidationError(t, r, "path", "id")
			require.Equal(t, "uuid_parsing", body["exception_detail"].([]any)[0].(map[string]any)["type"])
		}
		requireValidationError(t, s.do(t, http.MethodPost, "/flow_runs/not-a-uuid/set_state", running), "path", "id")
	})
}

// chunked hides a reader's length, so the client sends it with chunked
// transfer encoding.
type chunked struct{ r io.Reader }

func (c chunked) Read(p []byte) (int, error) { return c.r.Read(p) }

func TestBodyTooLarge(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		var sawUnknownLength atomic.Bool
		s := newServerWrapped(t, open, func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.ContentLength == -1 && len(r.TransferEncoding) > 0 && r.TransferEncoding[0] == "chunked" {
					sawUnknownLength.Store(true)
				}
				h.ServeHTTP(w, r)
			})
		})
		limit := settings.Defaults().API.MaxBodySize
		// A valid flow padded past the limit with a field the server ignores:
		// if the limit were not enforced, the flow would be created.
		body := []byte(`{"name": "big-flow", "padding": "` + strings.Repeat("x", 17<<20) + `"}`)
		require.Greater(t, int64(len(body)), limit)

		check := func(t *testing.T, r reply) {
			t.Helper()
			requireStatus(t, http.StatusRequestEntityTooLarge, r)
			require.Equal(t, "application/json", r.Header.Get("Content-Type"))
			detail, _ := r.Object(t)["detail"].(string)
			require.Contains(t, detail, "larger than the limit")
			require.Contains(t, detail, "16777216")
		}

		t.Run("with Content-Length", func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL+"/flows/", bytes.NewReader(body))
			require.NoError(t, err)
			require.Equal(t, int64(len(body)), req.ContentLength)
			check(t, s.send(t, req))
		})

		t.Run("chunked, length unknown", func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL+"/flows/", chunked{bytes.NewReader(body)})
			require.NoError(t, err)
			req.ContentLength = -1
			check(t, s.send(t, req))
			require.True(t, sawUnknownLength.Load(), "the request did not arrive chunked")
		})

		t.Run("events", func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL+"/events", chunked{bytes.NewReader(body)})
			require.NoError(t, err)
			req.ContentLength = -1
			check(t, s.send(t, req))
		})

		t.Run("nothing stored", func(t *testing.T) {
			n, err := s.Store.CountFlows(t.Context(), schema.Query{})
			require.NoError(t, err)
			require.Zero(t, n)
			requireDetail(t, http.StatusNotFound, "Flow not found", s.do(t, http.MethodGet, "/flows/name/big-flow", nil))
		})

		t.Run("a body just under the limit is read", func(t *testing.T) {
			pad := int(limit) - len(`{"name": "almost-too-big", "labels": {"padding": ""}}`)
			ok := `{"name": "almost-too-big", "labels": {"padding": "` + strings.Repeat("x", pad) + `"}}`
			require.Equal(t, limit, int64(len(ok)))
			requireStatus(t, http.StatusCreated, s.do(t, http.MethodPost, "/flows/", ok))
		})
	})
}

func TestPagination(t *testing.T) {
	t.Parallel()
	paths := []string{"/flows/filter", "/flow_runs/filter", "/task_runs/filter", "/logs/filter"}
	forEachBackend(t, func(t *testing.T, open storetest.Opener) {
		s := newServer(t, open)
		for _, path := range paths {
			t.Run(path, func(t *testing.T) {
				requireDetail(t, http.StatusUnprocessableEntity, "Invalid limit: must be less than or equal to 200.",
					s.do(t, http.MethodPost, path, map[string]any{"limit": 201}))
				requireDetail(t, http.StatusUnprocessableEntity, "Invalid limit: must be greater than or equal to 0.",
					s.do(t, http.MethodPost, path, map[string]any{"limit": -1}))
				requireValidationError(t, s.do(t, http.MethodPost, path, map[string]any{"offset": -1}), "body", "offset")
				requireValidationError(t, s.do(t, http.MethodPost, path, map[string]any{"limit": "ten"}), "body", "limit")

				for _, body := range []any{map[string]any{"limit": 200}, map[string]any{"limit": 0}, map[string]any{}, nil} {
					r := s.do(t, http.MethodPost, path, body)
					requireStatus(t, http.StatusOK, r)
					require.Empty(t, r.List(t))
				}
			})
		}
	})
}

// TestPaginationDefault checks that an absent limit is
// PREFECT_SERVER_API_DEFAULT_LIMIT, which is also the maximum.
func TestPaginationDefault(t *testing.T) {
	t.Parallel()
	s := newServer(t, storetest.NewSQLite, func(s *settings.Settings) { s.API.DefaultLimit = 3 })
	for i := range 5 {
		s.createFlow(t, "flow-"+string(rune('a'+i)))
	}
	count := func(body any) int {
		r := s.do(t, http.MethodPost, "/flows/filter", body)
		requireStatus(t, http.StatusOK, r)
		return len(r.List(t))
	}
	require.Equal(t, 3, count(nil))
	require.Equal(t, 3, count(map[string]any{}))
	require.Equal(t, 3, count(map[string]any{"limit": nil}))
	require.Equal(t, 2, count(map[string]any{"limit": 2}))
	require.Equal(t, 2, count(map[string]any{"offset": 3}))
	require.Equal(t, 0, count(map[string]any{"limit": 0}))
	requireDetail(t, http.StatusUnprocessableEntity, "Invalid limit: must be less than or equal to 3.",
		s.do(t, http.MethodPost, "/flows/filter", map[string]any{"limit": 4}))

	r := s.do(t, http.MethodPost, "/flows/count", nil)
	requireStatus(t, http.StatusOK, r)
	require.Equal(t, float64(5), r.JSON(t))
}

func TestTrailingSlash(t *testing.T) {
	t.Parallel()
	s := newServer(t, storetest.NewSQLite)

	first := s.do(t, http.MethodPost, "/flows", map[string]any{"name": "slashes"})
	requireStatus(t, http.StatusCreated, first)
	second := s.do(t, http.MethodPost, "/flows/", map[string]any{"name": "slashes"})
	requireStatus(t, http.StatusOK, second)
	id := first.Object(t)["id"].(string)
	require.Equal(t, id, second.Object(t)["id"])

	requireStatus(t, http.StatusOK, s.do(t, http.MethodGet, "/flows/"+id, nil))
	requireStatus(t, http.StatusOK, s.do(t, http.MethodGet, "/flows/"+id+"/", nil))
	requireStatus(t, http.StatusOK, s.do(t, http.MethodPost, "/flows/filter", nil))
	requireStatus(t, http.StatusOK, s.do(t, http.MethodPost, "/flows/filter/", nil))
	requireStatus(t, http.StatusOK, s.do(t, http.MethodGet, "/health/", nil))
}

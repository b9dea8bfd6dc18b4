package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server"
	"prefectgo.dev/prefectgo/server/settings"
	"prefectgo.dev/prefectgo/server/store"
	"prefectgo.dev/prefectgo/server/store/storetest"
)

// waitTimeout bounds every wait for the asynchronous event pipeline. It is a
// deadline against hangs, not a speed requirement.
const waitTimeout = time.Minute

// testServer is the whole API over a real store and the real event
// pipeline, assembled by server.New as the serve command does, served by httptest.
type testServer struct {
	srv   *httptest.Server
	URL   string // the API's base URL, ending in the base path (/api)
	Store store.Store
}

// forEachBackend runs body once per store backend (SQLite, PostgreSQL), in
// parallel subtests. PostgreSQL is skipped unless PREFECTGO_TEST_POSTGRES_URL
// is set.
func forEachBackend(t *testing.T, body func(t *testing.T, open storetest.Opener)) {
	t.Helper()
	storetest.ForEach(t, body)
}

// quietSettings are the defaults without the services that change runs on
// a timer (scheduler, late runs, ...), which would race the assertions of
// API tests; a test that wants one turns it on.
func quietSettings() settings.Settings {
	s := settings.Defaults()
	s.Services.Scheduler.Enabled = false
	s.Services.LateRuns.Enabled = false
	s.Services.PauseExpirations.Enabled = false
	s.Services.CancellationCleanup.Enabled = false
	s.Services.Foreman.Enabled = false
	return s
}

// newServer opens a fresh store with open and serves the API over it with
// default settings, changed by opts.
func newServer(t *testing.T, open storetest.Opener, opts ...func(*settings.Settings)) *testServer {
	t.Helper()
	return newServerWrapped(t, open, nil, opts...)
}

// newServerWrapped is newServer with the API handler wrapped by wrap (nil
// for none), for tests that look at requests as the server receives them.
func newServerWrapped(t *testing.T, open storetest.Opener, wrap func(http.Handler) http.Handler, opts ...func(*settings.Settings)) *testServer {
	t.Helper()
	st := open(t)
	s := quietSettings()
	for _, o := range opts {
		o(&s)
	}
	// Cleanups run last-in first-out: the HTTP server closes first, then the
	// services write what is queued, then the store (registered by open) closes.
	app := server.New(s, st, slog.New(slog.DiscardHandler))
	require.NoError(t, app.Start(context.Background()))
	t.Cleanup(app.Stop)
	h := app.Handler
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &testServer{srv: srv, URL: srv.URL + strings.TrimSuffix(s.API.BasePath, "/"), Store: st}
}

// reply is an HTTP response with its body read.
type reply struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body as JSON.
func (r reply) JSON(t *testing.T) any {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal(r.Body, &v), "body: %s", r.Body)
	return v
}

// Object decodes the body as a JSON object.
func (r reply) Object(t *testing.T) map[string]any {
	t.Helper()
	m, ok := r.JSON(t).(map[string]any)
	require.True(t, ok, "body is not an object: %s", r.Body)
	return m
}

// List decodes the body as a JSON array.
func (r reply) List(t *testing.T) []any {
	t.Helper()
	l, ok := r.JSON(t).([]any)
	require.True(t, ok, "body is not a list: %s", r.Body)
	return l
}

// do sends a request to path under the API base. body is nil (no body), a
// string or []byte (sent as is) or anything else (sent as JSON). header is
// pairs of name and value.
func (s *testServer) do(t *testing.T, method, path string, body any, header ...string) reply {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		require.NoError(t, err)
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, s.URL+path, r)
	require.NoError(t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return s.send(t, req)
}

func (s *testServer) send(t *testing.T, req *http.Request) reply {
	t.Helper()
	res, err := s.srv.Client().Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return reply{Status: res.StatusCode, Header: res.Header, Body: data}
}

// requireStatus fails with the body when the status is not want.
func requireStatus(t *testing.T, want int, r reply) {
	t.Helper()
	require.Equal(t, want, r.Status, "body: %s", r.Body)
}

// requireValidationError checks Prefect's 422 body for a request that failed
// validation; when loc is given, the first error must be at that location.
func requireValidationError(t *testing.T, r reply, loc ...string) map[string]any {
	t.Helper()
	requireStatus(t, http.StatusUnprocessableEntity, r)
	require.Equal(t, "application/json", r.Header.Get("Content-Type"))
	body := r.Object(t)
	require.Equal(t, "Invalid request received.", body["exception_message"], "body: %s", r.Body)
	details, ok := body["exception_detail"].([]any)
	require.True(t, ok, "exception_detail is not a list: %s", r.Body)
	require.NotEmpty(t, details)
	first, ok := details[0].(map[string]any)
	require.True(t, ok, "exception_detail[0] is not an object: %s", r.Body)
	require.NotEmpty(t, first["msg"])
	require.NotEmpty(t, first["type"])
	if len(loc) > 0 {
		want := make([]any, len(loc))
		for i, l := range loc {
			want[i] = l
		}
		require.Equal(t, want, first["loc"], "body: %s", r.Body)
	}
	return body
}

// requireDetail checks a FastAPI HTTPException answer: status and {"detail": want}.
func requireDetail(t *testing.T, status int, want string, r reply) {
	t.Helper()
	requireStatus(t, status, r)
	require.Equal(t, "application/json", r.Header.Get("Content-Type"))
	require.JSONEq(t, mustJSON(t, map[string]string{"detail": want}), string(r.Body))
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	require.NoError(t, err)
	return string(data)
}

// createFlow creates (or reads) the flow named name and returns its id.
func (s *testServer) createFlow(t *testing.T, name string) string {
	t.Helper()
	r := s.do(t, http.MethodPost, "/flows/", map[string]any{"name": name})
	require.Contains(t, []int{http.StatusCreated, http.StatusOK}, r.Status, "body: %s", r.Body)
	id, _ := r.Object(t)["id"].(string)
	require.NotEmpty(t, id)
	return id
}

// createFlowRun creates a Pending run of a new flow and returns the run.
func (s *testServer) createFlowRun(t *testing.T) map[string]any {
	t.Helper()
	flowID := s.createFlow(t, "flow-"+uuid.NewString()[:8])
	r := s.do(t, http.MethodPost, "/flow_runs/", map[string]any{"flow_id": flowID})
	requireStatus(t, http.StatusCreated, r)
	return r.Object(t)
}

// stateOf returns the "state" object of a run or orchestration result.
func stateOf(t *testing.T, obj map[string]any) map[string]any {
	t.Helper()
	st, ok := obj["state"].(map[string]any)
	require.True(t, ok, "no state in %v", obj)
	return st
}

// newEvent is a valid client event named name, about a resource of its own.
func newEvent(name string) map[string]any {
	return map[string]any{
		"id":       uuid.NewString(),
		"occurred": time.Now().UTC().Format(time.RFC3339Nano),
		"event":    name,
		"resource": map[string]string{"prefect.resource.id": "test.resource." + uuid.NewString()},
		"related":  []any{},
		"payload":  map[string]any{},
	}
}

// storedEventIDs lists the ids of every stored event.
func (s *testServer) storedEventIDs(t *testing.T) []string {
	t.Helper()
	evs, err := s.Store.ReadEvents(t.Context(), store.EventFilter{}, 10_000)
	require.NoError(t, err)
	ids := make([]string, len(evs))
	for i, ev := range evs {
		ids[i] = ev.ID.String()
	}
	slices.Sort(ids)
	return ids
}

// waitForEvent polls the store until an event with id is stored.
func (s *testServer) waitForEvent(t *testing.T, id string) {
	t.Helper()
	eventually(t, "event "+id+" to be stored", func() bool {
		return slices.Contains(s.storedEventIDs(t), id)
	})
}

// eventually polls cond until it holds, failing after waitTimeout.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			require.FailNow(t, "timed out waiting for "+what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sendMarker posts a valid event and waits until it is stored. The persister
// writes in publish order, so once the marker is stored every event published
// before it is stored too: what is absent then was never published.
func (s *testServer) sendMarker(t *testing.T) string {
	t.Helper()
	marker := newEvent("test.marker")
	requireStatus(t, http.StatusNoContent, s.do(t, http.MethodPost, "/events", []any{marker}))
	id := marker["id"].(string)
	s.waitForEvent(t, id)
	return id
}

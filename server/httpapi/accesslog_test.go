package httpapi

import (
	"context"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/settings"
	"prefectgo.dev/prefectgo/server/store/storetest"
)

// records keeps the log records a handler receives.
type records struct {
	mu   sync.Mutex
	list []slog.Record
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *records) WithGroup(string) slog.Handler            { return r }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.list = append(r.list, rec)
	return nil
}

// accessLines renders the access log's records as "method route status".
func (r *records) accessLines(t *testing.T) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var lines []string
	for _, rec := range r.list {
		if rec.Message != "request" || rec.Level != slog.LevelDebug {
			continue
		}
		attrs := map[string]slog.Value{}
		rec.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value; return true })
		require.Positive(t, attrs["duration"].Duration(), "duration")
		lines = append(lines, attrs["method"].String()+" "+attrs["route"].String()+" "+attrs["status"].String())
	}
	return lines
}

// At DEBUG every request leaves one line with its route pattern (never the
// ids in its path) and status, whatever answered it: a route, auth or the
// 404 fallback.
func TestAccessLogAtDebug(t *testing.T) {
	t.Parallel()
	s := settings.Defaults()
	s.API.AuthString = authString
	logs := &records{}
	a := newAPI(Deps{Store: storetest.NewSQLite(t), Settings: s, Log: slog.New(logs)})
	srv := httptest.NewServer(a.middleware(a.routes()))

	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(authString))
	id := uuid.NewString()
	for _, req := range []struct{ method, path, auth string }{
		{"GET", "/api/health", ""},
		{"GET", "/api/flows/" + id, auth},
		{"POST", "/api/flows/", auth},
		{"GET", "/api/flows/" + id, "Basic bad"},
		{"GET", "/api/no/such/" + id, auth},
	} {
		r, err := http.NewRequest(req.method, srv.URL+req.path, strings.NewReader(`{"name":"f"}`))
		require.NoError(t, err)
		if req.auth != "" {
			r.Header.Set("Authorization", req.auth)
		}
		res, err := http.DefaultClient.Do(r)
		require.NoError(t, err)
		_ = res.Body.Close()
	}
	srv.Close() // waits for the handlers, and so for their lines

	require.Equal(t, []string{
		"GET /api/health 200",
		"GET /api/flows/{id} 404",
		"POST /api/flows 201",
		"GET /api/flows/{id} 401",
		"GET /api/no/such/" + id + " 404", // no route: the path
	}, logs.accessLines(t))
}

// Above DEBUG the access log is not there at all.
func TestNoAccessLogAboveDebug(t *testing.T) {
	t.Parallel()
	logs := &records{}
	a := newAPI(Deps{Store: storetest.NewSQLite(t), Settings: settings.Defaults(),
		Log: slog.New(levelAbove{logs})})
	srv := httptest.NewServer(a.middleware(a.routes()))
	res, err := http.Get(srv.URL + "/api/health")
	require.NoError(t, err)
	_ = res.Body.Close()
	srv.Close()
	require.Empty(t, logs.accessLines(t))
	require.Equal(t, http.StatusOK, res.StatusCode)
}

// levelAbove is a handler at INFO.
type levelAbove struct{ *records }

func (l levelAbove) Enabled(_ context.Context, lv slog.Level) bool { return lv >= slog.LevelInfo }

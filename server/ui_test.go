package server

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"prefectgo.dev/prefectgo/server/settings"
	"prefectgo.dev/prefectgo/server/store"
	"prefectgo.dev/prefectgo/server/store/backend"
)

// The UI and the API side by side in the assembled server: the UI's paths
// are open even with auth on, the API's are not and keep their trailing
// slash tolerance; with the UI disabled its paths are 404s, /ui-settings
// still answers (as Prefect's) and the API works as before.
func TestUIBesideTheAPI(t *testing.T) {
	t.Parallel()
	dir := os.Getenv("PREFECTGO_TEST_UI") // the directory hack/ui-assets.sh prints
	if dir == "" {
		t.Skip("PREFECTGO_TEST_UI is not set; `make test-go` sets it to the directory hack/ui-assets.sh prints")
	}
	_, err := os.Stat(filepath.Join(dir, "v2", "index.html"))
	require.NoError(t, err, "PREFECTGO_TEST_UI=%s holds no UI", dir)

	s := settings.Defaults()
	s.Database.ConnectionURL = "sqlite+aiosqlite:///" + filepath.Join(t.TempDir(), "prefect.db")
	s.Database.MigrateOnStart = true
	st := openStore(t, s)

	request := func(srv *httptest.Server, method, path, accept string) (int, string, string) {
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader("{}"))
		require.NoError(t, err)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := client.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, resp.Header.Get("Location"), string(body)
	}
	const page = "text/html"

	on := s
	on.UI.StaticDirectory = dir
	on.API.AuthString = "admin:secret"
	srv := httptest.NewServer(New(on, st, NewLogger(io.Discard, "ERROR")).Handler)
	t.Cleanup(srv.Close)
	for _, tt := range []struct {
		method, path, accept string
		status               int
		location             string
	}{
		{"GET", "/", page, http.StatusTemporaryRedirect, "/v2/"},
		{"GET", "/v2", "", http.StatusTemporaryRedirect, "/v2/"},
		{"GET", "/v2/", page, http.StatusOK, ""},
		{"GET", "/v2/runs/flow-run/0b1c", page, http.StatusOK, ""},
		{"GET", "/ui-settings", "", http.StatusOK, ""},
		{"GET", "/api/health", "", http.StatusOK, ""},
		{"GET", "/api/version", "", http.StatusUnauthorized, ""},
		{"POST", "/api/flows/filter/", "", http.StatusUnauthorized, ""},
		{"GET", "/api/", page, http.StatusUnauthorized, ""},
	} {
		status, location, _ := request(srv, tt.method, tt.path, tt.accept)
		require.Equal(t, tt.status, status, "%s %s", tt.method, tt.path)
		require.Equal(t, tt.location, location, "%s %s", tt.method, tt.path)
	}

	off := s
	off.UI.StaticDirectory = dir
	off.UI.Enabled = false
	srv = httptest.NewServer(New(off, st, NewLogger(io.Discard, "ERROR")).Handler)
	t.Cleanup(srv.Close)
	for _, path := range []string{"/", "/v2/", "/v2", "/runs/flow-run/0b1c", "/v2/assets/index.js"} {
		status, _, body := request(srv, "GET", path, page)
		require.Equal(t, http.StatusNotFound, status, path)
		require.JSONEq(t, `{"detail":"Not Found"}`, body, path)
	}
	status, _, body := request(srv, "GET", "/ui-settings", "")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, `"available_uis":[]`)
	status, _, body = request(srv, "POST", "/api/flows/filter/", "")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "[]\n", body)
}

func openStore(t *testing.T, s settings.Settings) store.Store {
	t.Helper()
	st, err := backend.Open(t.Context(), DatabaseConfig(s))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	return st
}
